"""Risk register endpoints: risks (create, list, read, change, workflow, alignment, links,
reviews, history), raising a risk from a security case, acceptances (request, the
authority's queue, decision, revocation), the heat map, the trend and the notices.

The router is thin: `risk.risks`, `risk.acceptance`, `risk.reviews` and `risk.views` do the
work. A risk the reader may not see is a 404. Acceptance decisions and revocations run in a
transaction of their own, so that a refusal (403) is audited in a second one after the
first rolled back (never two write transactions at once: SQLite has one write lock).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Literal, TypeVar

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from risk import acceptance, reviews, risks, views
from risk.models import AcceptanceStatus, Category, RiskStatus, Scope
from risk.notifications import for_principal
from risk.schemas import (
    AcceptanceOut,
    AcceptanceRequestIn,
    AlignIn,
    ChangeOut,
    DecisionIn,
    HeatMapOut,
    LinkIn,
    NotificationOut,
    ReviewIn,
    RevokeIn,
    RiskCreate,
    RiskFromCase,
    RiskOut,
    RiskUpdate,
    StatusIn,
    TrendMonthOut,
)
from soc.core import audit
from soc.core.deps import DatabaseDep, PrincipalDep, SessionDep, SettingsDep
from soc.core.errors import Forbidden
from soc.core.principal import Principal
from soc.core.schemas import DB_INT_MAX, Page, RowId

router = APIRouter(prefix="/api/v1/risk", tags=["risk"])
T = TypeVar("T")

Limit = Query(default=50, ge=1, le=500)
Offset = Query(default=0, ge=0, le=10_000_000)


@router.post("/risks", response_model=RiskOut, status_code=201)
def create_risk(
    body: RiskCreate, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> RiskOut:
    """Register a risk (status `identified`; customers see it once the authority aligned
    it)."""
    risk = risks.create_risk(session, principal, settings, body)
    return risks.describe(session, principal, settings, risk)


@router.get("/risks", response_model=Page[RiskOut])
def list_risks(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    category: Category | None = None,
    status: RiskStatus | None = None,
    scope: Scope | None = None,
    tenant: str | None = Query(default=None, max_length=64, description="tenant slug"),
    owner: str | None = Query(default=None, max_length=120, description="owner username"),
    limit: int = Limit,
    offset: int = Offset,
) -> Page[RiskOut]:
    """List the risks in the register the caller may see, filtered by category, status, scope,
    tenant or owner, paged."""
    total, rows = risks.list_risks(
        session,
        principal,
        category=category,
        status=status,
        scope=scope,
        tenant=tenant,
        owner=owner,
        limit=limit,
        offset=offset,
    )
    items = [risks.describe(session, principal, settings, r) for r in rows]
    return Page[RiskOut](total=total, limit=limit, offset=offset, items=items)


@router.get("/risks/{risk_id}", response_model=RiskOut)
def get_risk(
    risk_id: RowId, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> RiskOut:
    """One risk with its assessment, treatment and scores. 404 for an unknown risk or one
    outside the caller's scope."""
    return risks.describe(session, principal, settings, risks.get_risk(session, principal, risk_id))


