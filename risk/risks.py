"""The risk register: create, change, move through the workflow, align with the authority,
link, list and read risks, and the history of every field.

No HTTP here: routers pass the principal and settings. Every read and every write goes
through `risk.visibility` (another tenant's risk is a NotFound); who may change what is
`risk.writing.check_writer` (providers: their own or named risks; risk owners: theirs;
strategic risks are steered by the authority). Every change writes one `RiskChange` per
changed field (old and new JSON values) and an audit entry.

The answers (`describe`, `history_out`) are `risk.risk_answers`'s and the links (`link`,
`links`) `risk.risk_links`'s; both are importable from here too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from risk import acceptance
from risk import risk_names as names
from risk.matrix import Matrix, matrix_from
from risk.models import RISK_STATUSES, Risk, RiskChange, RiskLink, RiskProvider, RiskTenant
from risk.notifications import Notice, notify
from risk.risk_answers import describe, history_out
from risk.risk_links import link, link_pairs, links
from risk.schemas import RiskCreate, RiskFromCase, RiskUpdate
from risk.visibility import risk_filter, visible_risk
from risk.writing import (
    STEERS_STRATEGIC,
    audit_risk,
    check_writer,
    named_provider_ids,
    record_change,
    tenant_ids_of,
)
from soc.cases import service as cases
from soc.core.db import utcnow
from soc.core.errors import Conflict, Forbidden, Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant, User

# `describe`, `history_out`, `link` and `links` live in their own modules now: re-exported.
__all__ = [
    "SCALARS",
    "STEERING",
    "align",
    "create_risk",
    "describe",
    "get_risk",
    "history",
    "history_out",
    "link",
    "links",
    "list_risks",
    "raise_from_case",
    "snapshot",
    "transition",
    "update_risk",
]

STEERING = frozenset(
    {"category", "likelihood", "impact", "residual_likelihood", "residual_impact", "treatment"}
)
SCALARS = (
    "title",
    "description",
    "category",
    "source",
    "scope",
    "owner_name",
    "likelihood",
    "impact",
    "residual_likelihood",
    "residual_impact",
    "treatment",
    "review_date",
    "review_cadence_days",
)


# --- checks and state --------------------------------------------------------------------


def _check_levels(matrix: Matrix, likelihood: int, impact: int, which: str) -> None:
    try:
        matrix.check(likelihood, impact)
    except ValueError as exc:
        raise Invalid(N_("{which}: {exc}"), which=which, exc=exc) from exc


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def snapshot(session: Session, risk: Risk) -> dict[str, Any]:
    """Every field of the risk as JSON values, lists as sorted slugs: what history diffs."""
    state: dict[str, Any] = {f: _json(getattr(risk, f)) for f in SCALARS}
    state["tenants"] = names.slugs_of(session, Tenant, tenant_ids_of(session, risk.id))
    state["providers"] = names.slugs_of(session, Provider, named_provider_ids(session, risk.id))
    state["owner"] = names.username_of(session, risk.owner_user_id)
    state["owning_provider"] = names.provider_slug_of(session, risk.owning_provider_id)
    state["links"] = [f"{k}:{t}" for k, t in link_pairs(session, risk.id)]
    return state


def _set_tenants(session: Session, risk_id: int, tenant_ids: list[int]) -> None:
    session.execute(delete(RiskTenant).where(RiskTenant.risk_id == risk_id))
    session.add_all(RiskTenant(risk_id=risk_id, tenant_id=t) for t in tenant_ids)


def _set_providers(session: Session, risk_id: int, provider_ids: list[int]) -> None:
    session.execute(delete(RiskProvider).where(RiskProvider.risk_id == risk_id))
    session.add_all(RiskProvider(risk_id=risk_id, provider_id=p) for p in provider_ids)


def _tenant_scoped(principal: Principal) -> bool:
    return not principal.is_global and principal.provider_id is None


def _check_owning_provider(principal: Principal, provider_id: int | None) -> None:
    if principal.provider_id is not None and provider_id not in (None, principal.provider_id):
        raise Forbidden(N_("a provider's users register risks owned by their own provider"))


# --- writing -----------------------------------------------------------------------------


def create_risk(
    session: Session, principal: Principal, settings: Settings, data: RiskCreate
) -> Risk:
    """A new risk in status `identified`, not yet aligned (customers do not see it)."""
    return _create(session, principal, settings, data)


def _create(
    session: Session,
    principal: Principal,
    settings: Settings,
    data: RiskCreate,
    also_tenants: Iterable[int] = (),
    case_id: int | None = None,
) -> Risk:
    principal.require("risk.write")
    matrix = matrix_from(settings)
    residual_l = data.residual_likelihood or data.likelihood
    residual_i = data.residual_impact or data.impact
    _check_levels(matrix, data.likelihood, data.impact, "inherent")
    _check_levels(matrix, residual_l, residual_i, "residual")
    tenant_ids = names.tenant_ids_for(session, principal, data.tenants, also_tenants)
    if data.scope == "specific" and not tenant_ids:
        raise Invalid(N_("a specific risk names one or more tenants"))
    if data.scope == "common" and tenant_ids:
        raise Invalid(N_("a common risk concerns the whole ecosystem: name no tenants"))
    if data.scope == "common" and _tenant_scoped(principal):
        raise Forbidden(N_("a tenant's users register risks of their own tenant only"))
    provider_ids = sorted({names.provider_id_for(session, p) for p in data.providers})
    owning = names.provider_id_for(session, data.owning_provider) if data.owning_provider else None
    _check_owning_provider(principal, owning)
    if owning is None and principal.provider_id is not None:
        owning = principal.provider_id
    owner: int | None = None
    if data.owner:
        owner_user = names.nameable_user(session, principal, data.owner)
        names.check_owner_tenants(owner_user, tenant_ids)
        owner = owner_user.id
    if owner is None and principal.role == "risk_owner":
        owner = principal.user_id
    now = utcnow()
    risk = Risk(
        title=data.title,
        description=data.description,
        category=data.category,
        source=data.source,
        scope=data.scope,
        owner_user_id=owner,
        owner_name=data.owner_name,
        owning_provider_id=owning,
        likelihood=data.likelihood,
        impact=data.impact,
        residual_likelihood=residual_l,
        residual_impact=residual_i,
        treatment=data.treatment,
        status="identified",
        review_date=data.review_date,
        review_cadence_days=data.review_cadence_days,
        acceptance_state="none",
        advice="",
        created_by=principal.actor,
        created_at=now,
        updated_at=now,
    )
    session.add(risk)
    session.flush()
    _set_tenants(session, risk.id, tenant_ids)
    _set_providers(session, risk.id, provider_ids)
    if case_id is not None:
        session.add(RiskLink(risk_id=risk.id, kind="case", target_id=case_id))
    session.flush()
    state = snapshot(session, risk)
    record_change(session, risk, principal.actor, "created", None, state)
    audit_risk(session, principal, "risk.created", risk, **state)
    return risk


def raise_from_case(
    session: Session,
    principal: Principal,
    settings: Settings,
    case_id: int,
    data: RiskFromCase,
) -> Risk:
    """A risk raised from a security case the principal sees: source `soc_case`, the case
    linked, its tenant the risk's tenant unless others are named."""
    principal.require("risk.write")
    case = cases.get_case(session, principal, case_id)
    tenants = list(data.tenants)
    if data.scope == "specific" and not tenants:
        slug = session.scalar(select(Tenant.slug).where(Tenant.id == case.tenant_id))
        tenants = [slug] if slug else []
    fields = data.model_dump(exclude={"title", "tenants"})
    create = RiskCreate(
        **fields, title=data.title or case.title[:200], tenants=tenants, source="soc_case"
    )
    return _create(session, principal, settings, create, {case.tenant_id}, case.id)


