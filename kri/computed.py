"""Computed KRIs: every name a catalogue row's `computation` may hold, and the monthly run
that writes their values (kri.computed_cases, kri.computed_ops say what each counts).

`COMPUTATIONS[name](session, settings, subject, period)` is the value alone;
`DETAILED[name]` also returns its breakdown (KriValue.detail: the cases, risks, actions,
per-CI events, silent sources or tactics behind the figure, for drill-down).

`compute_period` writes, for every enabled computed KRI of the catalogue and every subject
of its scope (customer: each tenant; provider: each provider; end to end: one), a KriValue
with its RAG, achievement and met verdict (kri.rules), due the period's end-to-end due date
and on time by construction. A rerun with the same figures changes nothing; a changed figure
supersedes the current row (kept, `current` false)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from kri import rules, sla
from kri.computed_base import END_TO_END, Figure, Subject, check_period
from kri.computed_cases import CASE_COMPUTATIONS
from kri.computed_ops import OPS_COMPUTATIONS
from kri.deps import expected_in
from kri.models import KriDefinition, KriValue
from risk.workdays import WorkCalendar
from soc.core import audit
from soc.core.settings import Settings
from tenants.models import Provider, Tenant

__all__ = [
    "COMPUTATIONS",
    "DETAILED",
    "END_TO_END",
    "Subject",
    "Verdict",
    "compute_due",
    "compute_period",
    "judge",
    "subjects_of",
]

DETAILED: dict[str, Callable[[Session, Settings, Subject, str], Figure]] = {
    **CASE_COMPUTATIONS,
    **OPS_COMPUTATIONS,
}


def _value_only(
    compute: Callable[[Session, Settings, Subject, str], Figure],
) -> Callable[[Session, Settings, Subject, str], Decimal | None]:
    def value(
        session: Session, settings: Settings, subject: Subject, period: str
    ) -> Decimal | None:
        return compute(session, settings, subject, period)[0]

    value.__name__ = compute.__name__
    return value


COMPUTATIONS: dict[str, Callable[[Session, Settings, Subject, str], Decimal | None]] = {
    name: _value_only(compute) for name, compute in DETAILED.items()
}


def decimal_or_none(text: str | None) -> Decimal | None:
    """A catalogue number (a decimal string); empty or not a finite number: None."""
    if text is None or not str(text).strip():
        return None
    try:
        number = Decimal(str(text).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


@dataclass(frozen=True)
class Verdict:
    rag: str | None
    achievement: Decimal | None
    met: bool | None


def judge(definition: KriDefinition, value: Decimal | None) -> Verdict:
    """RAG, achievement and met of a value against its catalogue row (None without a value
    or a norm)."""
    norm = decimal_or_none(definition.norm)
    if value is None or norm is None:
        return Verdict(None, None, None)
    direction = cast(rules.Direction, definition.direction)
    green = decimal_or_none(definition.green)
    amber = decimal_or_none(definition.amber)
    colour = (
        rules.rag(value, green, amber, direction)
        if green is not None and amber is not None
        else None
    )
    return Verdict(
        colour, rules.achievement(value, norm, direction), rules.met(value, norm, direction)
    )


def subjects_of(session: Session, scope: str) -> list[Subject]:
    if scope == "customer":
        return [
            Subject(tenant_id=t) for t in session.scalars(select(Tenant.id).order_by(Tenant.id))
        ]
    if scope == "provider":
        return [
            Subject(provider_id=p)
            for p in session.scalars(select(Provider.id).order_by(Provider.id))
        ]
    return [END_TO_END]


def current_value(session: Session, kri_id: str, period: str, subject: Subject) -> KriValue | None:
    return session.scalar(
        select(KriValue)
        .where(
            KriValue.kri_id == kri_id,
            KriValue.period == period,
            KriValue.current.is_(True),
            KriValue.tenant_id.is_(None)
            if subject.tenant_id is None
            else KriValue.tenant_id == subject.tenant_id,
            KriValue.provider_id.is_(None)
            if subject.provider_id is None
            else KriValue.provider_id == subject.provider_id,
        )
        .order_by(KriValue.id.desc())
        .limit(1)
    )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _write(
    session: Session,
    definition: KriDefinition,
    subject: Subject,
    period: str,
    figure: Figure,
    due: date,
    now: datetime,
    local_today: date,
) -> bool:
    value, detail = figure
    verdict = judge(definition, value)
    previous = current_value(session, definition.id, period, subject)
    row = {
        "value": _text(value),
        "rag": verdict.rag,
        "achievement": _text(verdict.achievement),
        "met": verdict.met,
        "detail": detail,
    }
    if previous is not None and previous.source == "computed":
        same = {k: getattr(previous, k) for k in row}
        if same == row:
            return False
    if previous is not None:
        previous.current = False
    session.add(
        KriValue(
            kri_id=definition.id,
            period=period,
            tenant_id=subject.tenant_id,
            provider_id=subject.provider_id,
            source="computed",
            submitted_at=now,
            submitted_on=local_today,
            submitted_by="system",
            due=due,
            on_time=True,
            quality_ok=True,
            quality_errors=[],
            repeated=False,
            current=True,
            **row,
        )
    )
    session.flush()
    return True


def compute_period(session: Session, settings: Settings, period: str, now: datetime) -> int:
    """Compute every enabled computed KRI for the period; the number of values written (a
    rerun on unchanged data writes none)."""
    check_period(period)
    calendar = WorkCalendar.with_closing_days(settings.risk_extra_closing_days)
    due = rules.due_after_period(calendar, period, settings.kri_due_working_days_end_to_end)
    local_today = now.astimezone(ZoneInfo(settings.dwh_timezone)).date()
    definitions = session.scalars(
        select(KriDefinition)
        .where(KriDefinition.source == "computed", KriDefinition.enabled.is_(True))
        .order_by(KriDefinition.id)
    )
    written = 0
    for definition in list(definitions):
        compute = DETAILED.get(definition.computation)
        if compute is None or not expected_in(definition, period):
            continue
        for subject in subjects_of(session, definition.scope):
            figure = compute(session, settings, subject, period)
            written += _write(session, definition, subject, period, figure, due, now, local_today)
    if written:
        audit.record(
            session,
            actor="system",
            action="kri.computed",
            object_type="kri_period",
            object_id=period,
            detail={"written": written},
        )
    return written


def compute_due(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    """The daily run (beat): the last complete period and the running one (so a figure
    heading for a miss shows before month end, C8), then repeated SLA failures of the last
    complete period marked, with their plans (found today). Idempotent."""
    today = now.astimezone(ZoneInfo(settings.dwh_timezone)).date()
    running = f"{today.year:04d}-{today.month:02d}"
    last = rules.previous_period(running)
    written = compute_period(session, settings, last, now)
    written += compute_period(session, settings, running, now)
    marked = sla.mark_repeated(session, settings, last, today)
    return {"period": last, "written": written, "plans": marked["plans"]}
