"""`soc kri simulate`: the KRI rules (due dates, RAG, achievement, on time, domain scores and
penalty tiers, repeated SLA failure) on a JSON document, as a pure function (what-if, and the
checks run on held-back months and catalogues). Schema in the README ("KRI simulate")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from kri import rules
from risk.workdays import WorkCalendar

Json = dict[str, Any]
DIRECTIONS = ("higher_better", "lower_better")
DEFAULT_DUE = {"provider": 3, "end_to_end": 6}


class SimulationError(ValueError):
    """The input does not follow the schema; the message names the offending field."""


def _object(value: Any, where: str) -> Json:
    if not isinstance(value, dict):
        raise SimulationError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(doc: Json, key: str, required: bool = False) -> list[Any]:
    if key not in doc:
        if required:
            raise SimulationError(f"{key}: required")
        return []
    value = doc[key]
    if not isinstance(value, list):
        raise SimulationError(f"{key}: must be a list")
    return value


def _date(value: Any, where: str) -> date:
    if not isinstance(value, str) or len(value) != 10:
        raise SimulationError(f"{where}: a date must be a 'YYYY-MM-DD' string, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise SimulationError(f"{where}: not a 'YYYY-MM-DD' date: {value!r}") from exc


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SimulationError(f"{where}: a number is required, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise SimulationError(f"{where}: not a number: {value!r}") from exc
    if not number.is_finite():
        raise SimulationError(f"{where}: not a finite number: {value!r}")
    return number


def _text(doc: Json, key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise SimulationError(f"{where}.{key}: a non-empty string is required")
    return value


def _period(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SimulationError(f"{where}: a period is 'YYYY-MM', got {value!r}")
    try:
        rules.parse_period(value)
    except ValueError as exc:
        raise SimulationError(f"{where}: {exc}") from exc
    return value


def _due_days(doc: Json) -> dict[str, int]:
    raw = _object(doc.get("due_working_days", {}), "due_working_days")
    days = dict(DEFAULT_DUE)
    for key, value in raw.items():
        if key not in DEFAULT_DUE:
            raise SimulationError(f"due_working_days.{key}: only 'provider' and 'end_to_end'")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60:
            raise SimulationError(f"due_working_days.{key}: an integer from 0 to 60")
        days[key] = value
    return days


def _kris(doc: Json) -> list[Json]:
    kris: list[Json] = []
    seen: set[str] = set()
    for n, raw in enumerate(_list(doc, "kris", required=True)):
        where = f"kris[{n}]"
        item = _object(raw, where)
        kri_id = _text(item, "id", where)
        if kri_id in seen:
            raise SimulationError(f"{where}.id: duplicate id {kri_id!r}")
        seen.add(kri_id)
        direction = item.get("direction")
        if direction not in DIRECTIONS:
            raise SimulationError(f"{where}.direction: 'higher_better' or 'lower_better'")
        weight = _decimal(item.get("weight", 0), f"{where}.weight")
        if weight < 0:
            raise SimulationError(f"{where}.weight: never negative")
        kris.append(
            {
                "id": kri_id,
                "direction": direction,
                "norm": _decimal(item.get("norm"), f"{where}.norm"),
                "green": _decimal(item.get("green"), f"{where}.green"),
                "amber": _decimal(item.get("amber"), f"{where}.amber"),
                "domain": str(item.get("domain") or ""),
                "weight": weight,
            }
        )
    return kris


def _values(doc: Json, known: set[str]) -> dict[str, tuple[Decimal, date | None]]:
    """The value of each KRI (a later entry for the same KRI corrects an earlier one)."""
    values: dict[str, tuple[Decimal, date | None]] = {}
    for n, raw in enumerate(_list(doc, "values")):
        where = f"values[{n}]"
        item = _object(raw, where)
        kri_id = _text(item, "kri", where)
        if kri_id not in known:
            raise SimulationError(f"{where}.kri: unknown KRI {kri_id!r}")
        submitted = item.get("submitted")
        values[kri_id] = (
            _decimal(item.get("value"), f"{where}.value"),
            None if submitted is None else _date(submitted, f"{where}.submitted"),
        )
    return values


def _history(doc: Json) -> dict[str, dict[str, bool]]:
    history: dict[str, dict[str, bool]] = {}
    for n, raw in enumerate(_list(doc, "sla_history")):
        where = f"sla_history[{n}]"
        item = _object(raw, where)
        sla = _text(item, "sla", where)
        period = _period(item.get("period"), f"{where}.period")
        met = item.get("met")
        if not isinstance(met, bool):
            raise SimulationError(f"{where}.met: true or false")
        history.setdefault(sla, {})[period] = met
    return history


def simulate(doc: Json) -> Json:
    doc = _object(doc, "input")
    if "period" not in doc:
        raise SimulationError("period: required")
    period = _period(doc["period"], "period")
    closing = _list(doc, "extra_closing_days")
    calendar = WorkCalendar.with_closing_days(
        _date(day, f"extra_closing_days[{n}]") for n, day in enumerate(closing)
    )
    days = _due_days(doc)
    due = {key: rules.due_after_period(calendar, period, n) for key, n in days.items()}
    kris = _kris(doc)
    values = _values(doc, {k["id"] for k in kris})
    out_kris, scored, on_time_count = [], [], 0
    for kri in kris:
        value, submitted = values.get(kri["id"], (None, None))
        if value is None:
            rag, achieved, timely = "red", Decimal("0.0"), False
        else:
            rag = rules.rag(value, kri["green"], kri["amber"], kri["direction"])
            achieved = rules.achievement(value, kri["norm"], kri["direction"])
            timely = submitted is None or rules.on_time(submitted, due["provider"])
        on_time_count += timely
        scored.append((kri["domain"], achieved, kri["weight"]))
        out_kris.append(
            {"id": kri["id"], "rag": rag, "achievement": f"{achieved:.1f}", "on_time": timely}
        )
    on_time_pct = rules.percentage(on_time_count, len(kris))
    history = _history(doc)
    measured = sorted(sla for sla, h in history.items() if period in h)
    repeated = [sla for sla in measured if rules.repeated_in(history[sla], period)]
    repeated_pct = rules.percentage(len(repeated), len(measured)) if measured else Decimal("0.00")
    return {
        "due": {key: day.isoformat() for key, day in due.items()},
        "kris": out_kris,
        "on_time_pct": str(on_time_pct),
        "on_time_met": on_time_pct >= rules.HUNDRED,
        "domains": [
            {"domain": d.domain, "score": f"{d.score:.2f}", "penalty_pct": f"{d.penalty_pct:.1f}"}
            for d in rules.domain_scores(scored)
        ],
        "repeated": repeated,
        "repeated_pct": str(repeated_pct),
        "repeated_met": repeated_pct <= rules.DEFAULT_REPEATED_TARGET_PCT,
    }
