"""Which SQL functions a guarded read-only query may call, per dialect.

An allow-list, never a block-list: a function not named here is rejected. Two parts:

- ``SAFE_FUNCTION_CLASSES``: sqlglot expression classes for functions sqlglot models itself
  (``exp.Count``, ``exp.TimeToStr``, ...). They are dialect-independent semantics, so one list
  serves every dialect; all of them are pure (no I/O, no sleeping, no state).
- ``SAFE_FUNCTION_NAMES[dialect]``: lower-case names of functions sqlglot does not model
  (parsed as ``exp.Anonymous``) that exist in that dialect and are pure.

``DANGEROUS_FUNCTIONS`` only sharpens the message for well-known attack functions; being
absent from the allow-lists is what rejects them. ``COST_LIMITED_FUNCTIONS`` are allowed only
within bounds (literal sizes, literal patterns, literal row-generator bounds) that the guard
checks; the database enforces the same class of limits again where the query runs.
"""

from __future__ import annotations

from collections.abc import Mapping

# fmt: off
SAFE_FUNCTION_CLASSES: frozenset[str] = frozenset(
    {
        # logic, conditionals, casts (sqlglot models these as functions)
        "And", "Or", "Xor", "Case", "If", "Coalesce", "Nullif", "Nvl2", "Greatest", "Least",
        "Cast", "TryCast", "CastToStrType", "Convert", "Collate", "Exists", "Decode", "DecodeCase",
        "EqualNull", "IsNan", "IsInf", "Typeof",
        # aggregates
        "Count", "CountIf", "Sum", "Avg", "Min", "Max", "GroupConcat", "ArrayAgg", "AnyValue",
        "Stddev", "StddevPop", "StddevSamp", "Variance", "VariancePop", "Corr", "CovarPop",
        "CovarSamp", "Median", "Mode", "PercentileCont", "PercentileDisc", "Quantile",
        "ApproxDistinct", "ApproxQuantile", "LogicalAnd", "LogicalOr", "BitwiseAndAgg",
        "BitwiseOrAgg", "BitwiseXorAgg", "ArgMax", "ArgMin", "First", "Last", "Kurtosis",
        "Skewness", "RegrAvgx", "RegrAvgy", "RegrCount", "RegrIntercept", "RegrR2", "RegrSlope",
        "RegrSxx", "RegrSxy", "RegrSyy", "Grouping", "GroupingId", "JSONArrayAgg",
        "JSONObjectAgg", "JSONBObjectAgg",
        # window functions
        "RowNumber", "Rank", "DenseRank", "PercentRank", "CumeDist", "Ntile", "Lag", "Lead",
        "FirstValue", "LastValue", "NthValue",
        # math
        "Abs", "Ceil", "Floor", "Round", "Trunc", "Sign", "Sqrt", "Cbrt", "Pow", "Exp", "Ln",
        "Log", "Pi", "Degrees", "Radians", "Sin", "Cos", "Tan", "Cot", "Asin", "Acos", "Atan",
        "Atan2", "Sinh", "Cosh", "Tanh", "Asinh", "Acosh", "Atanh", "Factorial", "Rand",
        "SafeDivide", "WidthBucket",
        # strings
        "Concat", "ConcatWs", "DPipe", "Length", "ByteLength", "BitLength", "Lower", "Upper",
        "Initcap", "Trim", "Left", "Right", "Substring", "SubstringIndex", "StrPosition",
        "Replace", "Translate", "Reverse", "Repeat", "Pad", "Space", "Ascii", "Chr", "Unicode",
        "Soundex", "Levenshtein", "Split", "SplitPart", "StringToArray", "ArrayToString",
        "StartsWith", "EndsWith", "Contains", "Format", "Hex", "Unhex", "LowerHex", "MD5",
        "MD5Digest", "SHA", "SHA2", "Overlay", "Stuff", "RegexpLike", "RegexpILike",
        "RegexpExtract", "RegexpReplace", "RegexpSplit", "RegexpCount", "RegexpInstr",
        "RegexpSubstr", "Elt", "NumberToStr", "ToNumber", "ToChar", "ToBase64", "FromBase64",
        # date and time
        "CurrentDate", "CurrentTime", "CurrentTimestamp", "CurrentDatetime", "Localtime",
        "Localtimestamp", "UtcDate", "UtcTime", "UtcTimestamp", "Systimestamp", "Date", "Time",
        "Datetime", "Timestamp", "DateAdd", "DateSub", "DateDiff", "DateTrunc", "DatetimeAdd",
        "DatetimeSub", "DatetimeDiff", "DatetimeTrunc", "TimeAdd", "TimeSub", "TimeDiff",
        "TimeTrunc", "TimestampAdd", "TimestampSub", "TimestampDiff", "TimestampTrunc",
        "AddMonths", "MonthsBetween", "LastDay", "NextDay", "PreviousDay", "Extract", "Year",
        "Quarter", "Month", "Week", "WeekOfYear", "Day", "DayOfMonth", "DayOfWeek",
        "DayOfWeekIso", "DayOfYear", "Dayname", "Monthname", "Hour", "Minute", "Second",
        "StrToDate", "StrToTime", "StrToUnix", "TimeToStr", "TimeToUnix", "TimeToTimeStr",
        "TimeStrToDate", "TimeStrToTime", "TimeStrToUnix", "UnixToStr", "UnixToTime",
        "UnixToTimeStr", "UnixSeconds", "DateStrToDate", "DateToDateStr", "DateFromParts",
        "TimeFromParts", "TimestampFromParts", "TsOrDsAdd", "TsOrDsDiff", "TsOrDsToDate",
        "TsOrDsToDateStr", "TsOrDsToDatetime", "TsOrDsToTime", "TsOrDsToTimestamp",
        "DiToDate", "DateToDi", "TsOrDiToDi", "MakeInterval", "JustifyDays", "JustifyHours",
        "JustifyInterval", "DateBin", "ConvertTimezone", "ParseTime", "ParseDatetime",
        # JSON read access
        "JSONExtract", "JSONExtractScalar", "JSONBExtract", "JSONBExtractScalar", "JSONArray",
        "JSONObject", "JSONFormat", "JSONType", "ParseJSON", "JSONBContains", "JSONBExists",
        "JSONArrayContains", "JSONExists", "CheckJson", "JSONKeys", "JSONCast",
        # arrays (PostgreSQL)
        "Array", "ArraySize", "ArrayContains", "ArrayContainsAll", "ArrayContainedBy",
        "ArrayOverlaps", "ArrayPosition", "ArrayConcat", "ArraySlice", "Unnest",
        # row generators: allowed only within the cost rules (literal bounds under the row cap)
        "GenerateSeries", "ExplodingGenerateSeries",
    }
)

