"""Necessary conditions ("requirements") of Sigma conditions, for candidate-rule indexing.

A requirement is a set of clauses (a DNF): a rule can match an event only if every token of at
least one clause is present in it. Tokens are lower-cased literals (present = a substring of some
lower-cased value of the event, the same strings the matcher compares) or numbers (present = a
value of the ``EventID`` field, compared as the matcher compares numbers). ``None`` means "no
requirement": the rule must be evaluated on every event of its log source.

The derivation is conservative: a rule that can match an event always has one of its tokens in
that event, so indexing never loses a match (false candidates are evaluated and rejected).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    Placeholder,
    SigmaCasedString,
    SigmaExpansion,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

# Python >= 3.11 names (no stubs in typeshed); the parser is only used to find literals.
_re_constants: Any = importlib.import_module("re._constants")
_re_parser: Any = importlib.import_module("re._parser")

Token = str | int | float
Clause = frozenset[Token]
Requirement = frozenset[Clause] | None

EVENT_ID_FIELD = "EventID"
# Weight of an EventID token when choosing the most selective branch of an AND.
_EVENT_ID_WEIGHT = 6
# Literals shorter than this are too common to be worth indexing on their own.
MIN_LITERAL = 2
# Tokens kept per clause and clauses per AND-refined requirement.
MAX_CLAUSE = 4
MAX_CLAUSES = 64


def _literal(value: SigmaString) -> str | None:
    """Longest literal run of a Sigma string pattern, lower-cased; None if none is usable."""
    cased = isinstance(value, SigmaCasedString)
    best = ""
    run = ""
    for part in (*value.s, SpecialChars.WILDCARD_MULTI):
        if isinstance(part, str) and not isinstance(part, Placeholder):
            run += part
            continue
        if cased and not run.isascii():
            # Lower-casing is context-free only for ASCII: keep the requirement exact.
            run = "".join(c if c.isascii() else "\x00" for c in run)
            candidates = [r for r in run.split("\x00") if r]
            run = max(candidates, key=len) if candidates else ""
        if len(run) > len(best):
            best = run
        run = ""
    return _usable(best.lower())


def _usable(literal: str) -> str | None:
    """The literal if it is selective enough to index (short ASCII runs are everywhere)."""
    if len(literal) >= MIN_LITERAL or (literal and not literal.isascii()):
        return literal
    return None


# Characters that Python's case-insensitive regex matching pairs with non-ASCII characters
# whose lower() form differs (re._casefix): a literal run is split at them to stay exact.
_REGEX_CASE_SPLIT = re.compile("[is]")


def _regex_literal(value: SigmaRegularExpression) -> str | None:
    """Longest literal run a regex match must contain (top-level sequence only), lower-cased."""
    flags = 0
    for flag in value.flags:
        flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
    try:
        parsed = _re_parser.parse(str(value.regexp), flags)
    except Exception:  # noqa: BLE001 - an unparsable regex simply has no requirement
        return None
    if parsed.state.flags & re.VERBOSE:
        return None
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    runs: list[str] = []
    run = ""
    for op, arg in (*parsed.data, (None, None)):
        if op == _re_constants.LITERAL:
            run += chr(arg)
            continue
        runs.append(run)
        run = ""
    best = ""
    for run in runs:
        # Only ASCII keeps lower() context-free; case-insensitive runs also split at i/s.
        pieces = re.split("[^\x00-\x7f]", run)
        if ignore_case:
            pieces = [p for piece in pieces for p in _REGEX_CASE_SPLIT.split(piece.lower())]
        for piece in pieces:
            if len(piece) > len(best):
                best = piece
    best = best.lower()
    return best if len(best) >= MIN_LITERAL else None


def _token_weight(token: Token) -> int:
    return min(len(token), 24) if isinstance(token, str) else _EVENT_ID_WEIGHT


def _clause_weight(clause: frozenset[Token]) -> int:
    return sum(sorted((_token_weight(t) for t in clause), reverse=True)[:MAX_CLAUSE])


def _weight(req: frozenset[Clause]) -> tuple[int, int]:
    """Selectivity of a requirement (higher is better): weakest clause first, then fewer."""
    return (min(_clause_weight(c) for c in req), -len(req))


def _trim(clause: frozenset[Token]) -> frozenset[Token]:
    """Keep the strongest tokens of a clause (dropping tokens only weakens it: still safe)."""
    if len(clause) <= MAX_CLAUSE:
        return clause
    return frozenset(sorted(clause, key=lambda t: (-_token_weight(t), str(t)))[:MAX_CLAUSE])


def _single(token: Token) -> frozenset[Clause]:
    return frozenset({frozenset({token})})


def _value_requirement(field: str | None, value: Any) -> Requirement:
    if isinstance(value, SigmaExpansion):
        return _union([_value_requirement(field, v) for v in value.values])
    if field is None and isinstance(value, SigmaNumber):
        value = SigmaString(str(value.number))
    if isinstance(value, SigmaString):
        literal = _literal(value)
        return _single(literal) if literal else None
    if isinstance(value, SigmaRegularExpression):
        literal = _regex_literal(value)
        return _single(literal) if literal else None
    if (
        field == EVENT_ID_FIELD
        and isinstance(value, SigmaNumber)
        and isinstance(value.number, int | float)
        and not isinstance(value.number, bool)
    ):
        return _single(value.number)
    return None


def _union(reqs: list[Requirement]) -> Requirement:
    out: set[Clause] = set()
    for req in reqs:
        if req is None:
            return None
        out |= req
    return frozenset(out) if out else None


def _conjunction(reqs: list[frozenset[Clause]]) -> Requirement:
    """AND of requirements: the best one, refined by the next ones while the product is small."""
    if not reqs:
        return None
    ordered = sorted(reqs, key=_weight, reverse=True)
    acc = ordered[0]
    for other in ordered[1:]:
        if len(acc) * len(other) > MAX_CLAUSES:
            continue
        acc = frozenset(_trim(a | b) for a in acc for b in other)
    return acc


def requirement(node: Any) -> Requirement:
    """Requirement of a parsed pySigma condition tree node."""
    if isinstance(node, ConditionAND):
        return _conjunction([r for r in (requirement(a) for a in node.args) if r is not None])
    if isinstance(node, ConditionOR):
        return _union([requirement(a) for a in node.args])
    if isinstance(node, ConditionNOT):
        return None
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _value_requirement(node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        return _value_requirement(None, node.value)
    return None


def rule_requirement(trees: list[Any]) -> Requirement:
    """Requirement of a rule whose condition list is ``trees`` (they are OR-ed)."""
    return _union([requirement(t) for t in trees])
