"""What the risk register pages show (`soc.web.risk_pages`): the queries and read models
behind each page. The register with its heat maps from the chosen filters and its trend, one
risk with its parties, history and actions, and the lists per party (owner, authority,
customer, provider).

No web framework here: each function takes the session, the principal, the settings (and the
page's language and today) and returns the plain data its template reads. Every query goes
through `risk.visibility`, so a page never lists what its reader may not see; a risk's
tenants, links and history are named as in the API (`risk.risk_answers`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from risk import views
from risk.acceptance import needs_customer
from risk.matrix import Matrix, heat_map, matrix_from
from risk.models import (
    ACTION_STATUSES,
    CATEGORIES,
    RISK_SOURCES,
    RISK_STATUSES,
    SCOPES,
    TREATMENTS,
    Risk,
    RiskAcceptance,
    RiskAction,
    RiskActionEvidence,
    RiskActionNote,
    RiskChange,
    RiskDeadlineChange,
    RiskNonConformity,
    RiskProvider,
)
from risk.proposals import may_decide
from risk.risk_answers import history_out, seen_links, seen_tenant_ids
from risk.schemas import LinkOut
from risk.visibility import action_filter, nc_filter, risk_filter
from soc.cases.models import Case
from soc.core.principal import Principal
from soc.core.settings import Settings
from soc.web.risk_notices import notices
from tenants.models import Provider, Tenant, User

REGISTER_FILTERS = {"category": CATEGORIES, "status": RISK_STATUSES, "scope": SCOPES}
TREND_MONTHS = 12


class Names:
    """Slugs and usernames of the ids a page shows (tenants and providers are few)."""

    def __init__(self, session: Session, user_ids: Iterable[int | None] = ()) -> None:
        self.tenants = {t.id: t.slug for t in session.scalars(select(Tenant))}
        self.providers = {p.id: p.slug for p in session.scalars(select(Provider))}
        wanted = sorted({u for u in user_ids if u is not None})
        query = select(User.id, User.username).where(User.id.in_(wanted))
        self.users: dict[int, str] = {i: n for i, n in session.execute(query)}

    def tenant(self, tenant_id: int | None) -> str:
        return self.tenants.get(tenant_id or 0, "-")

    def tenant_list(self, tenant_ids: Iterable[int]) -> str:
        return ", ".join(self.tenant(t) for t in tenant_ids) or "-"

    def provider_list(self, provider_ids: Iterable[int]) -> str:
        return ", ".join(self.provider(p) for p in provider_ids) or "-"

    def provider(self, provider_id: int | None) -> str:
        return self.providers.get(provider_id or 0, "-")

    def user(self, user_id: int | None, fallback: str = "") -> str:
        return self.users.get(user_id or 0, fallback or "-")


def risk_tenants(
    session: Session, principal: Principal, risk_ids: list[int]
) -> dict[int, list[int]]:
    """Per risk, the tenants the reader may see (a shared risk's other tenants stay unnamed,
    as in the API and the export)."""
    return seen_tenant_ids(session, principal, risk_ids)


def visible_risks(session: Session, principal: Principal, *where: Any) -> list[Risk]:
    query = select(Risk).where(risk_filter(principal), *where).order_by(Risk.id.desc())
    return list(session.scalars(query.limit(500)))


def visible_actions(session: Session, principal: Principal, *where: Any) -> list[RiskAction]:
    query = select(RiskAction).where(action_filter(principal), *where)
    return list(session.scalars(query.order_by(RiskAction.due, RiskAction.id).limit(500)))


def scored(m: Matrix) -> dict[str, Any]:
    """What the templates need to show scores: the band of a score, the axes' labels."""
    return {"band": m.band, "matrix": m}


def action_context(
    session: Session, actions: list[RiskAction], settings: Settings, today: date
) -> dict[str, Any]:
    """The actions of a page with their notes and evidence (and what their forms need)."""
    ids = [a.id for a in actions]
    notes: dict[int, list[RiskActionNote]] = {}
    for note in session.scalars(
        select(RiskActionNote).where(RiskActionNote.action_id.in_(ids)).order_by(RiskActionNote.id)
    ):
        notes.setdefault(note.action_id, []).append(note)
    evidence: dict[int, list[RiskActionEvidence]] = {}
    for item in session.scalars(
        select(RiskActionEvidence).where(RiskActionEvidence.action_id.in_(ids))
    ):
        evidence.setdefault(item.action_id, []).append(item)
    return {
        "actions": actions,
        "notes": notes,
        "evidence": evidence,
        "action_statuses": ACTION_STATUSES,
        "accept_types": ",".join(settings.case_evidence_content_types),
        "today": today,
    }


