"""Exception filters: field/value conditions that suppress a rule's matches for a tenant.

A filter holds when every condition holds; a condition holds when any of its values matches
any value of the field (case-insensitive, like Sigma; `re` is a case-sensitive search unless the
pattern says `(?i)`). Fields are looked up as the matcher does: exact name, then
case-insensitive, then dotted path, on the normalised event (Security 4688 aliases included).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from detections.engine import _Ctx, normalise_event
from detections.engine.safe_regex import UnsafeRegex, compile_search
from soc.core.errors import Invalid
from soc.core.i18n import N_

log = logging.getLogger(__name__)
MODIFIERS = ("equals", "contains", "startswith", "endswith", "re")
ValuePred = Callable[[str], bool]


def _value_pred(modifier: str, value: str) -> ValuePred:
    if modifier == "re":
        # a tenant's pattern: linear time on RE2, never Python's backtracking `re`
        try:
            return compile_search(value, trusted=False)
        except re.error as exc:
            raise Invalid(
                N_("invalid regular expression {value!r}: {exc}"), value=value, exc=exc
            ) from exc
        except UnsafeRegex as exc:
            raise Invalid(str(exc)) from exc
    low = value.lower()
    if modifier == "equals":
        return lambda s: s.lower() == low
    if modifier == "contains":
        return lambda s: low in s.lower()
    if modifier == "startswith":
        return lambda s: s.lower().startswith(low)
    return lambda s: s.lower().endswith(low)


def _stored_pred(exception_id: int, modifier: str, value: str) -> ValuePred:
    """A stored condition's predicate. One stored before patterns had to run in linear time
    and that RE2 cannot run never holds (more alerts, never a stalled ingest)."""
    try:
        return _value_pred(modifier, value)
    except Invalid as exc:
        log.warning("exception %s: condition %r no longer applies: %s", exception_id, value, exc)
        return lambda s: False


def normalise_conditions(raw: Any) -> list[dict[str, Any]]:
    """Checked, canonical conditions ({field, modifier, value: [str, ...]}); Invalid if not."""
    if not isinstance(raw, list) or not raw:
        raise Invalid(N_("an exception needs at least one condition"))
    out: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise Invalid(N_("each condition is an object {field, modifier, value}"))
        field = item.get("field")
        modifier = item.get("modifier", "equals")
        values = item.get("value")
        if not isinstance(field, str) or not field.strip():
            raise Invalid(N_("a condition needs a field name"))
        if modifier not in MODIFIERS:
            raise Invalid(
                N_("unknown modifier {modifier!r}; use one of {modifiers}"),
                modifier=modifier,
                modifiers=", ".join(MODIFIERS),
            )
        if isinstance(values, str | int | float) and not isinstance(values, bool):
            values = [values]
        if not isinstance(values, list) or not values:
            raise Invalid(
                N_("condition on {field!r} needs a value or a list of values"), field=field
            )
        strings = [str(v) for v in values if isinstance(v, str | int | float)]
        if len(strings) != len(values):
            raise Invalid(
                N_("condition on {field!r}: values must be strings or numbers"), field=field
            )
        for v in strings:
            _value_pred(modifier, v)  # raises Invalid for a bad regex
        out.append({"field": field.strip(), "modifier": modifier, "value": strings})
    return out


@dataclass(frozen=True)
class ExceptionFilter:
    """A compiled exception of one rule."""

    id: int
    expires_at: datetime | None
    checks: tuple[tuple[str, tuple[ValuePred, ...]], ...]

    @classmethod
    def build(
        cls, exception_id: int, conditions: Sequence[dict[str, Any]], expires_at: datetime | None
    ) -> ExceptionFilter:
        checks = tuple(
            (c["field"], tuple(_stored_pred(exception_id, c["modifier"], v) for v in c["value"]))
            for c in conditions
        )
        return cls(exception_id, expires_at, checks)

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at

    def holds(self, ctx: _Ctx) -> bool:
        return all(
            any(pred(s) for s in ctx.strs(field) for pred in preds) for field, preds in self.checks
        )


def suppressed_by(
    filters: Sequence[ExceptionFilter], event: dict[str, Any], now: datetime
) -> int | None:
    """The id of the first active filter that holds for ``event``, else None."""
    ctx = _Ctx(normalise_event(event))
    for flt in filters:
        if flt.active(now) and flt.holds(ctx):
            return flt.id
    return None