@router.patch("/risks/{risk_id}", response_model=RiskOut)
def update_risk(
    risk_id: RowId,
    body: RiskUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> RiskOut:
    """Change the given fields (each change kept in the history). Status and acceptance are
    not set here: see `/status` and the acceptance routes."""
    risk = risks.update_risk(session, principal, settings, risk_id, body)
    return risks.describe(session, principal, settings, risk)


@router.post("/risks/{risk_id}/status", response_model=RiskOut)
def set_status(
    risk_id: RowId,
    body: StatusIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> RiskOut:
    """One step forward in the workflow, or back (or reopen) with a note."""
    risk = risks.transition(session, principal, risk_id, body.status, body.note)
    return risks.describe(session, principal, settings, risk)


@router.post("/risks/{risk_id}/align", response_model=RiskOut)
def align_risk(
    risk_id: RowId,
    body: AlignIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> RiskOut:
    """The authority's alignment: the risk's customers are notified with the advice."""
    risk = risks.align(session, principal, risk_id, body.advice, date.today())
    return risks.describe(session, principal, settings, risk)


@router.get("/risks/{risk_id}/history", response_model=Page[ChangeOut])
def risk_history(
    risk_id: RowId,
    session: SessionDep,
    principal: PrincipalDep,
    limit: int = Query(default=100, ge=1, le=500),
    offset: int = Offset,
) -> Page[ChangeOut]:
    """Every field change, oldest first."""
    total, rows = risks.history(session, principal, risk_id, limit, offset)
    items = risks.history_out(session, principal, rows)
    return Page[ChangeOut](total=total, limit=limit, offset=offset, items=items)


@router.post("/risks/{risk_id}/links", response_model=RiskOut)
def link_risk(
    risk_id: RowId,
    body: LinkIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> RiskOut:
    """Link a security case, a CI or a non-conformity (one the caller sees)."""
    risk = risks.link(session, principal, risk_id, body.kind, body.target_id)
    return risks.describe(session, principal, settings, risk)


@router.post("/risks/{risk_id}/review", response_model=RiskOut)
def review_risk(
    risk_id: RowId,
    body: ReviewIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> RiskOut:
    """Record today's review: the next review date is today + the cadence."""
    risk = reviews.record_review(session, principal, risk_id, date.today(), body.note)
    return risks.describe(session, principal, settings, risk)


@router.post("/from-case/{case_id}", response_model=RiskOut, status_code=201)
def raise_from_case(
    case_id: RowId,
    body: RiskFromCase,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> RiskOut:
    """Raise a risk from a security case (source `soc_case`, the case linked)."""
    risk = risks.raise_from_case(session, principal, settings, case_id, body)
    return risks.describe(session, principal, settings, risk)


@router.post("/risks/{risk_id}/acceptance", response_model=AcceptanceOut, status_code=201)
def request_acceptance(
    risk_id: RowId,
    body: AcceptanceRequestIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> AcceptanceOut:
    """Ask the authority to accept the risk as assessed now."""
    acc = acceptance.request_acceptance(session, principal, settings, risk_id, body.note)
    return AcceptanceOut.of(acc)


@router.get("/acceptances", response_model=Page[AcceptanceOut])
def list_acceptances(
    session: SessionDep,
    principal: PrincipalDep,
    status: AcceptanceStatus | None = Query(
        default="requested", description="default: the requests waiting for a decision"
    ),
    risk_id: int | None = Query(default=None, ge=1, le=DB_INT_MAX),
    limit: int = Limit,
    offset: int = Offset,
) -> Page[AcceptanceOut]:
    """List risk acceptance requests and decisions, by default those waiting for a decision,
    paged."""
    total, rows = acceptance.list_acceptances(
        session, principal, status=status, risk_id=risk_id, limit=limit, offset=offset
    )
    return Page[AcceptanceOut](
        total=total, limit=limit, offset=offset, items=[AcceptanceOut.of(a) for a in rows]
    )


def _refusals_audited(
    db: DatabaseDep,
    principal: Principal,
    acceptance_id: int,
    attempt: Literal["decision", "revoke"],
    work: Callable[[Session], T],
) -> T:
    """Run `work` in a write transaction; a refusal is audited in a second one, opened
    after the first has rolled back, and the refusal answered."""
    try:
        with db.session() as session:
            return work(session)
    except Forbidden as exc:
        with db.session() as second:
            audit.record(
                second,
                actor=principal.actor,
                action="risk.acceptance.refused",
                object_type="risk_acceptance",
                object_id=acceptance_id,
                detail={"attempt": attempt, "role": principal.role, "reason": exc.message},
            )
        raise


@router.post("/acceptances/{acceptance_id}/decision", response_model=AcceptanceOut)
def decide_acceptance(
    acceptance_id: RowId,
    body: DecisionIn,
    db: DatabaseDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> AcceptanceOut:
    """Accept (with justification and expiry) or reject: the authority only (and, when the
    setting says so, the customer of a specific risk as co-approver). Refusals are
    audited."""

    def work(session: Session) -> AcceptanceOut:
        acc = acceptance.decide(
            session,
            principal,
            settings,
            acceptance_id,
            body.approve,
            body.justification,
            body.expires_on,
            date.today(),
        )
        return AcceptanceOut.of(acc)

    return _refusals_audited(db, principal, acceptance_id, "decision", work)


@router.post("/acceptances/{acceptance_id}/revoke", response_model=AcceptanceOut)
def revoke_acceptance(
    acceptance_id: RowId, body: RevokeIn, db: DatabaseDep, principal: PrincipalDep
) -> AcceptanceOut:
    """The authority withdraws an acceptance: the risk returns to review."""

    def work(session: Session) -> AcceptanceOut:
        return AcceptanceOut.of(acceptance.revoke(session, principal, acceptance_id, body.reason))

    return _refusals_audited(db, principal, acceptance_id, "revoke", work)


@router.get("/heatmap", response_model=HeatMapOut)
def get_heatmap(session: SessionDep, principal: PrincipalDep, settings: SettingsDep) -> HeatMapOut:
    """Open risks per likelihood × impact cell, inherent beside residual."""
    return HeatMapOut.model_validate(views.heat_map_for(session, principal, settings))


@router.get("/trend", response_model=list[TrendMonthOut])
def get_trend(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    months: int = Query(default=12, ge=1, le=120),
) -> list[TrendMonthOut]:
    """The register by month, oldest first (bands by current residual scores)."""
    rows = views.trend(session, principal, months, date.today(), settings=settings)
    return [TrendMonthOut.model_validate(r) for r in rows]


@router.get("/notifications", response_model=list[NotificationOut])
def notifications(
    session: SessionDep,
    principal: PrincipalDep,
    limit: int = Query(default=50, ge=1, le=500),
) -> list[NotificationOut]:
    """The risk notices addressed to the caller, newest first."""
    principal.require("risk.read")
    return [NotificationOut.of(n) for n in for_principal(session, principal, limit)]