def heat(m: Matrix, risks: list[Risk], lang: str) -> dict[str, Any]:
    live = [r for r in risks if r.status != "closed"]
    return {
        "inherent": heat_map(m, [(r.likelihood, r.impact) for r in live]),
        "residual": heat_map(m, [(r.residual_likelihood, r.residual_impact) for r in live]),
        "likelihood_labels": {
            i: m.label("likelihood", i, lang) for i in range(1, 11) if i <= len(m.likelihood)
        },
        "impact_labels": [m.label("impact", i, lang) for i in range(1, len(m.impact) + 1)],
    }


def trend_chart(months: list[dict[str, Any]]) -> dict[str, Any]:
    """An inline SVG: per month a bar of the open risks, a line of the new ones."""
    width, height, pad = 560, 160, 24
    top = max([1, *(int(m["open"]) for m in months), *(int(m["new"]) for m in months)])
    step = (width - 2 * pad) / max(1, len(months))
    bars, points = [], []
    for i, month in enumerate(months):
        x = pad + i * step
        bar_h = (height - 2 * pad) * int(month["open"]) / top
        bars.append(
            {
                "x": round(x + step * 0.15, 1),
                "y": round(height - pad - bar_h, 1),
                "w": round(step * 0.7, 1),
                "h": round(bar_h, 1),
                "label": str(month["month"])[2:],
                "lx": round(x + step / 2, 1),
                "open": month["open"],
            }
        )
        new_y = height - pad - (height - 2 * pad) * int(month["new"]) / top
        points.append(f"{round(x + step / 2, 1)},{round(new_y, 1)}")
    return {"width": width, "height": height, "pad": pad, "bars": bars, "line": " ".join(points)}


def chosen_filters(raw: dict[str, str]) -> dict[str, str]:
    """The register's filters from the query: known values only, else none."""
    return {
        k: v if (v := raw.get(k) or "") in allowed else ""
        for k, allowed in REGISTER_FILTERS.items()
    }


def register_view(
    session: Session,
    principal: Principal,
    settings: Settings,
    chosen: dict[str, str],
    lang: str,
    today: date,
) -> dict[str, Any]:
    """The register: heat maps, trend by month, filters and the visible risks."""
    where = [getattr(Risk, k) == v for k, v in chosen.items() if v]
    risks = visible_risks(session, principal, *where)
    m = matrix_from(settings)
    months = views.trend(session, principal, TREND_MONTHS, today, settings=settings)
    return {
        "risks": risks,
        "names": Names(session, [r.owner_user_id for r in risks]),
        "tenants_of": risk_tenants(session, principal, [r.id for r in risks]),
        "chosen": chosen,
        "filters": REGISTER_FILTERS,
        "heat": heat(m, risks, lang),
        "trend": months,
        "chart": trend_chart(months),
        **scored(m),
    }


def _max_expiry(settings: Settings, today: date) -> str:
    return (today + timedelta(days=settings.risk_acceptance_max_days)).isoformat()


def risk_view(
    session: Session, principal: Principal, settings: Settings, risk: Risk, today: date
) -> dict[str, Any]:
    """One (visible) risk: parties, links, field history, acceptances, actions, and which
    forms the reader's role gets."""
    provider_ids = select(RiskProvider.provider_id).where(RiskProvider.risk_id == risk.id)
    history = select(RiskChange).where(RiskChange.risk_id == risk.id).order_by(RiskChange.id)
    links = [LinkOut(kind=k, target_id=t) for k, t in seen_links(session, principal, risk.id)]
    acceptances = list(
        session.scalars(
            select(RiskAcceptance)
            .where(RiskAcceptance.risk_id == risk.id)
            .order_by(RiskAcceptance.id.desc())
        )
    )
    actions = visible_actions(session, principal, RiskAction.risk_id == risk.id)
    return {
        "risk": risk,
        "names": Names(session, [risk.owner_user_id]),
        "tenant_ids": risk_tenants(session, principal, [risk.id]).get(risk.id, []),
        "provider_ids": list(session.scalars(provider_ids)),
        "links": links,
        "history": history_out(session, principal, list(session.scalars(history))),
        "acceptances": acceptances,
        "pending": next((a for a in acceptances if a.status == "requested"), None),
        "statuses": [s for s in RISK_STATUSES if s != risk.status],
        "can_write": principal.can("risk.write"),
        "can_align": principal.can("risk.align"),
        "can_accept": principal.role == "authority"
        or (principal.can("risk.accept") and needs_customer(settings, risk)),
        "max_expiry": _max_expiry(settings, today),
        **action_context(session, actions, settings, today),
        **scored(matrix_from(settings)),
    }


def mine_view(
    session: Session, principal: Principal, settings: Settings, lang: str, today: date
) -> dict[str, Any]:
    """The risk owner's own risks and actions (those of its risks too), its notices."""
    risks = visible_risks(session, principal, Risk.owner_user_id == principal.user_id)
    own = [RiskAction.owner_user_id == principal.user_id]
    if risks:
        own.append(RiskAction.risk_id.in_([r.id for r in risks]))
    actions = visible_actions(session, principal, or_(*own))
    return {
        "risks": risks,
        "names": Names(session, [principal.user_id]),
        "notifications": notices(session, principal, lang),
        "can_update": principal.can("actions.write"),
        **action_context(session, actions, settings, today),
        **scored(matrix_from(settings)),
    }


