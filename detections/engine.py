"""Pure-Python streaming Sigma matcher built on pySigma's parsed condition trees."""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import ahocorasick
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from detections import safe_regex
from detections.correlation import CorrelationRule
from detections.index import SEPARATOR, KeyIndex
from detections.logsources import EventKey, LogsourceFilter, event_key, logsource_filter
from detections.logsources import normalise_event as _normalise
from detections.prefilter import EVENT_ID_FIELD, Requirement, rule_requirement

MISSING: Any = object()


class UnsupportedRuleError(ValueError):
    """Raised when a rule uses a construct this engine cannot evaluate."""


class UnsafeRegexError(UnsupportedRuleError):
    """An untrusted (tenant) rule's regular expression cannot run in linear time."""


class _Ctx:
    """Per-event evaluation context with cached field lookups and string forms."""

    __slots__ = ("data", "_lower_keys", "_strs", "_lstrs", "_all")

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self._lower_keys: dict[str, Any] | None = None
        self._strs: dict[str, list[str]] = {}
        self._lstrs: dict[str, list[str]] = {}
        self._all: list[str] | None = None

    def get(self, name: str) -> Any:
        """Field value: exact name, then case-insensitive, then dotted path; else MISSING."""
        data = self.data
        if name in data:
            return data[name]
        if self._lower_keys is None:
            self._lower_keys = {k.lower(): v for k, v in data.items() if isinstance(k, str)}
        value = self._lower_keys.get(name.lower(), MISSING)
        if value is MISSING and "." in name:
            cur: Any = data
            for part in name.split("."):
                if not isinstance(cur, dict):
                    return MISSING
                if part in cur:
                    cur = cur[part]
                else:
                    low = part.lower()
                    cur = next((v for k, v in cur.items() if str(k).lower() == low), MISSING)
                    if cur is MISSING:
                        return MISSING
            return cur
        return value

    def strs(self, name: str) -> list[str]:
        """String forms of the (scalar or list) field value; None values are skipped."""
        cached = self._strs.get(name)
        if cached is None:
            cached = _as_strings(self.get(name))
            self._strs[name] = cached
        return cached

    def lstrs(self, name: str) -> list[str]:
        """Lower-cased string forms of the field value."""
        cached = self._lstrs.get(name)
        if cached is None:
            cached = [s.lower() for s in self.strs(name)]
            self._lstrs[name] = cached
        return cached

    def haystack(self) -> str:
        """Every lower-cased value joined by NUL: the text the literal index scans."""
        if self._all is None:
            out: list[str] = []
            _collect_strings(self.data, out)
            joined = SEPARATOR.join(out)
            # lower() of ASCII is per character: one call for all values, split back after.
            if joined.isascii() and joined.count(SEPARATOR) == len(out) - 1:
                lowered = joined.lower()
                self._all = lowered.split(SEPARATOR) if out else []
                return lowered
            self._all = [s.lower() for s in out]
        return SEPARATOR.join(self._all)

    def event_ids(self) -> list[Any]:
        """Numeric EventID values, compared the way the matcher compares numbers."""
        return [
            n
            for v in _as_values(self.get(EVENT_ID_FIELD))
            if not isinstance(v, bool) and (n := _to_number(v)) is not None
        ]

    def all_strings(self) -> list[str]:
        """Lower-cased string forms of every value in the event (for keyword search)."""
        if self._all is None:
            out: list[str] = []
            _collect_strings(self.data, out)
            self._all = [s.lower() for s in out]
        return self._all


