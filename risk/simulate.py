"""`soc risk simulate`: the deadline rules of the action registers on a JSON list of items,
as a pure function (what-if, and the checks run on held-back dates and calendars).

Input and output schemas are in the README ("Risk simulate"). Dates are ISO `YYYY-MM-DD`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from risk.deadlines import (
    DEFAULT_EARLY_WARNING_WORKING_DAYS,
    DEFAULT_TARGET_PCT,
    Item,
    judge,
    on_time_share,
)
from risk.workdays import WorkCalendar

Json = dict[str, Any]
SCOPES = ("specific", "common")


class SimulationError(ValueError):
    """The input does not follow the schema; the message names the offending field."""


def _date(value: Any, where: str) -> date:
    if not isinstance(value, str):
        raise SimulationError(f"{where}: a date must be a 'YYYY-MM-DD' string, got {value!r}")
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError as exc:
        raise SimulationError(f"{where}: not a 'YYYY-MM-DD' date: {value!r}") from exc


def _optional_date(doc: Json, key: str, where: str) -> date | None:
    value = doc.get(key)
    return None if value is None else _date(value, f"{where}.{key}")


def _object(value: Any, where: str) -> Json:
    if not isinstance(value, dict):
        raise SimulationError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _item(raw: Any, where: str) -> Item:
    doc = _object(raw, where)
    item_id = doc.get("id")
    if isinstance(item_id, bool) or not isinstance(item_id, str | int) or item_id == "":
        raise SimulationError(f"{where}.id: a non-empty string (or integer) is required")
    scope = doc.get("scope")
    if scope not in SCOPES:
        raise SimulationError(f"{where}.scope: must be 'specific' or 'common', got {scope!r}")
    if "due" not in doc:
        raise SimulationError(f"{where}.due: required")
    outside = doc.get("outside_ecosystem", False)
    if not isinstance(outside, bool):
        raise SimulationError(f"{where}.outside_ecosystem: must be true or false")
    return Item(
        id=str(item_id),
        scope=scope,
        due=_date(doc["due"], f"{where}.due"),
        handled=_optional_date(doc, "handled", where),
        warned=_optional_date(doc, "warned", where),
        outside_ecosystem=outside,
    )


def _working_days(doc: Json) -> int:
    value = doc.get("early_warning_working_days", DEFAULT_EARLY_WARNING_WORKING_DAYS)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 260:
        raise SimulationError("early_warning_working_days: an integer from 0 to 260")
    return value


def _target(doc: Json) -> Decimal:
    value = doc.get("on_time_target_pct", DEFAULT_TARGET_PCT)
    if isinstance(value, bool):
        raise SimulationError("on_time_target_pct: a number from 0 to 100")
    try:
        target = Decimal(str(value))
    except InvalidOperation as exc:
        raise SimulationError("on_time_target_pct: a number from 0 to 100") from exc
    if not Decimal(0) <= target <= Decimal(100):
        raise SimulationError("on_time_target_pct: a number from 0 to 100")
    return target


def simulate(doc: Json) -> Json:
    """Each item's warning deadline, warning state, status and deadline approver as of
    `as_of`, and the on-time share of the items handled in `period` (every handled item when
    no period is given)."""
    doc = _object(doc, "input")
    if "as_of" not in doc:
        raise SimulationError("as_of: required")
    as_of = _date(doc["as_of"], "as_of")
    working_days = _working_days(doc)
    closing = doc.get("extra_closing_days") or []
    if not isinstance(closing, list):
        raise SimulationError("extra_closing_days: must be a list of dates")
    calendar = WorkCalendar.with_closing_days(
        _date(day, f"extra_closing_days[{n}]") for n, day in enumerate(closing)
    )
    raw_items = doc.get("items")
    if not isinstance(raw_items, list):
        raise SimulationError("items: must be a list")
    items = [_item(raw, f"items[{n}]") for n, raw in enumerate(raw_items)]
    seen: set[str] = set()
    for n, item in enumerate(items):
        if item.id in seen:
            raise SimulationError(f"items[{n}].id: duplicate id {item.id!r}")
        seen.add(item.id)
    start, end = _period(doc, items)
    share = on_time_share(items, start, end, _target(doc))
    return {
        "items": [
            {
                "id": raw_items[n]["id"],
                "warning_due": v.warning_due.isoformat(),
                "warning": v.warning,
                "status": v.status,
                "deadline_approver": v.deadline_approver,
            }
            for n, v in enumerate(judge(calendar, item, as_of, working_days) for item in items)
        ],
        "period": {
            "handled": share.handled,
            "excluded": share.excluded,
            "on_time": share.on_time,
            "on_time_pct": str(share.on_time_pct),
            "target_met": share.target_met,
        },
    }


def _period(doc: Json, items: list[Item]) -> tuple[date, date]:
    raw = doc.get("period")
    if raw is None:
        return date.min, date.max
    period = _object(raw, "period")
    for key in ("from", "to"):
        if key not in period:
            raise SimulationError(f"period.{key}: required")
    start, end = _date(period["from"], "period.from"), _date(period["to"], "period.to")
    if end < start:
        raise SimulationError("period: 'to' is before 'from'")
    return start, end