def update_risk(
    session: Session, principal: Principal, settings: Settings, risk_id: int, data: RiskUpdate
) -> Risk:
    """Change the given fields: one history row per changed field; none when nothing
    changed. An accepted risk whose residual score goes up or whose scope changes returns to
    review (its acceptance ends)."""
    principal.require("risk.write")
    risk = visible_risk(session, principal, risk_id)
    changes = data.changes()
    steering = bool(STEERING & changes.keys())
    check_writer(session, principal, risk, steering=steering)
    if (
        steering
        and changes.get("category") == "strategic"
        and principal.role not in STEERS_STRATEGIC
    ):
        raise Forbidden(N_("strategic risks are steered by the authority"))
    old = snapshot(session, risk)
    matrix = matrix_from(settings)
    for field in SCALARS:
        if field in changes:
            setattr(risk, field, changes[field])
    _check_levels(matrix, risk.likelihood, risk.impact, "inherent")
    _check_levels(matrix, risk.residual_likelihood, risk.residual_impact, "residual")
    if risk.scope == "common" and _tenant_scoped(principal):
        raise Forbidden(N_("a tenant's users register risks of their own tenant only"))
    current = tenant_ids_of(session, risk.id)
    tenant_ids = current
    if "tenants" in changes:
        hidden = [t for t in current if not principal.sees_tenant(t)]
        tenant_ids = sorted(
            set(names.tenant_ids_for(session, principal, changes["tenants"])) | set(hidden)
        )
    if risk.scope == "common":
        if "tenants" in changes and changes["tenants"]:
            raise Invalid(N_("a common risk concerns the whole ecosystem: name no tenants"))
        tenant_ids = []
    elif not tenant_ids:
        raise Invalid(N_("a specific risk names one or more tenants"))
    if tenant_ids != current:
        _set_tenants(session, risk.id, tenant_ids)
    if "providers" in changes:
        _set_providers(
            session,
            risk.id,
            sorted({names.provider_id_for(session, p) for p in changes["providers"]}),
        )
    if "owner" in changes:
        risk.owner_user_id = (
            names.nameable_user(session, principal, changes["owner"]).id
            if changes["owner"]
            else None
        )
    if risk.owner_user_id is not None and {"owner", "tenants", "scope"} & changes.keys():
        owner_user = session.get(User, risk.owner_user_id)
        if owner_user is not None:
            names.check_owner_tenants(owner_user, tenant_ids)
    if "owning_provider" in changes:
        slug = changes["owning_provider"]
        owning = names.provider_id_for(session, slug) if slug else None
        _check_owning_provider(principal, owning)
        risk.owning_provider_id = owning
    session.flush()
    new = snapshot(session, risk)
    changed = {f: [old[f], new[f]] for f in new if old[f] != new[f]}
    if not changed:
        return risk
    for field, (before, after) in changed.items():
        record_change(session, risk, principal.actor, field, before, after)
    risk.updated_at = utcnow()
    realign = risk.aligned_at is not None and bool({"scope", "tenants"} & changed.keys())
    if realign:
        _clear_alignment(session, principal, risk)
        audit_risk(session, principal, "risk.updated", risk, changes=changed, realign=True)
    else:
        audit_risk(session, principal, "risk.updated", risk, changes=changed)
    if risk.acceptance_state == "accepted" and acceptance.material_change(session, risk):
        acceptance.end_on_material_change(session, risk, principal.actor)
    return risk


