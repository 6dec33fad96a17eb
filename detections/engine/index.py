"""Candidate-rule index for one log-source key: one multi-literal scan over required literals.

For the rules that apply to one event key (kind, channel, EventID), each rule is filed under the
tokens of its requirement (see ``detections.engine.prefilter``). Per event, one multi-literal
scan over the event's lower-cased values plus a look-up of its EventID values gives the
candidate rules; rules without a requirement are always evaluated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ahocorasick

from detections.engine.fields import EventContext
from detections.engine.prefilter import Token
from detections.engine.scanner import make_scanner

if TYPE_CHECKING:
    from detections.engine.rule import CompiledRule

# Head-token choice: rule frequency of the token plus this penalty divided by its length.
SHORT_PENALTY = 40.0
NUMBER_LENGTH = 4


def _containment_frequency(rules: Sequence[CompiledRule]) -> Counter[Token]:
    """How many rule tokens imply each token: a literal occurs in an event whenever any rule
    literal containing it does, so this approximates how common it is in events."""
    direct: Counter[Token] = Counter(
        token for rule in rules for clause in rule.requirement or () for token in clause
    )
    literals = [t for t in direct if isinstance(t, str)]
    out: Counter[Token] = Counter({t: n for t, n in direct.items() if not isinstance(t, str)})
    if not literals:
        return out
    automaton = ahocorasick.Automaton()
    for literal in literals:
        automaton.add_word(literal, literal)
    automaton.make_automaton()
    for literal in literals:
        for contained in {found for _, found in automaton.iter(literal)}:
            out[contained] += direct[literal]
    return out


class KeyIndex:
    """Candidate selection for the rules of one event key (rules kept in their given order).

    Every token gets an id; one scan gives the ids present in the event. Each requirement
    clause is filed under its rarest token (its head), so an event visits few clauses; the
    clause's other tokens are then a set look-up.
    """

    __slots__ = ("rules", "always", "_scanner", "_direct", "_conditional", "_number_ids")

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules: list[CompiledRule] = list(rules)
        self.always: list[int] = []
        literal_ids: dict[str, int] = {}
        self._number_ids: dict[Any, int] = {}
        # token id -> rules whose clause is that token alone / (rule, other token ids)
        self._direct: list[list[int]] = []
        self._conditional: list[list[tuple[int, tuple[int, ...]]]] = []
        frequency = _containment_frequency(self.rules)

        def cost(token: Token) -> tuple[float, str]:
            """Guess of how often a token occurs in events: common in rules, or short."""
            length = len(token) if isinstance(token, str) else NUMBER_LENGTH
            return (frequency[token] + SHORT_PENALTY / min(length, 16), str(token))

        def token_id(token: Token) -> int:
            ids: dict[Any, int] = literal_ids if isinstance(token, str) else self._number_ids
            tid = ids.get(token)
            if tid is None:
                tid = ids[token] = len(self._direct)
                self._direct.append([])
                self._conditional.append([])
            return tid

        for index, rule in enumerate(self.rules):
            if rule.requirement is None:
                self.always.append(index)
                continue
            for clause in rule.requirement:
                head = min(clause, key=cost)
                rest = tuple(sorted(token_id(t) for t in clause if t != head))
                if rest:
                    self._conditional[token_id(head)].append((index, rest))
                else:
                    self._direct[token_id(head)].append(index)
        self._scanner = make_scanner(literal_ids) if literal_ids else None

    def candidates(self, ctx: EventContext) -> list[CompiledRule]:
        """Rules that may match the event of ``ctx``, in rule order."""
        present: set[int] = self._scanner.scan(ctx.haystack()) if self._scanner else set()
        if self._number_ids:
            for number in ctx.event_ids():
                tid = self._number_ids.get(number)
                if tid is not None:
                    present.add(tid)
        picked: set[int] = set(self.always)
        direct, conditional = self._direct, self._conditional
        for tid in present:
            picked.update(direct[tid])
            for index, rest in conditional[tid]:
                if present.issuperset(rest):
                    picked.add(index)
        rules = self.rules
        return [rules[i] for i in sorted(picked)]

    def stats(self) -> dict[str, int]:
        """Sizes, for diagnostics and the benchmark."""
        return {
            "rules": len(self.rules),
            "always": len(self.always),
            "tokens": len(self._direct),
        }
