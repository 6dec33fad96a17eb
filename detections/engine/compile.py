"""Compile pySigma condition trees into closures over an event context, in two steps.

``lower`` turns a pySigma condition tree into a plan: nested lists of strings, numbers and
booleans that say which predicate each node is (the pySigma-specific work: value types,
wildcard parts, the grouping of OR members). ``build`` turns a plan into closures. A plan is
plain data, so a rule set's plans can be cached on disk (detections.engine.cache) and rebuilt
into closures without pySigma; ``compile_condition`` is both steps.

A plan node is a list whose first item names it:

    ["and", [node, ...]]            ["or", [node, ...]]        ["not", node]
    ["any", [node, ...]]            (a value expansion: any of the values)
    ["str", field, cased, empty, shape]    ["kw", cased, shape]
    ["values", field, [shape, ...]]        ["keywords", [shape, ...]]   (merged OR members)
    ["re", field, pattern, flags, translation]    ["kwre", pattern, flags, translation]
    ["bool", field, b]   ["num", field, number]   ["null", field]   ["exists", field, want]
    ["cidr", field, network]   ["cmp", field, operator, number]
    ["ref", field, other field, starts_with, ends_with]

(``translation``: the regex in RE2 syntax, detections.engine.safe_regex.translation_of.)
Numbers are kept as their ``repr`` (int or float, NaN and infinities included) so that a JSON
round trip cannot change them.
"""

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
    shape_pred,
    string_parts,
    string_shape,
)
from detections.engine.safe_regex import TranslationData, translation_of

Matcher = Callable[[EventContext], bool]
Plan = list[Any]


def number_text(number: int | float) -> str:
    """A number as plan data (see the module doc)."""
    return repr(number)


def text_number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


# --- lowering: pySigma values and trees to plans -----------------------------------------------


def _regex_flags(value: SigmaRegularExpression) -> int:
    flags = 0
    for flag in value.flags:
        flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
    return flags


def _lower_string(name: str, value: SigmaString) -> Plan:
    cased = isinstance(value, SigmaCasedString)
    parts = string_parts(value)
    return ["str", name, cased, not parts, list(string_shape(parts, cased))]


def _lower_regex(name: str, value: SigmaRegularExpression) -> Plan:
    if value.regexp.contains_placeholder():
        raise UnsupportedRuleError("placeholders in regular expressions are not supported")
    pattern, flags = str(value.regexp), _regex_flags(value)
    return ["re", name, pattern, flags, translation_of(pattern, flags)]


# In isinstance order: SigmaCasedString is a SigmaString, the first match wins.
_FIELD_LOWERINGS: tuple[tuple[type, Callable[[str, Any], Plan]], ...] = (
    (SigmaString, _lower_string),
    (SigmaBool, lambda name, v: ["bool", name, bool(v.boolean)]),
    (SigmaNumber, lambda name, v: ["num", name, number_text(v.number)]),
    (SigmaNull, lambda name, v: ["null", name]),
    (SigmaExists, lambda name, v: ["exists", name, bool(v.exists)]),
    (SigmaRegularExpression, _lower_regex),
    (SigmaCIDRExpression, lambda name, v: ["cidr", name, str(v.network)]),
    (
        SigmaCompareExpression,
        lambda name, v: ["cmp", name, v.op.name, number_text(v.number.number)],
    ),
    (
        SigmaFieldReference,
        lambda name, v: ["ref", name, v.field, bool(v.starts_with), bool(v.ends_with)],
    ),
)


def lower_field(name: str, value: Any) -> Plan:
    """The plan of ``field <op> value``."""
    if isinstance(value, SigmaExpansion):
        return ["any", [lower_field(name, v) for v in value.values]]
    for kind, lower in _FIELD_LOWERINGS:
        if isinstance(value, kind):
            return lower(name, value)
    raise UnsupportedRuleError(f"unsupported value type {type(value).__name__} for field {name}")


def lower_keyword(value: Any) -> Plan:
    """The plan of a keyword (field-less value): substring search over all event values."""
    if isinstance(value, SigmaExpansion):
        return ["any", [lower_keyword(v) for v in value.values]]
    if isinstance(value, SigmaNumber):
        value = SigmaString(str(value.number))
    if isinstance(value, SigmaString):
        cased = isinstance(value, SigmaCasedString)
        return ["kw", cased, list(string_shape(string_parts(value), cased, search=True))]
    if isinstance(value, SigmaRegularExpression):
        pattern, flags = str(value.regexp), _regex_flags(value)
        return ["kwre", pattern, flags, translation_of(pattern, flags)]
    raise UnsupportedRuleError(f"unsupported keyword value type {type(value).__name__}")


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


def _lower_or(args: Iterable[Any]) -> list[Plan]:
    """OR members; plain string values on the same field (or keywords) are merged."""
    groups: dict[str | None, list[Shape]] = {}
    subs: list[Plan] = []
    for arg in args:
        grouped = _groupable_shape(arg)
        if grouped is None:
            subs.append(lower(arg))
        else:
            groups.setdefault(grouped[0], []).append(grouped[1])
    for name, shapes in groups.items():
        listed = [list(shape) for shape in shapes]
        subs.append(["keywords", listed] if name is None else ["values", name, listed])
    return subs