_SQLITE = {
    # date/time and formatting
    "julianday", "datetime", "date", "time", "strftime", "unixepoch", "timediff",
    "printf", "format",
    # strings
    "instr", "substr", "ltrim", "rtrim", "trim", "replace", "upper", "lower", "length",
    "octet_length", "char", "unicode", "quote", "hex", "unhex", "soundex", "glob", "like",
    "concat", "concat_ws", "string_agg", "group_concat",
    # numbers
    "abs", "round", "sign", "ceil", "ceiling", "floor", "trunc", "ln", "log", "log10", "log2",
    "exp", "pow", "power", "sqrt", "mod", "pi", "sin", "cos", "tan", "asin", "acos", "atan",
    "atan2", "sinh", "cosh", "tanh", "degrees", "radians", "random",
    # logic and aggregates
    "ifnull", "iif", "if", "nullif", "coalesce", "likely", "unlikely", "likelihood", "typeof",
    "min", "max", "avg", "sum", "total", "count",
    # JSON (read)
    "json", "json_extract", "json_type", "json_valid", "json_array_length", "json_array",
    "json_object", "json_quote", "json_group_array", "json_group_object",
    # window
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
}

_POSTGRES = {
    "age", "date_part", "date_trunc", "date_bin", "to_char", "to_date", "to_timestamp",
    "to_number", "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp",
    "make_date", "make_time", "make_timestamp", "make_timestamptz", "make_interval",
    "justify_days", "justify_hours", "justify_interval", "isfinite", "timezone", "extract",
    "split_part", "string_agg", "array_agg", "array_length", "array_to_string",
    "string_to_array", "array_position", "array_remove", "cardinality", "unnest", "position",
    "strpos", "substr", "substring", "left", "right", "lpad", "rpad", "btrim", "ltrim", "rtrim",
    "trim", "initcap", "concat", "concat_ws", "format", "regexp_replace", "regexp_match",
    "regexp_matches", "regexp_split_to_array", "regexp_like", "regexp_count", "length",
    "char_length", "character_length", "octet_length", "bit_length", "md5", "lower", "upper",
    "replace", "translate", "repeat", "reverse", "starts_with", "ascii", "chr", "quote_literal",
    "coalesce", "nullif", "greatest", "least", "round", "trunc", "ceil", "ceiling", "floor",
    "abs", "mod", "power", "pow", "sqrt", "cbrt", "exp", "ln", "log", "log10", "sign", "div",
    "pi", "degrees", "radians", "random", "width_bucket", "scale", "percentile_cont",
    "percentile_disc", "mode", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop",
    "var_samp", "corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_r2",
    "regr_count", "bool_and", "bool_or", "every", "bit_and", "bit_or", "count", "sum", "avg",
    "min", "max", "json_extract_path", "json_extract_path_text", "jsonb_extract_path",
    "jsonb_extract_path_text", "json_array_length", "jsonb_array_length", "json_typeof",
    "jsonb_typeof", "json_build_object", "jsonb_build_object", "json_build_array",
    "jsonb_build_array", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg",
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value", "to_hex", "num_nulls", "num_nonnulls",
}

