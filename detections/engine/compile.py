"""Compile pySigma condition trees into closures over an event context."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
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
)

from detections.engine.errors import UnsupportedRuleError
from detections.engine.fields import MISSING, EventContext, as_values, collect_strings, to_number
from detections.engine.patterns import (
    Shape,
    StrPred,
    any_pred,
    regex_search,
    string_parts,
    string_pred,
    string_shape,
)

Matcher = Callable[[EventContext], bool]

# --- value matchers (field level) ---------------------------------------------------------


def _string_matcher(name: str, value: SigmaString) -> Matcher:
    cased = isinstance(value, SigmaCasedString)
    parts = string_parts(value)
    pred = string_pred(parts, cased)
    if cased:
        return lambda ctx: any(pred(s) for s in ctx.strs(name))
    if not parts:

        def match_empty(ctx: EventContext) -> bool:
            v = ctx.get(name)
            return v is None or any(s == "" for s in ctx.strs(name))

        return match_empty
    return lambda ctx: any(pred(s) for s in ctx.lstrs(name))


def _bool_matcher(name: str, value: SigmaBool) -> Matcher:
    b = value.boolean
    text = "true" if b else "false"

    def match_bool(ctx: EventContext) -> bool:
        for v in as_values(ctx.get(name)):
            if isinstance(v, bool):
                if v is b:
                    return True
            elif isinstance(v, str | int) and str(v).strip().lower() == text:
                return True
        return False

    return match_bool


def _number_matcher(name: str, value: SigmaNumber) -> Matcher:
    num = value.number
    text = str(num).lower()

    def match_number(ctx: EventContext) -> bool:
        for v in as_values(ctx.get(name)):
            if isinstance(v, bool):
                continue
            n = to_number(v)
            if n is not None and n == num:
                return True
            if isinstance(v, str) and v.strip().lower() == text:
                return True
        return False

    return match_number


def _null_matcher(name: str, value: SigmaNull) -> Matcher:
    def match_null(ctx: EventContext) -> bool:
        v = ctx.get(name)
        return bool(v is MISSING or v is None or v == "" or v == [])

    return match_null


def _exists_matcher(name: str, value: SigmaExists) -> Matcher:
    want = bool(value.exists)
    return lambda ctx: (ctx.get(name) is not MISSING) is want


def _regex_flags(value: SigmaRegularExpression) -> int:
    flags = 0
    for flag in value.flags:
        flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
    return flags


def _regex_matcher(name: str, value: SigmaRegularExpression) -> Matcher:
    if value.regexp.contains_placeholder():
        raise UnsupportedRuleError("placeholders in regular expressions are not supported")
    search = regex_search(str(value.regexp), _regex_flags(value), f"field {name}")
    return lambda ctx: any(search(s) for s in ctx.strs(name))


def _cidr_matcher(name: str, value: SigmaCIDRExpression) -> Matcher:
    network = value.network

    def match_cidr(ctx: EventContext) -> bool:
        for s in ctx.strs(name):
            try:
                if ipaddress.ip_address(s.strip().strip("[]")) in network:
                    return True
            except ValueError:
                continue
        return False

    return match_cidr


def _compare_matcher(name: str, value: SigmaCompareExpression) -> Matcher:
    ref = value.number.number
    cmp: Callable[[Any], bool] = {
        CompareOperators.LT: lambda n: n < ref,
        CompareOperators.LTE: lambda n: n <= ref,
        CompareOperators.GT: lambda n: n > ref,
        CompareOperators.GTE: lambda n: n >= ref,
        CompareOperators.NEQ: lambda n: n != ref,
    }[value.op]

    def match_compare(ctx: EventContext) -> bool:
        for v in as_values(ctx.get(name)):
            n = to_number(v)
            if n is not None and cmp(n):
                return True
        return False

    return match_compare


def _ref_matches(s: str, r: str, starts: bool, ends: bool) -> bool:
    if starts and ends:
        return r in s
    if starts:
        return s.startswith(r)
    if ends:
        return s.endswith(r)
    return s == r


def _ref_matcher(name: str, value: SigmaFieldReference) -> Matcher:
    other = value.field
    starts, ends = value.starts_with, value.ends_with

    def match_ref(ctx: EventContext) -> bool:
        refs = ctx.lstrs(other)
        if not refs:
            return False
        return any(_ref_matches(s, r, starts, ends) for s in ctx.lstrs(name) for r in refs)

    return match_ref


# In isinstance order: SigmaCasedString is a SigmaString, the first match wins.
_FIELD_MATCHERS: tuple[tuple[type, Callable[[str, Any], Matcher]], ...] = (
    (SigmaString, _string_matcher),
    (SigmaBool, _bool_matcher),
    (SigmaNumber, _number_matcher),
    (SigmaNull, _null_matcher),
    (SigmaExists, _exists_matcher),
    (SigmaRegularExpression, _regex_matcher),
    (SigmaCIDRExpression, _cidr_matcher),
    (SigmaCompareExpression, _compare_matcher),
    (SigmaFieldReference, _ref_matcher),
)


def field_matcher(name: str, value: Any) -> Matcher:
    """Compile ``field <op> value`` into a predicate over an event context."""
    if isinstance(value, SigmaExpansion):
        subs = [field_matcher(name, v) for v in value.values]
        return lambda ctx: any(m(ctx) for m in subs)
    for kind, build in _FIELD_MATCHERS:
        if isinstance(value, kind):
            return build(name, value)
    raise UnsupportedRuleError(f"unsupported value type {type(value).__name__} for field {name}")


def keyword_matcher(value: Any) -> Matcher:
    """Compile a keyword (field-less value): substring search over all event values."""
    if isinstance(value, SigmaExpansion):
        subs = [keyword_matcher(v) for v in value.values]
        return lambda ctx: any(m(ctx) for m in subs)
    if isinstance(value, SigmaNumber):
        value = SigmaString(str(value.number))
    if isinstance(value, SigmaString):
        cased = isinstance(value, SigmaCasedString)
        pred = string_pred(string_parts(value), cased, search=True)
        if cased:

            def match_cased(ctx: EventContext) -> bool:
                out: list[str] = []
                collect_strings(ctx.data, out)
                return any(pred(s) for s in out)

            return match_cased
        return lambda ctx: any(pred(s) for s in ctx.all_strings())
    if isinstance(value, SigmaRegularExpression):
        search = regex_search(str(value.regexp), _regex_flags(value), "keywords")

        def match_re(ctx: EventContext) -> bool:
            out: list[str] = []
            collect_strings(ctx.data, out)
            return any(search(s) for s in out)

        return match_re
    raise UnsupportedRuleError(f"unsupported keyword value type {type(value).__name__}")


# --- condition trees -------------------------------------------------------------------------


def _groupable_shape(node: Any) -> tuple[str | None, Shape] | None:
    """(field or None for keywords, shape) for OR members that can share one predicate."""
    value = getattr(node, "value", None)
    if isinstance(node, ConditionValueExpression) and isinstance(value, SigmaNumber):
        value = SigmaString(str(value.number))
    if type(value) is not SigmaString:  # cased strings and other types stay separate
        return None
    parts = string_parts(value)
    if isinstance(node, ConditionFieldEqualsValueExpression) and parts:
        return node.field, string_shape(parts, cased=False)
    if isinstance(node, ConditionValueExpression):
        return None, string_shape(parts, cased=False, search=True)
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
        pred = any_pred(shapes)
        # defaults, not closures: the hottest matchers of the corpus (fast local look-ups)
        if name is None:

            def any_keyword(ctx: EventContext, p: StrPred = pred) -> bool:
                return any(map(p, ctx.all_strings()))

            subs.append(any_keyword)
        else:

            def any_value(ctx: EventContext, p: StrPred = pred, n: str = name) -> bool:
                return any(map(p, ctx.lstrs(n)))

            subs.append(any_value)
    return subs


def _all_of(subs: list[Matcher]) -> Matcher:
    if len(subs) == 2:
        a, b = subs
        return lambda ctx: a(ctx) and b(ctx)
    return lambda ctx: all(m(ctx) for m in subs)


def _one_of(subs: list[Matcher]) -> Matcher:
    if len(subs) == 1:
        return subs[0]
    if len(subs) == 2:
        a, b = subs
        return lambda ctx: a(ctx) or b(ctx)
    return lambda ctx: any(m(ctx) for m in subs)


def compile_condition(node: Any) -> Matcher:
    """Compile a pySigma condition tree node into a closure over an event context."""
    if isinstance(node, ConditionAND):
        return _all_of([compile_condition(a) for a in node.args])
    if isinstance(node, ConditionOR):
        return _one_of(_compile_or(node.args))
    if isinstance(node, ConditionNOT):
        (sub,) = [compile_condition(a) for a in node.args]
        return lambda ctx: not sub(ctx)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return field_matcher(node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        return keyword_matcher(node.value)
    if node is None:
        raise UnsupportedRuleError("empty condition")
    raise UnsupportedRuleError(f"unsupported condition node {type(node).__name__}")