def _scalar_str(value: Any) -> str | None:
    if value is None or value is MISSING:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def _as_strings(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [s for v in value if (s := _scalar_str(v)) is not None]
    s = _scalar_str(value)
    return [] if s is None else [s]


def _as_values(value: Any) -> list[Any]:
    if value is MISSING:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _collect_strings(value: Any, out: list[str]) -> None:
    if type(value) is dict:  # fast path: flat events of scalars
        for v in value.values():
            kind = type(v)
            if kind is str:
                out.append(v)
            elif kind is int or kind is float:  # bool is its own type: _scalar_str spells it
                out.append(str(v))
            elif v is not None:
                _collect_strings(v, out)
        return
    if isinstance(value, dict):
        for v in value.values():
            _collect_strings(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _collect_strings(v, out)
    else:
        s = _scalar_str(value)
        if s is not None:
            out.append(s)


def _to_number(value: Any) -> float | int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text, 0)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return None
    return None


# --- string patterns ------------------------------------------------------------------------

StrPred = Callable[[str], bool]


def _string_parts(value: SigmaString) -> list[str | SpecialChars]:
    """Parts of a SigmaString; placeholders become multi-char wildcards."""
    parts: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            part = SpecialChars.WILDCARD_MULTI
        if isinstance(part, str) and parts and isinstance(parts[-1], str):
            parts[-1] += part
        elif part == SpecialChars.WILDCARD_MULTI and parts and parts[-1] == part:
            continue
        else:
            parts.append(part)
    return parts


Shape = tuple[str, Any]


def _string_shape(parts: list[str | SpecialChars], cased: bool, search: bool = False) -> Shape:
    """Classify a wildcard pattern: ("eq"|"contains"|"startswith"|"endswith", literal),
    ("any", None) or ("regex", _Wildcard); literals lower-cased unless cased."""
    star = SpecialChars.WILDCARD_MULTI
    if search:  # keyword semantics: substring match
        parts = [star, *parts, star]
        parts = [p for i, p in enumerate(parts) if not (p == star and i and parts[i - 1] == star)]
    norm = [p if cased or not isinstance(p, str) else p.lower() for p in parts]
    specials = [p for p in norm if not isinstance(p, str)]
    literals = [p for p in norm if isinstance(p, str)]
    if not specials:
        return ("eq", literals[0] if literals else "")
    if all(p == star for p in specials) and len(literals) <= 1:
        if not literals:
            return ("any", None)
        if len(norm) == 3:
            return ("contains", literals[0])
        return ("endswith" if norm[0] == star else "startswith", literals[0])
    return ("regex", _wildcard(norm))


@dataclass(frozen=True)
class _Wildcard:
    """A wildcard pattern needing a full match. With at most one `*` it is a Python regex
    (linear: one anchored greedy run); with more, a regex of k `.*` backtracks in O(n^k) on a
    value that fails late, and event values run to megabytes: then the pattern is matched as
    fixed-length pieces between the stars, each found leftmost (linear, same answer)."""

    python: re.Pattern[str] | None
    match: StrPred = field(compare=False)


def _wildcard(norm: list[str | SpecialChars]) -> _Wildcard:
    star = SpecialChars.WILDCARD_MULTI
    if sum(p == star for p in norm) > 1:
        return _Wildcard(None, _glob(norm))
    source = "".join(
        re.escape(p) if isinstance(p, str) else (".*" if p == star else ".") for p in norm
    )
    python = re.compile(source, re.DOTALL)
    return _Wildcard(python, lambda s: python.fullmatch(s) is not None)


_Piece = tuple[int, str | None, re.Pattern[str] | None]  # length, literal or fixed-length regex


def _piece(parts: list[str | SpecialChars]) -> _Piece:
    if all(isinstance(p, str) for p in parts):
        text = "".join(parts)  # type: ignore[arg-type]
        return len(text), text, None
    source = "".join(re.escape(p) if isinstance(p, str) else "." for p in parts)
    length = sum(len(p) if isinstance(p, str) else 1 for p in parts)
    return length, None, re.compile(source, re.DOTALL)


def _glob(norm: list[str | SpecialChars]) -> StrPred:
    """Full match of ``head * mid1 * … * tail`` (pieces of literals and `?`): the head at the
    start, the tail at the end, each middle piece at its leftmost place after the previous
    one (leftmost is never worse for what follows)."""
    pieces: list[list[str | SpecialChars]] = [[]]
    for p in norm:
        if p == SpecialChars.WILDCARD_MULTI:
            pieces.append([])
        else:
            pieces[-1].append(p)
    head, *middle, tail = [_piece(p) for p in pieces]

    def at(piece: _Piece, s: str, i: int) -> bool:
        _, text, rx = piece
        return s.startswith(text, i) if text is not None else rx.match(s, i) is not None  # type: ignore[union-attr]

    def find(piece: _Piece, s: str, start: int, end: int) -> int:
        _, text, rx = piece
        if text is not None:
            return s.find(text, start, end)
        found = rx.search(s, start, end)  # type: ignore[union-attr]
        return -1 if found is None else found.start()

    def match(s: str) -> bool:
        pos, end = head[0], len(s) - tail[0]
        if end < pos or not at(head, s, 0) or not at(tail, s, end):
            return False
        for piece in middle:
            found = find(piece, s, pos, end)
            if found < 0:
                return False
            pos = found + piece[0]
        return True

    return match


def _shape_pred(shape: Shape) -> StrPred:
    kind, arg = shape
    if kind == "eq":
        return lambda s: s == arg
    if kind == "any":
        return lambda s: True
    if kind == "contains":
        return lambda s: arg in s
    if kind == "endswith":
        return lambda s: s.endswith(arg)
    if kind == "startswith":
        return lambda s: s.startswith(arg)
    return arg.match


def _string_pred(parts: list[str | SpecialChars], cased: bool, search: bool = False) -> StrPred:
    """Predicate over a (lower-cased unless ``cased``) string for a wildcard pattern."""
    return _shape_pred(_string_shape(parts, cased, search))


# Above this many `contains` literals in one OR, an Aho-Corasick automaton does the search.
_AUTOMATON_MIN = 6


def _any_pred(shapes: list[Shape]) -> StrPred:
    """One predicate true when any of ``shapes`` matches (an OR of values on one field)."""
    by_kind: dict[str, list[Any]] = {}
    for kind, arg in shapes:
        by_kind.setdefault(kind, []).append(arg)
    if "any" in by_kind:
        return lambda s: True
    checks: list[StrPred] = []
    if "eq" in by_kind:
        checks.append(frozenset(by_kind["eq"]).__contains__)
    if "startswith" in by_kind:
        prefixes = tuple(by_kind["startswith"])
        checks.append(lambda s: s.startswith(prefixes))
    if "endswith" in by_kind:
        suffixes = tuple(by_kind["endswith"])
        checks.append(lambda s: s.endswith(suffixes))
    if "contains" in by_kind:
        needles = by_kind["contains"]
        if len(needles) >= _AUTOMATON_MIN:
            automaton = ahocorasick.Automaton()
            for needle in set(needles):
                automaton.add_word(needle, 0)
            automaton.make_automaton()
            checks.append(lambda s: next(automaton.iter(s), None) is not None)
        else:
            checks.extend(_shape_pred(("contains", n)) for n in needles)
    if "regex" in by_kind:
        wildcards: list[_Wildcard] = by_kind["regex"]
        simple = [w.python.pattern for w in wildcards if w.python is not None]
        if simple:
            combined = re.compile("|".join(f"(?:{p})" for p in simple), re.DOTALL)
            checks.append(lambda s: combined.fullmatch(s) is not None)
        checks.extend(w.match for w in wildcards if w.python is None)
    if len(checks) == 1:
        return checks[0]
    return lambda s: any(check(s) for check in checks)


def _regex_search(pattern: str, flags: int, where: str) -> StrPred:
    """A Sigma `re` value as a linear-time search (see detections.safe_regex)."""
    try:
        return safe_regex.compile_search(pattern, flags)
    except re.error as exc:
        raise UnsupportedRuleError(f"invalid regular expression: {exc}") from exc
    except safe_regex.UnsafeRegex as exc:
        raise UnsafeRegexError(f"{where}: {exc}") from exc


# --- value matchers (field level) ---------------------------------------------------------

Matcher = Callable[[_Ctx], bool]


def _field_matcher(name: str, value: Any) -> Matcher:
    """Compile ``field <op> value`` into a predicate over an event context."""
    if isinstance(value, SigmaExpansion):
        subs = [_field_matcher(name, v) for v in value.values]
        return lambda ctx: any(m(ctx) for m in subs)
    if isinstance(value, SigmaString):
        cased = isinstance(value, SigmaCasedString)
        parts = _string_parts(value)
        pred = _string_pred(parts, cased)
        empty = not parts
        if cased:
            return lambda ctx: any(pred(s) for s in ctx.strs(name))
        if empty:

            def match_empty(ctx: _Ctx) -> bool:
                v = ctx.get(name)
                return v is None or any(s == "" for s in ctx.strs(name))

            return match_empty
        return lambda ctx: any(pred(s) for s in ctx.lstrs(name))
    if isinstance(value, SigmaBool):
        b = value.boolean
        text = "true" if b else "false"

        def match_bool(ctx: _Ctx) -> bool:
            for v in _as_values(ctx.get(name)):
                if isinstance(v, bool):
                    if v is b:
                        return True
                elif isinstance(v, str | int) and str(v).strip().lower() == text:
                    return True
            return False

        return match_bool
    if isinstance(value, SigmaNumber):
        num = value.number
        text = str(num).lower()

        def match_number(ctx: _Ctx) -> bool:
            for v in _as_values(ctx.get(name)):
                if isinstance(v, bool):
                    continue
                n = _to_number(v)
                if n is not None and n == num:
                    return True
                if isinstance(v, str) and v.strip().lower() == text:
                    return True
            return False

        return match_number
    if isinstance(value, SigmaNull):

        def match_null(ctx: _Ctx) -> bool:
            v = ctx.get(name)
            return v is MISSING or v is None or v == "" or v == []

        return match_null
    if isinstance(value, SigmaExists):
        want = bool(value.exists)
        return lambda ctx: (ctx.get(name) is not MISSING) is want
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for flag in value.flags:
            flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
        if value.regexp.contains_placeholder():
            raise UnsupportedRuleError("placeholders in regular expressions are not supported")
        search = _regex_search(str(value.regexp), flags, f"field {name}")
        return lambda ctx: any(search(s) for s in ctx.strs(name))
    if isinstance(value, SigmaCIDRExpression):
        network = value.network

        def match_cidr(ctx: _Ctx) -> bool:
            for s in ctx.strs(name):
                try:
                    if ipaddress.ip_address(s.strip().strip("[]")) in network:
                        return True
                except ValueError:
                    continue
            return False

        return match_cidr
    if isinstance(value, SigmaCompareExpression):
        op = value.op
        ref = value.number.number
        cmp: Callable[[Any], bool] = {
            CompareOperators.LT: lambda n: n < ref,
            CompareOperators.LTE: lambda n: n <= ref,
            CompareOperators.GT: lambda n: n > ref,
            CompareOperators.GTE: lambda n: n >= ref,
            CompareOperators.NEQ: lambda n: n != ref,
        }[op]

        def match_compare(ctx: _Ctx) -> bool:
            for v in _as_values(ctx.get(name)):
                n = _to_number(v)
                if n is not None and cmp(n):
                    return True
            return False

        return match_compare
    if isinstance(value, SigmaFieldReference):
        other = value.field
        starts, ends = value.starts_with, value.ends_with

        def match_ref(ctx: _Ctx) -> bool:
            refs = ctx.lstrs(other)
            if not refs:
                return False
            for s in ctx.lstrs(name):
                for r in refs:
                    if starts and ends:
                        if r in s:
                            return True
                    elif starts:
                        if s.startswith(r):
                            return True
                    elif ends:
                        if s.endswith(r):
                            return True
                    elif s == r:
                        return True
            return False

        return match_ref
    raise UnsupportedRuleError(f"unsupported value type {type(value).__name__} for field {name}")


def _keyword_matcher(value: Any) -> Matcher:
    """Compile a keyword (field-less value): substring search over all event values."""
    if isinstance(value, SigmaExpansion):
        subs = [_keyword_matcher(v) for v in value.values]
        return lambda ctx: any(m(ctx) for m in subs)
    if isinstance(value, SigmaNumber):
        value = SigmaString(str(value.number))
    if isinstance(value, SigmaString):
        cased = isinstance(value, SigmaCasedString)
        pred = _string_pred(_string_parts(value), cased, search=True)
        if cased:

            def match_cased(ctx: _Ctx) -> bool:
                out: list[str] = []
                _collect_strings(ctx.data, out)
                return any(pred(s) for s in out)

            return match_cased
        return lambda ctx: any(pred(s) for s in ctx.all_strings())
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for flag in value.flags:
            flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
        search = _regex_search(str(value.regexp), flags, "keywords")

        def match_re(ctx: _Ctx) -> bool:
            out: list[str] = []
            _collect_strings(ctx.data, out)
            return any(search(s) for s in out)

        return match_re
    raise UnsupportedRuleError(f"unsupported keyword value type {type(value).__name__}")


def _groupable_shape(node: Any) -> tuple[str | None, Shape] | None:
    """(field or None for keywords, shape) for OR members that can share one predicate."""
    value = getattr(node, "value", None)
    if isinstance(node, ConditionValueExpression) and isinstance(value, SigmaNumber):
        value = SigmaString(str(value.number))
    if type(value) is not SigmaString:  # cased strings and other types stay separate
        return None
    parts = _string_parts(value)
    if isinstance(node, ConditionFieldEqualsValueExpression) and parts:
        return node.field, _string_shape(parts, cased=False)
    if isinstance(node, ConditionValueExpression):
        return None, _string_shape(parts, cased=False, search=True)
    return None


def _compile_or(args: Iterable[Any]) -> list[Matcher]:
    """Compile OR members; plain string values on the same field (or keywords) are merged."""
    groups: dict[str | None, list[Shape]] = {}
    subs: list[Matcher] = []
    for arg in args:
        grouped = _groupable_shape(arg)
        if grouped is None:
            subs.append(compile_condition(arg))
        else:
            groups.setdefault(grouped[0], []).append(grouped[1])
    for name, shapes in groups.items():
        pred = _any_pred(shapes)
        if name is None:
            subs.append(lambda ctx, p=pred: any(map(p, ctx.all_strings())))
        else:
            subs.append(lambda ctx, p=pred, n=name: any(map(p, ctx.lstrs(n))))
    return subs


def compile_condition(node: Any) -> Matcher:
    """Compile a pySigma condition tree node into a closure over an event context."""
    if isinstance(node, ConditionAND):
        subs = [compile_condition(a) for a in node.args]
        if len(subs) == 2:
            a, b = subs
            return lambda ctx: a(ctx) and b(ctx)
        return lambda ctx: all(m(ctx) for m in subs)
    if isinstance(node, ConditionOR):
        subs = _compile_or(node.args)
        if len(subs) == 1:
            return subs[0]
        if len(subs) == 2:
            a, b = subs
            return lambda ctx: a(ctx) or b(ctx)
        return lambda ctx: any(m(ctx) for m in subs)
    if isinstance(node, ConditionNOT):
        (sub,) = [compile_condition(a) for a in node.args]
        return lambda ctx: not sub(ctx)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_matcher(node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        return _keyword_matcher(node.value)
    if node is None:
        raise UnsupportedRuleError("empty condition")
    raise UnsupportedRuleError(f"unsupported condition node {type(node).__name__}")


# --- public API -----------------------------------------------------------------------------


@dataclass
class CompiledRule:
    """A Sigma rule compiled to a Python predicate."""

    id: str
    title: str
    level: str | None
    status: str | None
    tags: list[str]
    logsource: dict[str, str | None]
    source: str | None
    description: str | None = None
    name: str | None = None
    sigma_rule: SigmaRule | None = field(repr=False, default=None)
    requirement: Requirement = field(repr=False, default=None)
    _matcher: Matcher = field(repr=False, default=lambda ctx: False)
    _filter: LogsourceFilter = field(repr=False, default_factory=lambda: LogsourceFilter("any"))

    def matches(self, event: dict[str, Any]) -> bool:
        """True if the detection condition matches ``event`` (logsource is not checked)."""
        return self._matcher(_Ctx(event))

    def applies_to(self, event: dict[str, Any]) -> bool:
        """True if the rule's logsource can match ``event``."""
        return self._filter.accepts_key(event_key(event)) and self._filter.accepts_event(event)

    @classmethod
    def from_sigma(cls, rule: SigmaRule, source: str | None = None) -> CompiledRule:
        """Compile a parsed pySigma rule; raises on unsupported constructs."""
        conditions = rule.detection.parsed_condition
        if not conditions:
            raise UnsupportedRuleError("rule has no condition")
        trees = [c.parse() for c in conditions]
        matchers = [compile_condition(t) for t in trees]
        matcher = matchers[0]
        if len(matchers) > 1:

            def matcher(ctx: _Ctx) -> bool:
                return any(m(ctx) for m in matchers)

        ls = rule.logsource
        return cls(
            id=str(rule.id) if rule.id else "",
            title=rule.title or "",
            level=rule.level.name.lower() if rule.level else None,
            status=rule.status.name.lower() if rule.status else None,
            tags=[str(t) for t in rule.tags or []],
            logsource={"product": ls.product, "category": ls.category, "service": ls.service},
            source=source,
            description=rule.description,
            name=rule.name,
            sigma_rule=rule,
            requirement=rule_requirement(trees),
            _matcher=matcher,
            _filter=logsource_filter(ls.product, ls.category, ls.service),
        )


@dataclass
class RuleLoadError:
    """A rule that could not be loaded and why."""

    path: str | None
    rule_id: str | None
    reason: str


class RuleSet:
    """A set of compiled rules with logsource-based candidate selection."""

    def __init__(
        self,
        rules: Iterable[CompiledRule],
        errors: Iterable[RuleLoadError] = (),
        correlations: Iterable[CorrelationRule] = (),
    ) -> None:
        self.rules: list[CompiledRule] = list(rules)
        self.errors: list[RuleLoadError] = list(errors)
        self.correlations: list[CorrelationRule] = list(correlations)
        self._indexes: dict[EventKey, KeyIndex] = {}
        self.load_seconds: float | None = None

    def __len__(self) -> int:
        return len(self.rules)

    @classmethod
    def from_dirs(
        cls,
        dirs: Iterable[str | PathLike[str]],
        on_error: Callable[[RuleLoadError], None] | None = None,
    ) -> RuleSet:
        """Load every *.yml/*.yaml rule below ``dirs`` (files are accepted too)."""
        from detections.loader import load_paths

        started = time.perf_counter()
        correlations: list[CorrelationRule] = []
        rules, errors = load_paths([Path(d) for d in dirs], on_error, correlations)
        ruleset = cls(rules, errors, correlations)
        ruleset.load_seconds = time.perf_counter() - started
        return ruleset

    @classmethod
    def from_rules(cls, rules: Iterable[CompiledRule | SigmaRule | str]) -> RuleSet:
        """Build from compiled rules, pySigma rules or YAML texts (errors are collected)."""
        from detections.loader import load_yaml_text

        compiled: list[CompiledRule] = []
        errors: list[RuleLoadError] = []
        correlations: list[CorrelationRule] = []
        for item in rules:
            if isinstance(item, CompiledRule):
                compiled.append(item)
            elif isinstance(item, SigmaRule):
                try:
                    compiled.append(CompiledRule.from_sigma(item))
                except Exception as exc:  # noqa: BLE001 - every failure becomes a load error
                    errors.append(RuleLoadError(None, str(item.id) if item.id else None, str(exc)))
            else:
                good, bad = load_yaml_text(item, None, correlations)
                compiled.extend(good)
                errors.extend(bad)
        return cls(compiled, errors, correlations)

    def index_for(self, key: EventKey) -> KeyIndex:
        """The candidate index of the rules whose logsource accepts ``key`` (built once)."""
        index = self._indexes.get(key)
        if index is None:
            index = KeyIndex([r for r in self.rules if r._filter.accepts_key(key)])
            self._indexes[key] = index
        return index

    def candidates(self, event: dict[str, Any]) -> list[CompiledRule]:
        """Rules whose logsource can match ``event`` (all of them, before literal indexing)."""
        return self.index_for(event_key(event)).rules

    def match(self, event: dict[str, Any]) -> list[CompiledRule]:
        """Return the rules matching ``event`` (after additive normalisation), in rule order."""
        event = _normalise(event)
        ctx = _Ctx(event)
        return [
            r
            for r in self.index_for(event_key(event)).candidates(ctx)
            if r._filter.accepts_event(event) and r._matcher(ctx)
        ]

    def match_all(self, event: dict[str, Any]) -> list[CompiledRule]:
        """Like ``match`` but without the literal index (reference path for tests)."""
        event = _normalise(event)
        ctx = _Ctx(event)
        return [
            r for r in self.candidates(event) if r._filter.accepts_event(event) and r._matcher(ctx)
        ]


def normalise_event(event: dict[str, Any]) -> dict[str, Any]:
    """Additive normalisation applied before matching (e.g. Security 4688 aliases)."""
    return _normalise(event)