_MYSQL = {
    "date_format", "str_to_date", "year", "month", "day", "dayofweek", "dayofmonth",
    "dayofyear", "week", "weekday", "weekofyear", "yearweek", "quarter", "hour", "minute",
    "second", "microsecond", "time_to_sec", "sec_to_time", "timediff", "timestampdiff",
    "timestampadd", "datediff", "date_add", "date_sub", "adddate", "subdate", "addtime",
    "subtime", "curdate", "curtime", "current_date", "current_time", "current_timestamp", "now",
    "sysdate", "utc_date", "utc_time", "utc_timestamp", "unix_timestamp", "from_unixtime",
    "last_day", "makedate", "maketime", "monthname", "dayname", "period_diff", "period_add",
    "to_days", "from_days", "extract", "date", "time", "timestamp", "ifnull", "if", "isnull",
    "coalesce", "nullif", "greatest", "least", "concat", "concat_ws", "group_concat",
    "substring", "substring_index", "substr", "mid", "left", "right", "locate", "instr",
    "position", "lpad", "rpad", "trim", "ltrim", "rtrim", "replace", "upper", "lower", "ucase",
    "lcase", "length", "char_length", "character_length", "octet_length", "bit_length",
    "reverse", "repeat", "space", "format", "field", "elt", "find_in_set", "strcmp", "ascii",
    "char", "hex", "unhex", "md5", "sha1", "sha2", "soundex", "regexp_like", "regexp_replace",
    "regexp_substr", "regexp_instr", "round", "truncate", "ceil", "ceiling", "floor", "abs",
    "mod", "pow", "power", "sqrt", "exp", "ln", "log", "log10", "log2", "sign", "pi",
    "degrees", "radians", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "cot", "rand",
    "conv", "bin", "oct", "cast", "convert", "json_extract", "json_unquote", "json_length",
    "json_type", "json_valid", "json_contains", "json_keys", "json_object", "json_array",
    "json_arrayagg", "json_objectagg", "count", "sum", "avg", "min", "max", "std", "stddev",
    "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "bit_and", "bit_or",
    "bit_xor", "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag",
    "lead", "first_value", "last_value", "nth_value",
}

