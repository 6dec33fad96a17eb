"""KRI scores over HTTP: the scorecard of a subject, a KRI's trend, the repeated SLA
failures of a period, the monthly computation and the list of computations (thin: the work
is in kri.scores, kri.sla and kri.computed).

Another tenant's (or provider's) figures are a 404; a role without the right a 403."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from kri import computed, scores, sla
from soc.core import legacy_routes
from soc.core.db import utcnow
from soc.core.deps import PrincipalDep, SessionDep, SettingsDep
from soc.core.errors import Forbidden
from soc.core.i18n import N_

router = APIRouter(prefix="/api/v1/kri", tags=["kri"])

PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
KRI_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Period = Annotated[str, Field(pattern=PERIOD, strict=True, min_length=7, max_length=7)]


class SubjectOut(BaseModel):
    kind: str
    tenant: str | None
    provider: str | None


class KriScoreOut(BaseModel):
    id: str
    name_en: str
    name_nl: str
    unit: str
    direction: str
    norm: str
    green: str
    amber: str
    domain: str
    weight: str
    source: str
    is_sla: bool
    value: str | None
    rag: str | None
    achievement: str | None
    met: bool | None
    on_time: bool
    repeated: bool
    reported: bool
    missing: bool = False  # owed and not reported: counts 0.0 % in its domain score
    detail: dict[str, Any]


class DomainOut(BaseModel):
    domain: str
    score: str
    penalty_pct: str


class ScorecardOut(BaseModel):
    period: str
    subject: SubjectOut
    kris: list[KriScoreOut]
    domains: list[DomainOut]
    rag_counts: dict[str, int]
    on_time_pct: str


class TrendPointOut(BaseModel):
    period: str
    value: str | None
    rag: str | None
    achievement: str | None
    met: bool | None
    on_time: bool
    repeated: bool


class TrendOut(BaseModel):
    kri: str
    name_en: str
    name_nl: str
    unit: str
    norm: str
    direction: str
    subject: SubjectOut
    points: list[TrendPointOut]


class RepeatedSlaOut(BaseModel):
    kri: str
    tenant: str | None
    provider: str | None
    since: str | None
    history: dict[str, bool]


class RepeatedOut(BaseModel):
    period: str
    slas: int
    repeated: list[RepeatedSlaOut]
    repeated_pct: str
    target_pct: str
    met: bool


class ComputeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: Period


class ComputeOut(BaseModel):
    period: str
    written: int
    repeated: int
    plans: list[int]


class ComputationsOut(BaseModel):
    computations: list[str]


TenantQ = Annotated[str | None, Query(pattern=SLUG, max_length=64, description="tenant slug")]
ProviderQ = Annotated[str | None, Query(pattern=SLUG, max_length=64, description="provider slug")]


@router.get("/scorecard", response_model=ScorecardOut)
def scorecard(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    tenant: TenantQ = None,
    provider: ProviderQ = None,
    period: str | None = Query(default=None, pattern=PERIOD, description="YYYY-MM"),
) -> dict[str, Any]:
    """Per KRI of the subject (a tenant, a provider, or end to end: neither) its value, RAG
    and achievement; per domain the score and penalty tier. Default period: last month."""
    return scores.scorecard(
        session, principal, settings, period or scores.last_period(settings), tenant, provider
    )


@router.get("/catalogue/{kri_id}/trend", response_model=TrendOut)
def trend(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    kri_id: str = Path(pattern=KRI_ID, max_length=64),
    tenant: TenantQ = None,
    provider: ProviderQ = None,
    months: int = Query(default=12, ge=1, le=scores.MAX_TREND_MONTHS),
    period: str | None = Query(default=None, pattern=PERIOD, description="the last month"),
) -> dict[str, Any]:
    """The KRI's value per month for the subject, the oldest first."""
    return scores.trend(session, principal, settings, kri_id, tenant, provider, months, period)


legacy_routes.alias(
    router, "/trend/{kri_id}", trend, successor="/api/v1/kri/catalogue/{kri_id}/trend"
)


@router.get("/repeated", response_model=RepeatedOut)
def repeated(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    period: str | None = Query(default=None, pattern=PERIOD, description="YYYY-MM"),
) -> dict[str, Any]:
    """The visible SLAs repeatedly failed in the period and their share against the target."""
    return sla.repeated_report(session, principal, settings, period or scores.last_period(settings))


@router.post("/compute", response_model=ComputeOut)
def compute(
    body: ComputeIn, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> ComputeOut:
    """Compute the period's KRIs from the product's data (`kri.compute`), then mark repeated
    SLA failures and open their corrective-action plans."""
    principal.require("kri.compute")
    if not principal.is_global:
        raise Forbidden(N_("computing KRIs acts across tenants: only unscoped users may do it"))
    now: datetime = utcnow()
    written = computed.compute_period(session, settings, body.period, now)
    found_on = now.astimezone(ZoneInfo(settings.dwh_timezone)).date()
    marked = sla.mark_repeated(session, settings, body.period, found_on)
    return ComputeOut(
        period=body.period, written=written, repeated=len(marked["repeated"]), plans=marked["plans"]
    )


@router.get("/computations", response_model=ComputationsOut)
def computations(principal: PrincipalDep) -> ComputationsOut:
    """The names a catalogue row's `computation` may hold."""
    principal.require("kri.read")
    return ComputationsOut(computations=sorted(computed.COMPUTATIONS))
