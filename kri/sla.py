"""Repeated SLA failure (seed 000 L1211–1261, C9, TC3): an SLA KRI that missed in at least
settings.kri_repeated_after consecutive periods is *repeated* from that period until it is
met again; the share of repeated SLAs of a period is held against
settings.kri_repeated_target_pct (<= 5 %). The first time an SLA becomes repeated (its 3rd
consecutive miss), a corrective-action plan goes into the risk register, due
settings.kri_plan_working_days working days after the miss was found (rules.plan_due).

An SLA is one (KRI, subject) pair: a KRI of the catalogue with `is_sla`, for one tenant, one
provider or end to end. Its history is the `met` verdict of its current values per period
(a missing-input row, i.e. a current row with no value, is a miss: not submitting cannot reset
a streak; a period with no row at all has no verdict). A reader sees the SLAs whose values it
sees (kri.deps.sees_value, the rule of value_filter). With no SLA in the period the share is
0.00 % and met (as kri.simulate)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kri import rules
from kri.computed_base import Subject, check_period
from kri.deps import sees_value
from kri.models import KriDefinition, KriValue
from risk.action_schemas import ActionCreate
from risk.actions import create_action
from risk.models import RiskAction
from risk.workdays import WorkCalendar
from soc.core import audit
from soc.core.principal import SYSTEM, Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant

Key = tuple[str, int | None, int | None]  # (kri id, tenant id, provider id)
HISTORY_MONTHS = 36


@dataclass(frozen=True)
class SlaState:
    key: Key
    history: dict[str, bool]
    repeated: bool
    third_miss: str | None  # the period the streak became repeated in


def _sla_ids(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(KriDefinition.id)
            .where(KriDefinition.is_sla.is_(True), KriDefinition.enabled.is_(True))
            .order_by(KriDefinition.id)
        )
    )


def histories(
    session: Session, period: str, months: int = HISTORY_MONTHS
) -> dict[Key, dict[str, bool]]:
    """period → met of every SLA with a verdict in the months up to `period`."""
    first = rules.previous_period(period, months - 1)
    ids = _sla_ids(session)
    out: dict[Key, dict[str, bool]] = {}
    if not ids:
        return out
    rows = session.execute(
        select(
            KriValue.kri_id,
            KriValue.tenant_id,
            KriValue.provider_id,
            KriValue.period,
            KriValue.met,
            KriValue.value,
        )
        .where(
            KriValue.kri_id.in_(ids),
            KriValue.current.is_(True),
            or_(KriValue.met.is_not(None), KriValue.value.is_(None)),
            KriValue.period >= first,
            KriValue.period <= period,
        )
        .order_by(KriValue.id)
    ).all()
    for kri_id, tenant_id, provider_id, at, met, value in rows:
        missed = met is None and value is None  # missing input: a miss
        out.setdefault((kri_id, tenant_id, provider_id), {})[at] = False if missed else bool(met)
    return out


def history(session: Session, kri_id: str, subject: Subject, period: str) -> dict[str, bool]:
    """The met verdicts of one SLA up to `period`."""
    return histories(session, period).get((kri_id, subject.tenant_id, subject.provider_id), {})


def state_of(key: Key, past: dict[str, bool], period: str, after: int) -> SlaState:
    repeated = rules.repeated_in(past, period, after)
    third: str | None = None
    if repeated:
        start = period
        while past.get(rules.previous_period(start)) is False:
            start = rules.previous_period(start)
        third = rules.previous_period(start, -(after - 1))
    return SlaState(key, past, repeated, third)


def states(session: Session, settings: Settings, period: str) -> list[SlaState]:
    """Every SLA with a verdict in `period`."""
    after = settings.kri_repeated_after
    return [
        state_of(key, past, period, after)
        for key, past in sorted(histories(session, period).items(), key=lambda i: str(i[0]))
        if period in past
    ]


def _owners(session: Session) -> dict[str, int | None]:
    return {
        k: o for k, o in session.execute(select(KriDefinition.id, KriDefinition.owner_provider_id))
    }


def _visible(principal: Principal, owners: dict[str, int | None], key: Key) -> bool:
    kri_id, tenant_id, provider_id = key
    return sees_value(principal, owners.get(kri_id), tenant_id, provider_id)


def _names(session: Session) -> tuple[dict[int, str], dict[int, str]]:
    tenants = {k: v for k, v in session.execute(select(Tenant.id, Tenant.slug))}
    providers = {k: v for k, v in session.execute(select(Provider.id, Provider.slug))}
    return tenants, providers


def repeated_report(
    session: Session, principal: Principal, settings: Settings, period: str
) -> dict[str, Any]:
    """The period's SLAs the principal sees, those repeated, their share against the target."""
    principal.require("kri.read")
    check_period(period)
    owners = _owners(session)
    found = [s for s in states(session, settings, period) if _visible(principal, owners, s.key)]
    repeated = [s for s in found if s.repeated]
    share = rules.percentage(len(repeated), len(found)) if found else Decimal("0.00")
    target = Decimal(str(settings.kri_repeated_target_pct))
    tenants, providers = _names(session)
    return {
        "period": period,
        "slas": len(found),
        "repeated": [
            {
                "kri": s.key[0],
                "tenant": tenants.get(s.key[1]) if s.key[1] is not None else None,
                "provider": providers.get(s.key[2]) if s.key[2] is not None else None,
                "since": s.third_miss,
                "history": dict(sorted(s.history.items())),
            }
            for s in repeated
        ],
        "repeated_pct": str(share),
        "target_pct": str(rules.round_half_up(target, rules.CENT)),
        "met": share <= target,
    }