def lower(node: Any) -> Plan:
    """The plan of a pySigma condition tree node; raises on unsupported constructs."""
    if isinstance(node, ConditionAND):
        return ["and", [lower(a) for a in node.args]]
    if isinstance(node, ConditionOR):
        return ["or", _lower_or(node.args)]
    if isinstance(node, ConditionNOT):
        (sub,) = [lower(a) for a in node.args]
        return ["not", sub]
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return lower_field(node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        return lower_keyword(node.value)
    if node is None:
        raise UnsupportedRuleError("empty condition")
    raise UnsupportedRuleError(f"unsupported condition node {type(node).__name__}")


# --- building: plans to closures ---------------------------------------------------------------


def _string_matcher(name: str, cased: bool, empty: bool, shape: Shape) -> Matcher:
    pred = shape_pred(shape)
    if cased:
        return lambda ctx: any(pred(s) for s in ctx.strs(name))
    if empty:

        def match_empty(ctx: EventContext) -> bool:
            v = ctx.get(name)
            return v is None or any(s == "" for s in ctx.strs(name))

        return match_empty
    return lambda ctx: any(pred(s) for s in ctx.lstrs(name))


def _bool_matcher(name: str, b: bool) -> Matcher:
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


def _number_matcher(name: str, number: str) -> Matcher:
    num = text_number(number)
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


def _null_matcher(name: str) -> Matcher:
    def match_null(ctx: EventContext) -> bool:
        v = ctx.get(name)
        return bool(v is MISSING or v is None or v == "" or v == [])

    return match_null


def _exists_matcher(name: str, want: bool) -> Matcher:
    return lambda ctx: (ctx.get(name) is not MISSING) is want


def _regex_matcher(name: str, pattern: str, flags: int, translation: TranslationData) -> Matcher:
    search = regex_search(pattern, flags, f"field {name}", translation)
    return lambda ctx: any(search(s) for s in ctx.strs(name))


def _cidr_matcher(name: str, network_text: str) -> Matcher:
    network = ipaddress.ip_network(network_text)

    def match_cidr(ctx: EventContext) -> bool:
        for s in ctx.strs(name):
            try:
                if ipaddress.ip_address(s.strip().strip("[]")) in network:
                    return True
            except ValueError:
                continue
        return False

    return match_cidr


def _compare_matcher(name: str, op: str, number: str) -> Matcher:
    ref = text_number(number)
    cmp: Callable[[Any], bool] = {
        "LT": lambda n: n < ref,
        "LTE": lambda n: n <= ref,
        "GT": lambda n: n > ref,
        "GTE": lambda n: n >= ref,
        "NEQ": lambda n: n != ref,
    }[op]

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


def _ref_matcher(name: str, other: str, starts: bool, ends: bool) -> Matcher:
    def match_ref(ctx: EventContext) -> bool:
        refs = ctx.lstrs(other)
        if not refs:
            return False
        return any(_ref_matches(s, r, starts, ends) for s in ctx.lstrs(name) for r in refs)

    return match_ref


def _keyword_matcher(cased: bool, shape: Shape) -> Matcher:
    pred = shape_pred(shape)
    if cased:

        def match_cased(ctx: EventContext) -> bool:
            out: list[str] = []
            collect_strings(ctx.data, out)
            return any(pred(s) for s in out)

        return match_cased
    return lambda ctx: any(pred(s) for s in ctx.all_strings())


def _keyword_regex_matcher(pattern: str, flags: int, translation: TranslationData) -> Matcher:
    search = regex_search(pattern, flags, "keywords", translation)

    def match_re(ctx: EventContext) -> bool:
        out: list[str] = []
        collect_strings(ctx.data, out)
        return any(search(s) for s in out)

    return match_re


def _keywords_matcher(shapes: list[Shape]) -> Matcher:
    # defaults, not closures: the hottest matchers of the corpus (fast local look-ups)
    def any_keyword(ctx: EventContext, p: StrPred = any_pred(shapes)) -> bool:
        return any(map(p, ctx.all_strings()))

    return any_keyword


def _values_matcher(name: str, shapes: list[Shape]) -> Matcher:
    def any_value(ctx: EventContext, p: StrPred = any_pred(shapes), n: str = name) -> bool:
        return any(map(p, ctx.lstrs(n)))

    return any_value


def _expansion(subs: list[Matcher]) -> Matcher:
    return lambda ctx: any(m(ctx) for m in subs)


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


def _negation(sub: Matcher) -> Matcher:
    return lambda ctx: not sub(ctx)


_LEAVES: dict[str, Callable[..., Matcher]] = {
    "str": _string_matcher,
    "bool": _bool_matcher,
    "num": _number_matcher,
    "null": _null_matcher,
    "exists": _exists_matcher,
    "re": _regex_matcher,
    "cidr": _cidr_matcher,
    "cmp": _compare_matcher,
    "ref": _ref_matcher,
    "kw": _keyword_matcher,
    "kwre": _keyword_regex_matcher,
    "keywords": _keywords_matcher,
    "values": _values_matcher,
}


def build(plan: Plan) -> Matcher:
    """The closure of a plan (see the module doc); raises on a regex this engine refuses."""
    tag = plan[0]
    if tag == "and":
        return _all_of([build(p) for p in plan[1]])
    if tag == "or":
        return _one_of([build(p) for p in plan[1]])
    if tag == "any":
        return _expansion([build(p) for p in plan[1]])
    if tag == "not":
        return _negation(build(plan[1]))
    leaf = _LEAVES.get(tag)
    if leaf is None:
        raise UnsupportedRuleError(f"unknown plan node {tag!r}")
    return leaf(*plan[1:])


def field_matcher(name: str, value: Any) -> Matcher:
    """Compile ``field <op> value`` into a predicate over an event context."""
    return build(lower_field(name, value))


def keyword_matcher(value: Any) -> Matcher:
    """Compile a keyword (field-less value): substring search over all event values."""
    return build(lower_keyword(value))


def compile_condition(node: Any) -> Matcher:
    """Compile a pySigma condition tree node into a closure over an event context."""
    return build(lower(node))