def _clear_alignment(session: Session, principal: Principal, risk: Risk) -> None:
    """Whom an aligned risk concerns changed (its scope or its tenants): the alignment was
    for the old ones, so it ends; the customers see the risk again once the authority
    aligns it anew (and is told so)."""
    risk.aligned_at, risk.aligned_by = None, None
    record_change(session, risk, principal.actor, "aligned", True, False)
    text = (
        f"Risk '{risk.title}' changed its scope or tenants after its alignment:"
        " align it again before its customers see it."
    )
    notify(session, [Notice("authority", "alignment_needed", "risk", risk.id, text)])


def transition(
    session: Session, principal: Principal, risk_id: int, status: str, note: str = ""
) -> Risk:
    """identified → assessed → treatment_planned → in_treatment → monitored → closed: one
    step forward, or back to any earlier step with a note; a closed risk reopens to
    `identified` with a note. `treatment_planned` needs a treatment."""
    principal.require("risk.write")
    risk = visible_risk(session, principal, risk_id)
    check_writer(session, principal, risk, steering=True)
    if status not in RISK_STATUSES:
        raise Invalid(N_("unknown status {status!r}"), status=status)
    current, wanted = RISK_STATUSES.index(risk.status), RISK_STATUSES.index(status)
    note = note.strip()
    if wanted == current:
        raise Conflict(N_("risk {risk_id} is {status} already"), risk_id=risk_id, status=status)
    if risk.status == "closed" and status != "identified":
        raise Invalid(N_("a closed risk reopens to 'identified' first"))
    if wanted > current + 1:
        raise Invalid(
            N_("from {status} the next step is {next_status}"),
            status=risk.status,
            next_status=RISK_STATUSES[current + 1],
        )
    if wanted < current and not note:
        raise Invalid(N_("going back (or reopening) needs a note"))
    if wanted > current:
        if status == "assessed" and (
            risk.residual_likelihood is None or risk.residual_impact is None
        ):
            raise Invalid(N_("assess the residual likelihood and impact first"))
        if status == "treatment_planned" and not risk.treatment:
            raise Invalid(N_("choose a treatment first (mitigate, transfer, avoid or accept)"))
    old = risk.status
    now = utcnow()
    risk.status, risk.updated_at = status, now
    risk.closed_at = now if status == "closed" else None
    record_change(session, risk, principal.actor, "status", old, status)
    audit_risk(session, principal, "risk.status", risk, old=old, new=status, note=note)
    return risk