def _plan_ref(state: SlaState) -> str:
    kri_id, tenant_id, provider_id = state.key
    return f"kri-plan:{kri_id}:{state.third_miss}:{tenant_id or '-'}:{provider_id or '-'}"


def _create_plan(
    session: Session, settings: Settings, state: SlaState, found_on: date
) -> RiskAction:
    kri_id, tenant_id, provider_id = state.key
    definition = session.get(KriDefinition, kri_id)
    tenants, providers = _names(session)
    owner = (
        provider_id if provider_id is not None else (definition and definition.owner_provider_id)
    )
    calendar = WorkCalendar.with_closing_days(settings.risk_extra_closing_days)
    due = rules.plan_due(calendar, found_on, settings.kri_plan_working_days)
    name = definition.name_en if definition else kri_id
    data: dict[str, Any] = {
        "register": "corrective_action",
        "title": f"Repeated SLA failure: {name} ({state.third_miss})"[:200],
        "description": (
            f"KRI {kri_id} missed its norm in {settings.kri_repeated_after} consecutive periods "
            f"up to {state.third_miss}. Plan: root cause, actions with date and owner."
        ),
        "scope": "specific" if tenant_id is not None else "common",
        "due": due.isoformat(),
        "origin": f"kri {kri_id}",
        "external_ref": _plan_ref(state),
    }
    if tenant_id is not None:
        data["tenant"] = tenants[tenant_id]
    if owner:
        data["owner_provider"] = providers[owner]
    return create_action(session, SYSTEM, settings, ActionCreate.model_validate(data), found_on)


def mark_repeated(
    session: Session, settings: Settings, period: str, found_on: date
) -> dict[str, Any]:
    """Set KriValue.repeated on the period's SLA values, and open the corrective-action plan of
    each SLA whose repeated streak has none yet (once per streak, however often this runs).
    Returns the repeated keys and the plans created."""
    check_period(period)
    plans: list[int] = []
    repeated: list[Key] = []
    for state in states(session, settings, period):
        kri_id, tenant_id, provider_id = state.key
        rows = session.scalars(
            select(KriValue).where(
                KriValue.kri_id == kri_id,
                KriValue.period == period,
                KriValue.current.is_(True),
                KriValue.tenant_id.is_(None)
                if tenant_id is None
                else KriValue.tenant_id == tenant_id,
                KriValue.provider_id.is_(None)
                if provider_id is None
                else KriValue.provider_id == provider_id,
            )
        )
        for row in rows:
            row.repeated = state.repeated
        if not state.repeated:
            continue
        repeated.append(state.key)
        exists = session.scalar(
            select(RiskAction.id).where(RiskAction.external_ref == _plan_ref(state))
        )
        if exists is None:
            action = _create_plan(session, settings, state, found_on)
            plans.append(action.id)
            audit.record(
                session,
                actor="system",
                action="kri.repeated_plan",
                object_type="risk_action",
                object_id=action.id,
                tenant_id=tenant_id,
                detail={"kri": kri_id, "since": state.third_miss, "period": period},
            )
    session.flush()
    return {"period": period, "repeated": repeated, "plans": plans}