# fmt: on

SAFE_FUNCTION_NAMES: Mapping[str, frozenset[str]] = {
    "sqlite": frozenset(_SQLITE),
    # generate_series: allowed with literal bounds under the row cap (COST_LIMITED_FUNCTIONS)
    "postgres": frozenset(_POSTGRES | {"generate_series"}),
    "mysql": frozenset(_MYSQL),
}

# Why a well-known function is refused (the allow-list is what refuses it; this is the reason).
# None of these may ever appear in a safe list (tests/policies/test_sql_functions.py holds that).
_DISCLOSES_SERVER = (
    "it discloses server or session details (an operator can allow it with the warehouse_extra_functions setting)"
)
DANGEROUS_FUNCTIONS: Mapping[str, str] = {
    "pg_sleep": "it stalls the database",
    "pg_sleep_for": "it stalls the database",
    "pg_sleep_until": "it stalls the database",
    "sleep": "it stalls the database",
    "benchmark": "it burns database CPU on purpose",
    "pg_read_file": "it reads files on the database server",
    "pg_read_binary_file": "it reads files on the database server",
    "pg_ls_dir": "it lists files on the database server",
    "pg_stat_file": "it reads files on the database server",
    "lo_import": "it reads files on the database server",
    "lo_export": "it writes files on the database server",
    "load_file": "it reads files on the database server",
    "readfile": "it reads files on the database server",
    "writefile": "it writes files",
    "load_extension": "it loads native code into the database",
    "fts3_tokenizer": "it can load native code into the database",
    "dblink": "it connects to other databases",
    "dblink_exec": "it runs statements on other databases",
    "set_config": "it changes session settings",
    "nextval": "it advances a sequence (a write)",
    "setval": "it changes a sequence (a write)",
    "txid_current": "it starts a write transaction",
    "query_to_xml": "it runs arbitrary SQL passed as a string",
    "query_to_xml_and_xmlschema": "it runs arbitrary SQL passed as a string",
    "pg_advisory_lock": "it takes locks",
    "pg_try_advisory_lock": "it takes locks",
    "get_lock": "it takes locks",
    "pg_terminate_backend": "it kills other sessions",
    "pg_cancel_backend": "it cancels other sessions' queries",
    "pg_reload_conf": "it reloads the server configuration",
    # memory bombs: one call allocates what its argument asks for
    "randomblob": "it can allocate unbounded memory",
    "zeroblob": "it can allocate unbounded memory",
    "array_fill": "it can allocate unbounded memory",
    # row generators that no literal bound can tame here
    "json_each": "it generates rows (a row generator); query tables instead",
    "json_tree": "it generates rows (a row generator); query tables instead",
    "jsonb_each": "it generates rows (a row generator); query tables instead",
    "jsonb_each_text": "it generates rows (a row generator); query tables instead",
    "json_array_elements": "it generates rows (a row generator); query tables instead",
    "jsonb_array_elements": "it generates rows (a row generator); query tables instead",
    "regexp_split_to_table": "it generates rows (a row generator); query tables instead",
    "string_to_table": "it generates rows (a row generator); query tables instead",
    "generate_subscripts": "it generates rows (a row generator); query tables instead",
    # fingerprinting: who and where the database is
    "version": _DISCLOSES_SERVER,
    "current_version": _DISCLOSES_SERVER,
    "sqlite_version": _DISCLOSES_SERVER,
    "sqlite_source_id": _DISCLOSES_SERVER,
    "sqlite_compileoption_get": _DISCLOSES_SERVER,
    "sqlite_compileoption_used": _DISCLOSES_SERVER,
    "sqlite_offset": _DISCLOSES_SERVER,
    "changes": _DISCLOSES_SERVER,
    "total_changes": _DISCLOSES_SERVER,
    "last_insert_rowid": _DISCLOSES_SERVER,
    "current_setting": _DISCLOSES_SERVER,
    "inet_server_addr": _DISCLOSES_SERVER,
    "inet_server_port": _DISCLOSES_SERVER,
    "inet_client_addr": _DISCLOSES_SERVER,
    "inet_client_port": _DISCLOSES_SERVER,
    "pg_backend_pid": _DISCLOSES_SERVER,
    "pg_postmaster_start_time": _DISCLOSES_SERVER,
    "pg_conf_load_time": _DISCLOSES_SERVER,
    "pg_is_in_recovery": _DISCLOSES_SERVER,
    "pg_current_wal_lsn": _DISCLOSES_SERVER,
    "pg_database_size": _DISCLOSES_SERVER,
    "pg_table_size": _DISCLOSES_SERVER,
    "pg_get_userbyid": _DISCLOSES_SERVER,
    "has_table_privilege": _DISCLOSES_SERVER,
    "has_column_privilege": _DISCLOSES_SERVER,
    "pg_has_role": _DISCLOSES_SERVER,
    "to_regclass": _DISCLOSES_SERVER,
    "current_database": _DISCLOSES_SERVER,
    "current_schema": _DISCLOSES_SERVER,
    "current_schemas": _DISCLOSES_SERVER,
    "current_catalog": _DISCLOSES_SERVER,
    "current_role": _DISCLOSES_SERVER,
    "system_user": _DISCLOSES_SERVER,
    "user": _DISCLOSES_SERVER,
    "current_user": _DISCLOSES_SERVER,
    "session_user": _DISCLOSES_SERVER,
    "database": _DISCLOSES_SERVER,
    "schema": _DISCLOSES_SERVER,
    "connection_id": _DISCLOSES_SERVER,
}

