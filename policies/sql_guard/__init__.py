"""The SQL guard: decide whether model-written SQL may run, and rewrite it so that it is safe to.

Fail closed, on the sqlglot AST (never on the text):

1. normalize model output (markdown fences, markdown escapes such as ``\\_``);
2. parse in the warehouse's dialect (or the dialect the model used, then transpile);
3. exactly one statement, whose root is a query;
4. walk the whole tree: no write, DDL, ``INTO``, lock, ``Command``, ``PRAGMA``, ``ATTACH``,
   ``COPY``, variables or parameters, and no construct outside a known read-only set;
5. functions only from the per-dialect allow-list (:mod:`policies.sql_functions`);
6. tables only from the asker's :class:`AllowList` (CTE names resolved by scope, system
   catalogs denied unless allowed), columns of column-restricted tables only when granted;
7. a row ``LIMIT`` injected or clamped; comments dropped from the SQL that will run.

The verdict carries every reason found, not just the first, so the model can fix them all.
This is one layer: the SQL also runs on a read-only connection with a timeout.
"""

from __future__ import annotations

from policies.sql_guard.grants import AllowList, SqlVerdict, TableGrant
from policies.sql_guard.guard import SqlGuard, check_sql
from policies.sql_guard.rules import DEFAULT_MAX_ROWS, DIALECTS
from policies.sql_guard.text import normalize_sql

__all__ = [
    "DEFAULT_MAX_ROWS",
    "DIALECTS",
    "AllowList",
    "SqlGuard",
    "SqlVerdict",
    "TableGrant",
    "check_sql",
    "normalize_sql",
]
