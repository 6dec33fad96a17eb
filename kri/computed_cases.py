"""Computed KRIs from the security cases (soc.cases): cases by priority, response and
resolution within SLA, P1 mean resolution inside / outside office hours, root cause within the
working days allowed (problem records), reassignments between providers.

Which cases count: by priority, those registered in the period; within SLA, those whose clock
ended in it (responded, resolved); P1 mean resolution, P1 cases resolved in it, split by
whether they were registered inside office hours (soc.cases.calendar), in wall-clock hours;
root cause, the problem records whose root cause fell due in it (one not found counts late);
reassignments, the moves from one provider to another made in it (a provider's count: the
cases it passed on). Merged cases do not count. An SLA share with nothing to count is 100 %
(nothing missed, as risk.deadlines counts)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from kri.computed_base import Figure, Subject, Window, quantize, window
from kri.rules import percentage
from soc.cases.calendar import office_hours
from soc.cases.models import Case, CaseEvent, Problem
from soc.core.settings import Settings

PRIORITIES = ("P1", "P2", "P3", "P4")


def _cases(subject: Subject) -> Select[Any]:
    query = select(Case).where(Case.merged_into_id.is_(None))
    if subject.tenant_id is not None:
        query = query.where(Case.tenant_id == subject.tenant_id)
    if subject.provider_id is not None:
        query = query.where(Case.provider_id == subject.provider_id)
    return query


def _by_priority(priority: str) -> Callable[[Session, Settings, Subject, str], Figure]:
    def compute(session: Session, settings: Settings, subject: Subject, period: str) -> Figure:
        w = window(settings, period)
        ids = list(
            session.scalars(
                _cases(subject)
                .with_only_columns(Case.id)
                .where(
                    Case.priority == priority, Case.created_at >= w.start, Case.created_at < w.end
                )
                .order_by(Case.id)
            )
        )
        return Decimal(len(ids)), {"cases": ids}

    compute.__name__ = f"cases_{priority.lower()}"
    return compute


def _target(settings: Settings, case: Case, clock: str) -> int:
    return settings.case_sla_minutes[case.priority][clock] * 60


def _share(
    session: Session, settings: Settings, subject: Subject, period: str, clock: str
) -> Figure:
    w = window(settings, period)
    ended = Case.responded_at if clock == "response" else Case.resolved_at
    cases = list(session.scalars(_cases(subject).where(ended >= w.start, ended < w.end)))
    missed = []
    for case in cases:
        seconds = case.response_seconds if clock == "response" else case.resolution_seconds
        if seconds is None or seconds > _target(settings, case, clock):
            missed.append(case.id)
    within = len(cases) - len(missed)
    detail: dict[str, Any] = {"counted": len(cases), "within": within, "missed": missed}
    return percentage(within, len(cases)), detail


def response_sla_pct(session: Session, settings: Settings, subject: Subject, period: str) -> Figure:
    return _share(session, settings, subject, period, "response")


def resolution_sla_pct(
    session: Session, settings: Settings, subject: Subject, period: str
) -> Figure:
    return _share(session, settings, subject, period, "resolution")


def _p1_mean(
    session: Session, settings: Settings, subject: Subject, period: str, inside: bool
) -> Figure:
    w = window(settings, period)
    hours = office_hours(settings)
    cases = [
        c
        for c in session.scalars(
            _cases(subject).where(
                Case.priority == "P1", Case.resolved_at >= w.start, Case.resolved_at < w.end
            )
        )
        if hours.is_open(c.created_at) is inside and c.resolved_at is not None
    ]
    if not cases:
        return None, {"cases": []}
    seconds = sum(
        (c.resolved_at - c.created_at).total_seconds() for c in cases if c.resolved_at is not None
    )
    mean = quantize(Decimal(str(seconds)) / Decimal(3600 * len(cases)))
    return mean, {"cases": sorted(c.id for c in cases)}


def p1_mean_resolution_office_h(
    session: Session, settings: Settings, subject: Subject, period: str
) -> Figure:
    return _p1_mean(session, settings, subject, period, True)


def p1_mean_resolution_outside_h(
    session: Session, settings: Settings, subject: Subject, period: str
) -> Figure:
    return _p1_mean(session, settings, subject, period, False)


def _problem_concerns(problem: Problem, case_provider: int | None, subject: Subject) -> bool:
    if subject.tenant_id is not None:
        return problem.tenant_id == subject.tenant_id or subject.tenant_id in (
            problem.tenants or []
        )
    if subject.provider_id is not None:
        return case_provider == subject.provider_id
    return True


def root_cause_on_time_pct(
    session: Session, settings: Settings, subject: Subject, period: str
) -> Figure:
    w: Window = window(settings, period)
    rows = session.execute(
        select(Problem, Case.provider_id)
        .outerjoin(Case, Case.id == Problem.case_id)
        .where(Problem.root_cause_due >= w.start, Problem.root_cause_due < w.end)
        .order_by(Problem.id)
    ).all()
    problems = [p for p, provider in rows if _problem_concerns(p, provider, subject)]
    late = [p.id for p in problems if not (p.root_cause_at is not None and p.root_cause_on_time)]
    on_time = len(problems) - len(late)
    return percentage(on_time, len(problems)), {
        "counted": len(problems),
        "on_time": on_time,
        "late": late,
    }


def reassignments(session: Session, settings: Settings, subject: Subject, period: str) -> Figure:
    w = window(settings, period)
    query = (
        select(CaseEvent, Case.tenant_id)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(CaseEvent.kind == "assigned", CaseEvent.at >= w.start, CaseEvent.at < w.end)
        .order_by(CaseEvent.id)
    )
    if subject.tenant_id is not None:
        query = query.where(Case.tenant_id == subject.tenant_id)
    cases: list[int] = []
    for event, _tenant in session.execute(query).all():
        detail = orjson.loads(event.detail or "{}")
        if "reassignments" not in detail:
            continue
        if subject.provider_id is not None and detail.get("previous_provider_id") != (
            subject.provider_id
        ):
            continue
        cases.append(event.case_id)
    return Decimal(len(cases)), {"cases": cases}


CASE_COMPUTATIONS: dict[str, Callable[[Session, Settings, Subject, str], Figure]] = {
    **{f"cases_{p.lower()}": _by_priority(p) for p in PRIORITIES},
    "response_sla_pct": response_sla_pct,
    "resolution_sla_pct": resolution_sla_pct,
    "p1_mean_resolution_office_h": p1_mean_resolution_office_h,
    "p1_mean_resolution_outside_h": p1_mean_resolution_outside_h,
    "root_cause_on_time_pct": root_cause_on_time_pct,
    "reassignments": reassignments,
}