# Functions that are allowed, but only within bounds the guard checks on the AST (see
# ``SqlGuard._cost_reason``): what each may cost, in words for the refusal message.
MAX_GENERATED_CHARS = 10_000  # repeat/lpad/rpad/space/printf widths
MAX_PATTERN_CHARS = 200  # LIKE/GLOB/regex patterns written in the query
COST_LIMITED_FUNCTIONS: Mapping[str, str] = {
    "generate_series": "needs literal bounds that give at most the row cap, e.g. generate_series(1, 12)",
    "repeat": f"needs a literal count of at most {MAX_GENERATED_CHARS}",
    "lpad": f"needs a literal length of at most {MAX_GENERATED_CHARS}",
    "rpad": f"needs a literal length of at most {MAX_GENERATED_CHARS}",
    "space": f"needs a literal count of at most {MAX_GENERATED_CHARS}",
    "printf": f"needs a literal format whose widths are at most {MAX_GENERATED_CHARS} (no '*')",
    "format": f"needs a literal format whose widths are at most {MAX_GENERATED_CHARS} (no '*')",
    "replace": "may not grow a string that another growing function built",
    "regexp": f"needs a literal pattern of at most {MAX_PATTERN_CHARS} characters",
    "like": f"needs a pattern that is a column or a literal of at most {MAX_PATTERN_CHARS} characters",
}


def safe_function_names(dialect: str) -> frozenset[str]:
    """Names of unmodelled functions allowed in ``dialect`` (empty for an unknown dialect)."""
    return SAFE_FUNCTION_NAMES.get(dialect, frozenset())


__all__ = [
    "COST_LIMITED_FUNCTIONS",
    "DANGEROUS_FUNCTIONS",
    "MAX_GENERATED_CHARS",
    "MAX_PATTERN_CHARS",
    "SAFE_FUNCTION_CLASSES",
    "SAFE_FUNCTION_NAMES",
    "safe_function_names",
]
