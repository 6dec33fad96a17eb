"""String patterns of Sigma values: wildcard shapes, their predicates and linear-time regexes."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ahocorasick
from sigma.types import Placeholder, SigmaString, SpecialChars

from detections.engine.errors import UnsafeRegexError, UnsupportedRuleError
from detections.engine.safe_regex import TranslationData, UnsafeRegex, compile_search

StrPred = Callable[[str], bool]


def string_parts(value: SigmaString) -> list[str | SpecialChars]:
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


# A shape is plain data (it is cached on disk with the compiled rule, see
# detections.engine.cache): (kind, literal) or ("regex", pattern), the pattern a sequence of
# literals and the wildcard codes below; predicates are built from it by shape_pred/any_pred.
Shape = tuple[str, Any]
Pattern = Sequence[str | int]
STAR, ONE = 0, 1  # `*` and `?` in a shape's pattern


def string_shape(parts: list[str | SpecialChars], cased: bool, search: bool = False) -> Shape:
    """Classify a wildcard pattern: ("eq"|"contains"|"startswith"|"endswith", literal),
    ("any", None) or ("regex", pattern); literals lower-cased unless cased."""
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
    return ("regex", [p if isinstance(p, str) else STAR if p == star else ONE for p in norm])


@dataclass(frozen=True)
class _Wildcard:
    """A wildcard pattern needing a full match. With at most one `*` it is a Python regex
    (linear: one anchored greedy run); with more, a regex of k `.*` backtracks in O(n^k) on a
    value that fails late, and event values run to megabytes: then the pattern is matched as
    fixed-length pieces between the stars, each found leftmost (linear, same answer)."""

    python: re.Pattern[str] | None
    match: StrPred = field(compare=False)


def _is_star(p: str | int) -> bool:
    return not isinstance(p, str) and p == STAR


def _wildcard(norm: Pattern) -> _Wildcard:
    if sum(_is_star(p) for p in norm) > 1:
        return _Wildcard(None, _glob(norm))
    source = "".join(
        re.escape(p) if isinstance(p, str) else (".*" if p == STAR else ".") for p in norm
    )
    python = re.compile(source, re.DOTALL)
    return _Wildcard(python, lambda s: python.fullmatch(s) is not None)


_Piece = tuple[int, str | None, re.Pattern[str] | None]  # length, literal or fixed-length regex


def _piece(parts: list[str | int]) -> _Piece:
    if all(isinstance(p, str) for p in parts):
        text = "".join(parts)  # type: ignore[arg-type]
        return len(text), text, None
    source = "".join(re.escape(p) if isinstance(p, str) else "." for p in parts)
    length = sum(len(p) if isinstance(p, str) else 1 for p in parts)
    return length, None, re.compile(source, re.DOTALL)


def _glob(norm: Pattern) -> StrPred:
    """Full match of ``head * mid1 * … * tail`` (pieces of literals and `?`): the head at the
    start, the tail at the end, each middle piece at its leftmost place after the previous
    one (leftmost is never worse for what follows)."""
    pieces: list[list[str | int]] = [[]]
    for p in norm:
        if _is_star(p):
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


def shape_pred(shape: Shape) -> StrPred:
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
    return _wildcard(arg).match


def string_pred(parts: list[str | SpecialChars], cased: bool, search: bool = False) -> StrPred:
    """Predicate over a (lower-cased unless ``cased``) string for a wildcard pattern."""
    return shape_pred(string_shape(parts, cased, search))


# Above this many `contains` literals in one OR, an Aho-Corasick automaton does the search.
_AUTOMATON_MIN = 6


def any_pred(shapes: list[Shape]) -> StrPred:
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
            checks.extend(shape_pred(("contains", n)) for n in needles)
    if "regex" in by_kind:
        wildcards = [_wildcard(pattern) for pattern in by_kind["regex"]]
        simple = [w.python.pattern for w in wildcards if w.python is not None]
        if simple:
            combined = re.compile("|".join(f"(?:{p})" for p in simple), re.DOTALL)
            checks.append(lambda s: combined.fullmatch(s) is not None)
        checks.extend(w.match for w in wildcards if w.python is None)
    if len(checks) == 1:
        return checks[0]
    return lambda s: any(check(s) for check in checks)


def regex_search(
    pattern: str, flags: int, where: str, translation: TranslationData = None
) -> StrPred:
    """A Sigma `re` value as a linear-time search (see detections.engine.safe_regex), from
    its ``translation_of``."""
    try:
        return compile_search(pattern, flags, translation=translation)
    except re.error as exc:
        raise UnsupportedRuleError(f"invalid regular expression: {exc}") from exc
    except UnsafeRegex as exc:
        raise UnsafeRegexError(f"{where}: {exc}") from exc