def align(session: Session, principal: Principal, risk_id: int, advice: str, today: date) -> Risk:
    """The authority's alignment: from now on the risk reaches its customers (every tenant
    for a common risk), each notified with the advice to bring it to an acceptable level."""
    principal.require("risk.align")
    risk = visible_risk(session, principal, risk_id)
    advice = advice.strip()
    if not advice:
        raise Invalid(N_("alignment needs the advice for the customer"))
    old_advice, was_aligned = risk.advice, risk.aligned_at is not None
    now = utcnow()
    risk.aligned_at, risk.aligned_by, risk.advice, risk.updated_at = (
        now,
        principal.actor,
        advice,
        now,
    )
    record_change(session, risk, principal.actor, "aligned", was_aligned, True)
    if old_advice != advice:
        record_change(session, risk, principal.actor, "advice", old_advice, advice)
    if risk.scope == "common":
        tenant_ids = sorted(session.scalars(select(Tenant.id)))
    else:
        tenant_ids = tenant_ids_of(session, risk.id)
    text = f"Risk '{risk.title}' (aligned {today.isoformat()}): {advice}"
    notify(
        session,
        [
            Notice("customer", "risk_aligned", "risk", risk.id, text, tenant_id=t)
            for t in tenant_ids
        ],
    )
    audit_risk(session, principal, "risk.aligned", risk, advice=advice, tenants=tenant_ids)
    return risk


# --- reading -----------------------------------------------------------------------------


def get_risk(session: Session, principal: Principal, risk_id: int) -> Risk:
    principal.require("risk.read")
    return visible_risk(session, principal, risk_id)


def list_risks(
    session: Session,
    principal: Principal,
    *,
    category: str | None = None,
    status: str | None = None,
    scope: str | None = None,
    tenant: str | None = None,
    owner: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Risk]]:
    """The risks the principal sees, newest first; `tenant` is a slug, `owner` a username
    (an unknown one matches nothing)."""
    principal.require("risk.read")
    query = select(Risk).where(risk_filter(principal))
    for column, value in ((Risk.category, category), (Risk.status, status), (Risk.scope, scope)):
        if value is not None:
            query = query.where(column == value)
    if tenant is not None:
        query = query.where(
            Risk.id.in_(
                select(RiskTenant.risk_id)
                .join(Tenant, Tenant.id == RiskTenant.tenant_id)
                .where(Tenant.slug == tenant, principal.tenant_filter(RiskTenant.tenant_id))
            )
        )
    if owner is not None:
        query = query.where(Risk.owner_user_id.in_(select(User.id).where(User.username == owner)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Risk.id.desc()).limit(limit).offset(offset))
    return total, list(rows)


def history(
    session: Session, principal: Principal, risk_id: int, limit: int = 100, offset: int = 0
) -> tuple[int, list[RiskChange]]:
    """Who changed which field and when, oldest first."""
    risk = get_risk(session, principal, risk_id)
    query = select(RiskChange).where(RiskChange.risk_id == risk.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(RiskChange.id).limit(limit).offset(offset))
    return total, list(rows)