def nonconformities(
    session: Session, principal: Principal
) -> tuple[list[RiskNonConformity], dict[int, list[RiskAction]]]:
    """The visible non-conformities and, per non-conformity, its visible actions."""
    ncs = list(
        session.scalars(
            select(RiskNonConformity)
            .where(nc_filter(principal))
            .order_by(RiskNonConformity.id.desc())
            .limit(200)
        )
    )
    proposals: dict[int, list[RiskAction]] = {}
    if ncs:
        for action in visible_actions(
            session, principal, RiskAction.nc_id.in_([n.id for n in ncs])
        ):
            proposals.setdefault(action.nc_id or 0, []).append(action)
    return ncs, proposals


def deadline_changes(
    session: Session, principal: Principal, approver: str
) -> list[tuple[RiskDeadlineChange, RiskAction]]:
    """The pending deadline changes this approver decides, with their (visible) actions."""
    query = (
        select(RiskDeadlineChange, RiskAction)
        .join(RiskAction, RiskAction.id == RiskDeadlineChange.action_id)
        .where(
            RiskDeadlineChange.status == "pending",
            RiskDeadlineChange.approver == approver,
            action_filter(principal),
        )
        .order_by(RiskDeadlineChange.id)
    )
    return [(c, a) for c, a in session.execute(query)]


def authority_view(
    session: Session, principal: Principal, settings: Settings, lang: str, today: date
) -> dict[str, Any]:
    """The authority: acceptance queue, deadline changes of common items, strategic risks,
    common improvement proposals to decide, notifications."""
    queue = list(
        session.execute(
            select(RiskAcceptance, Risk)
            .join(Risk, Risk.id == RiskAcceptance.risk_id)
            .where(RiskAcceptance.status == "requested", risk_filter(principal))
            .order_by(RiskAcceptance.id)
        )
    )
    proposals = visible_actions(
        session,
        principal,
        RiskAction.register == "improvement_proposal",
        RiskAction.scope == "common",
        or_(RiskAction.decision.is_(None), RiskAction.decision == "pending"),
    )
    strategic = visible_risks(session, principal, Risk.category == "strategic")
    return {
        "queue": queue,
        "changes": deadline_changes(session, principal, "authority"),
        "strategic": strategic,
        "proposals": proposals,
        "notifications": notices(session, principal, lang),
        "names": Names(session, [r.owner_user_id for r in strategic]),
        "max_expiry": _max_expiry(settings, today),
        **scored(matrix_from(settings)),
    }


def customer_view(
    session: Session, principal: Principal, settings: Settings, lang: str
) -> dict[str, Any]:
    """A customer: its aligned risks with the advice, its non-conformities and proposals
    (decide those specific to its tenant), deadline approvals, notifications."""
    risks = visible_risks(session, principal, Risk.aligned_at.is_not(None))
    ncs, proposals = nonconformities(session, principal)
    return {
        "risks": risks,
        "tenants_of": risk_tenants(session, principal, [r.id for r in risks]),
        "ncs": ncs,
        "proposals": proposals,
        "decides": lambda a: (
            a.register == "improvement_proposal"
            and a.decision in (None, "pending")
            and may_decide(principal, a)
        ),
        "changes": deadline_changes(session, principal, "customer"),
        "notifications": notices(session, principal, lang),
        "names": Names(session),
        **scored(matrix_from(settings)),
    }


def provider_view(
    session: Session, principal: Principal, settings: Settings, lang: str, today: date
) -> dict[str, Any]:
    """A provider's assigned actions, with progress and evidence forms."""
    actions = visible_actions(
        session, principal, RiskAction.owner_provider_id == principal.provider_id
    )
    return {
        "names": Names(session),
        "notifications": notices(session, principal, lang),
        "can_update": principal.can("actions.write"),
        **action_context(session, actions, settings, today),
    }


def new_view(session: Session, settings: Settings, case: Case | None, lang: str) -> dict[str, Any]:
    """The form raising a risk, from a (visible) security case when one is given."""
    m = matrix_from(settings)
    names = Names(session)
    return {
        "case": case,
        "case_tenant": names.tenant(case.tenant_id) if case else "",
        "names": names,
        "categories": CATEGORIES,
        "sources": RISK_SOURCES,
        "scopes": SCOPES,
        "treatments": TREATMENTS,
        "likelihoods": [
            (i, m.label("likelihood", i, lang)) for i in range(1, len(m.likelihood) + 1)
        ],
        "impacts": [(i, m.label("impact", i, lang)) for i in range(1, len(m.impact) + 1)],
    }
