"""Loading a routing policy file: YAML → pydantic → semantic checks, with every problem mapped to a line."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from policies.directory import Directory
from policies.policy_file import SAFE_LOADER
from policies.requests import (
    REQUEST_KINDS,
)
from policies.routing.facts import _NUM_OPS, FACTS, _Condition, _Fact, _show
from policies.routing.model import Flag, RoutingFileError

if TYPE_CHECKING:  # policy.py imports this module
    from policies.routing.policy import RoutingPolicy
from policies.routing.facts import Rule, StageDef, StageRequirement

# --------------------------------------------------------------------------------------------
# The file's shape (validated by pydantic; semantic checks follow in _Compiler)


def _date_to_str(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


DateStr = Annotated[str, BeforeValidator(_date_to_str)]


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _FlagSpec(_FileModel):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    message: str = Field(min_length=1)


class _StageSpec(_FileModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    mode: Literal["any", "all"] = "any"
    approvers: list[str]
    sla_hours: int | None = Field(default=None, gt=0)
    description: str = ""


class _RuleSpec(_FileModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    when: dict[str, Any]
    auto_approve: bool = False
    require: list[Any] | None = None
    flag: _FlagSpec | None = None


class _DefaultRouteSpec(_FileModel):
    require: list[Any]
    flag: _FlagSpec


class _FxSpec(_FileModel):
    as_of: DateStr
    rates: dict[str, Decimal]


class _PolicySpec(_FileModel):
    version: DateStr
    description: str = ""
    fx_to_usd: _FxSpec
    holidays: list[dt.date] = []
    stages: list[_StageSpec]
    rules: list[_RuleSpec]
    default_route: _DefaultRouteSpec
    fallback_approvers: list[str]
    auto_approve_period_days: int = Field(default=30, gt=0, le=366)


# --------------------------------------------------------------------------------------------
# Loading: YAML → pydantic → semantic checks, with every problem mapped to a line


Loc = tuple[str | int, ...]


class _Compiler:
    def __init__(self, text: str, source: str, directory: Directory | None) -> None:
        self.text = text
        self.source = source
        self.directory = directory
        self.root: yaml.Node | None = None
        self.problems: list[tuple[int, str]] = []
        self.raw: Any = None

    # -- problem reporting

    def line(self, loc: Loc) -> int:
        """1-based line of the deepest node of ``loc`` found in the YAML (mapping keys point at
        the key), 1 when nothing matches."""
        node = self.root
        line = 1 if node is None else node.start_mark.line + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == str(part):
                        line = k.start_mark.line + 1
                        node = v
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def where(self, loc: Loc) -> str:
        """'rule 'x': ' / 'stage 'y': ' prefix for problems inside a named rule or stage."""
        if len(loc) >= 2 and loc[0] in ("rules", "stages") and isinstance(loc[1], int):
            items = self.raw.get(loc[0]) if isinstance(self.raw, dict) else None
            item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
            key = "id" if loc[0] == "rules" else "name"
            name = item.get(key) if isinstance(item, dict) else None
            what = "rule" if loc[0] == "rules" else "stage"
            return f"{what} {name!r}: " if name is not None else f"{loc[0]}[{loc[1]}]: "
        return ""

    def problem(self, loc: Loc, message: str) -> None:
        self.problems.append((self.line(loc), self.where(loc) + message))

    def fail_if_problems(self) -> None:
        if self.problems:
            raise RoutingFileError(self.source, self.problems)

    # -- steps

    def compile(self, policy_cls: type[RoutingPolicy]) -> RoutingPolicy:
        # The class comes from the caller (RoutingPolicy.from_text): policy.py imports this
        # module, so importing it back would be a circle.
        try:
            self.root = yaml.compose(self.text, Loader=SAFE_LOADER)
            self.raw = yaml.load(self.text, Loader=SAFE_LOADER)  # SAFE_LOADER is a safe loader
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            raise RoutingFileError(self.source, [(line, f"not valid YAML: {exc.problem or exc}")]) from exc
        except yaml.YAMLError as exc:
            raise RoutingFileError(self.source, [(1, f"not valid YAML: {exc}")]) from exc
        if not isinstance(self.raw, dict):
            raise RoutingFileError(self.source, [(1, "expected a mapping with version, stages, rules, ...")])
        self._duplicate_keys(self.root, ())
        self.fail_if_problems()

        try:
            spec = _PolicySpec.model_validate(self.raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                self.problem(loc, _pydantic_message(loc, err))
            self.fail_if_problems()
            raise AssertionError("unreachable") from exc  # pragma: no cover
        return self._semantics(spec, policy_cls)

    def _duplicate_keys(self, node: yaml.Node | None, loc: Loc) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for k, v in node.value:
                if k.value in seen:
                    self.problems.append((k.start_mark.line + 1, f"duplicate key {k.value!r}"))
                seen.add(k.value)
                self._duplicate_keys(v, (*loc, k.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self._duplicate_keys(v, (*loc, i))

    def _semantics(self, spec: _PolicySpec, policy_cls: type[RoutingPolicy]) -> RoutingPolicy:
        fx: dict[str, Decimal] = {}
        for code, rate in spec.fx_to_usd.rates.items():
            if len(code) != 3 or not code.isalpha() or not code.isupper():
                self.problem(("fx_to_usd", "rates", code), f"{code!r} is not an ISO-4217 code like EUR")
            elif rate <= 0:
                self.problem(("fx_to_usd", "rates", code), f"rate for {code} must be positive")
            fx[code] = rate
        if fx.get("USD") != 1:
            self.problem(("fx_to_usd", "rates"), "rates must include USD: 1")

        stage_index: dict[str, int] = {}
        stages: list[StageDef] = []
        for i, s in enumerate(spec.stages):
            if s.name in stage_index:
                self.problem(("stages", i, "name"), f"duplicate stage name {s.name!r}")
            stage_index.setdefault(s.name, i)
            if not s.approvers:
                self.problem(("stages", i, "approvers"), "empty approvers: say who approves this stage")
            for j, a in enumerate(s.approvers):
                self._check_approver(("stages", i, "approvers", j), a)
            stages.append(StageDef(s.name, s.mode, tuple(s.approvers), s.sla_hours, s.description))
        if not stages:
            self.problem(("stages",), "no stages declared")
        if not spec.fallback_approvers:
            self.problem(("fallback_approvers",), "empty: say who approves for people with no manager")
        for j, a in enumerate(spec.fallback_approvers):
            self._check_approver(("fallback_approvers", j), a)

        seen_ids: set[str] = set()
        rules: list[Rule] = []
        for i, r in enumerate(spec.rules):
            loc: Loc = ("rules", i)
            if r.id in seen_ids:
                self.problem((*loc, "id"), f"duplicate rule id {r.id!r}")
            seen_ids.add(r.id)
            conditions = self._conditions((*loc, "when"), r.when)
            require = self._require((*loc, "require"), r.require, stage_index, allow_none=True)
            if not (r.auto_approve or require or r.flag):
                self.problem(loc, "does nothing: give it auto_approve, require or flag")
            if r.auto_approve and (require or r.flag):
                self.problem((*loc, "auto_approve"), "an auto-approve rule cannot also require stages or flag")
            flag = Flag(code=r.flag.code, message=r.flag.message, rule=r.id) if r.flag else None
            rules.append(Rule(r.id, r.description, conditions, r.auto_approve, require, flag, self.line(loc)))

        default_require = self._require(
            ("default_route", "require"), spec.default_route.require, stage_index, allow_none=False
        )
        try:
            holidays = frozenset(spec.holidays)
        except TypeError:  # pragma: no cover
            holidays = frozenset()
        self.fail_if_problems()
        return policy_cls(
            version=spec.version,
            source=self.source,
            description=spec.description,
            fx_rates=fx,
            fx_as_of=spec.fx_to_usd.as_of,
            holidays=holidays,
            stages=tuple(stages),
            rules=tuple(rules),
            default_route=default_require,
            default_flag=Flag(code=spec.default_route.flag.code, message=spec.default_route.flag.message),
            fallback_approvers=tuple(spec.fallback_approvers),
            auto_approve_period_days=spec.auto_approve_period_days,
        )

    # -- pieces

    def _known(self, what: str) -> set[str] | None:
        d = self.directory
        if d is None:
            return None
        if what == "role":
            return {r for p in d for r in p.roles}
        if what == "person":
            return {p.id for p in d}
        if what == "department":
            return {p.department for p in d if p.department}
        if what == "cost_center":
            return {p.cost_center for p in d if p.cost_center}
        raise AssertionError(what)  # pragma: no cover

    def _check_approver(self, loc: Loc, spec: Any) -> None:
        forms = "manager, role:ROLE, person:USER_ID or department_head:DEPARTMENT"
        if not isinstance(spec, str):
            self.problem(loc, f"approver {spec!r} must be a string: {forms}")
            return
        kind, sep, arg = spec.partition(":")
        if spec == "manager":
            return
        if not sep or kind not in ("role", "person", "department_head") or not arg:
            self.problem(loc, f"bad approver {spec!r}; use {forms}")
            return
        known = self._known(kind if kind != "department_head" else "department")
        if known is not None and arg not in known:
            label = {"role": "role", "person": "person", "department_head": "department"}[kind]
            self.problem(loc, f"unknown {label} {arg!r} (known {label}s: {', '.join(sorted(known))})")

    def _require(
        self, loc: Loc, items: list[Any] | None, index: Mapping[str, int], *, allow_none: bool
    ) -> tuple[StageRequirement, ...]:
        if items is None:
            return ()
        if not items:
            self.problem(loc, "empty stage list: name at least one stage, or drop 'require'")
            return ()
        out: list[StageRequirement] = []
        last = -1
        prev = ""
        for j, item in enumerate(items):
            iloc = (*loc, j)
            override: tuple[str, ...] | None = None
            if isinstance(item, dict):
                extra = set(item) - {"stage", "approvers"}
                if extra or "stage" not in item:
                    self.problem(iloc, "a stage with approvers looks like {stage: NAME, approvers: [...]}")
                    continue
                name = item["stage"]
                raw_approvers = item.get("approvers")
                if not isinstance(raw_approvers, list) or not raw_approvers:
                    self.problem((*iloc, "approvers"), "approvers must be a non-empty list")
                    continue
                for k, a in enumerate(raw_approvers):
                    self._check_approver((*iloc, "approvers", k), a)
                override = tuple(str(a) for a in raw_approvers)
            else:
                name = item
            if not isinstance(name, str) or name not in index:
                self.problem(iloc, f"unknown stage {name!r} (declared stages: {', '.join(index)})")
                continue
            pos = index[name]
            if pos <= last:
                self.problem(
                    iloc,
                    f"stages must follow the declared order ({' → '.join(index)}): {name!r} cannot come after {prev!r}",
                )
                continue
            last, prev = pos, name
            out.append(StageRequirement(name, override))
        return tuple(out)

    def _conditions(self, loc: Loc, when: Mapping[str, Any]) -> tuple[_Condition, ...]:
        if not when:
            self.problem(loc, "'when' is empty: say which requests the rule applies to (at least kind)")
            return ()
        out: list[_Condition] = []
        kinds: set[str] = set(REQUEST_KINDS)
        if "kind" in when:
            kv = when["kind"]
            kinds = set(kv if isinstance(kv, list) else [kv]) & set(REQUEST_KINDS) or kinds
        for name, value in when.items():
            floc = (*loc, name)
            fact = FACTS.get(name)
            if fact is None:
                self.problem(floc, f"unknown condition {name!r} (known: {', '.join(FACTS)})")
                continue
            if fact.kinds is not None and not (kinds & fact.kinds):
                self.problem(
                    floc,
                    f"{name!r} does not apply to kind {', '.join(sorted(kinds))} "
                    f"(it applies to: {', '.join(sorted(fact.kinds))})",
                )
                continue
            out.extend(self._condition(floc, name, fact, value))
        return tuple(out)

    def _condition(self, loc: Loc, name: str, fact: _Fact, value: Any) -> list[_Condition]:
        if isinstance(value, dict) and "missing" in value:
            if set(value) != {"missing"} or not isinstance(value["missing"], bool):
                self.problem(loc, "use {missing: true} or {missing: false} on its own")
                return []
            return [_Condition(name, "missing", value["missing"])]
        if fact.type == "number":
            return self._number(loc, name, value)
        if fact.type == "bool":
            if not isinstance(value, bool):
                self.problem(loc, f"{name} takes true or false, got {value!r}")
                return []
            return [_Condition(name, "is", value)]
        ops = ("any_of", "none_of") if fact.type == "roles" else ("in", "not_in")
        if isinstance(value, dict):
            bad = [k for k in value if k not in ops]
            if bad:
                self.problem((*loc, bad[0]), f"bad operator {bad[0]!r} for {name}; use one of: {', '.join(ops)}")
                return []
            if len(value) != 1:
                self.problem(loc, f"use exactly one operator for {name}: {' or '.join(ops)}")
                return []
            op, names = next(iter(value.items()))
            nloc = (*loc, op)
        else:
            op, names, nloc = ops[0], value, loc
        names = names if isinstance(names, list) else [names]
        if not names or not all(isinstance(n, str) for n in names):
            self.problem(nloc, f"{name} takes a name or a list of names (quote values like 'on' or 100)")
            return []
        allowed: Iterable[str] | None = fact.values
        what = name
        if name == "requester_role":
            allowed, what = self._known("role"), "role"
        elif name in ("department", "cost_center"):
            allowed = self._known(name)
        if allowed is not None:
            allowed = set(allowed)
            bad_names = [n for n in names if n not in allowed]
            if bad_names:
                self.problem(
                    nloc,
                    f"unknown {what} {', '.join(map(repr, bad_names))} (known {what}s: {', '.join(sorted(allowed))})",
                )
                return []
        return [_Condition(name, op, frozenset(names))]

    def _number(self, loc: Loc, name: str, value: Any) -> list[_Condition]:
        def num(v: Any, where: Loc) -> Decimal | None:
            if isinstance(v, bool) or not isinstance(v, int | float | Decimal):
                self.problem(where, f"{name} needs a number, got {v!r}")
                return None
            return Decimal(str(v))

        if not isinstance(value, dict):
            n = num(value, loc)
            return [] if n is None else [_Condition(name, "eq", n)]
        bad = [k for k in value if k not in _NUM_OPS]
        if bad:
            self.problem((*loc, bad[0]), f"bad operator {bad[0]!r} for {name}; use gt, gte, lt, lte or eq")
            return []
        if not value:
            self.problem(loc, f"{name}: empty range")
            return []
        out = []
        for op, v in value.items():
            n = num(v, (*loc, op))
            if n is not None:
                out.append(_Condition(name, op, n))
        lows = [c.value for c in out if c.op in ("gt", "gte", "eq")]
        highs = [c.value for c in out if c.op in ("lt", "lte", "eq")]
        if lows and highs and max(lows) > min(highs):
            self.problem(loc, f"{name}: the range can never match ({_range_text(out)})")
            return []
        return out


def _range_text(conds: Sequence[_Condition]) -> str:
    return ", ".join(f"{_NUM_OPS[c.op]} {_show(c.value)}" for c in conds)


def _pydantic_message(loc: Loc, err: Mapping[str, Any]) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    # Inside a rule/stage the prefix already names it; show the field path relative to it.
    if len(loc) >= 2 and loc[0] in ("rules", "stages") and isinstance(loc[1], int):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[2:]).lstrip(".")
    kind = err.get("type")
    if kind == "extra_forbidden":
        return f"unknown field {loc[-1]!r}" if loc else "unknown field"
    if kind == "missing":
        return f"missing required field {loc[-1]!r}" if loc else "missing required field"
    # pydantic speaks Python ("a valid dictionary or instance of _RuleSpec"); the file is YAML.
    msg = re.sub(r" or instance of \w+", "", str(err.get("msg", "invalid"))).replace("dictionary", "mapping")
    got = err.get("input")
    detail = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
    return f"{path}: {msg}{detail}" if path else f"{msg}{detail}"
