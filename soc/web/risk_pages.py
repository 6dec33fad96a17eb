"""The risk register pages (issue 12, item 8): the register with its heat map (likelihood ×
impact, inherent beside residual) and its trend by month, one risk with its forms by role, and
a page per party: the risk owner's own risks and actions, the authority's queue, the customer's
aligned risks and proposals, a provider's assigned actions; "raise a risk" from a case.

Server-rendered like `soc.web.pages`, with the same session cookie and CSRF token. Every read
goes through `risk.visibility` (another tenant's risk is the same 404 as a missing one); the
forms (`soc.web.risk_forms`) call the risk services, which check the roles again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
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
    RiskLink,
    RiskNonConformity,
    RiskNotification,
    RiskProvider,
    RiskTenant,
)
from risk.notifications import for_principal
from risk.proposals import may_decide
from risk.visibility import action_filter, nc_filter, risk_filter, visible_risk
from soc.cases import service as cases
from soc.core.db import utcnow
from soc.core.deps import SESSION_COOKIE, SettingsDep, db_session
from soc.core.errors import DomainError, NotFound
from soc.core.principal import Principal
from soc.core.schemas import parse_id
from soc.core.settings import Settings
from soc.web.chrome import chrome, form_token, lang_of, signed_in
from soc.web.texts import TEXT
from tenants.models import Provider, Tenant, User

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STYLE = Path(__file__).parent / "static" / "risk.css"
DONE = (
    "created",
    "moved",
    "aligned",
    "requested",
    "decided",
    "noted",
    "uploaded",
    "approved",
    "rejected",
)
TREND_MONTHS = 12


def today() -> date:
    return utcnow().date()


def _page(
    request: Request, name: str, principal: Principal, context: dict[str, Any], status: int = 200
) -> Response:
    lang = lang_of(request)
    done = request.query_params.get("done")
    response = templates.TemplateResponse(
        request,
        name,
        {
            "t": TEXT[lang],
            "lang": lang,
            "csrf": form_token(request.cookies.get(SESSION_COOKIE) or ""),
            "who": principal.actor,
            "role": principal.role,
            "is_provider": principal.provider_id is not None,
            "done": done if done in DONE else None,
            "error": (request.query_params.get("error") or "")[:300] or None,
            **chrome(request),
            "nav_risk": False,  # the risk header has the register's links itself
            **context,
        },
        status_code=status,
    )
    if request.query_params.get("lang") in TEXT:
        response.set_cookie("lang", lang, samesite="strict")
    return response


def _to_login() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _refused(request: Request, principal: Principal, status: int, message: str) -> Response:
    return _page(request, "risk_refused.html", principal, {"message": message}, status)


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


def _notices(session: Session, principal: Principal) -> list[RiskNotification]:
    """The reader's notifications, once each (an owner who is also the customer's user gets
    the same warning as owner and as customer)."""
    seen: set[tuple[str, str, int, str]] = set()
    shown = []
    for notice in for_principal(session, principal):
        key = (notice.kind, notice.subject_type, notice.subject_id, notice.text)
        if key not in seen:
            seen.add(key)
            shown.append(notice)
    return shown


def _risk_tenants(session: Session, risk_ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    query = select(RiskTenant).where(RiskTenant.risk_id.in_(risk_ids))
    for row in session.scalars(query):
        found.setdefault(row.risk_id, []).append(row.tenant_id)
    return found


def _risks(session: Session, principal: Principal, *where: Any) -> list[Risk]:
    query = select(Risk).where(risk_filter(principal), *where).order_by(Risk.id.desc())
    return list(session.scalars(query.limit(500)))


def _actions(session: Session, principal: Principal, *where: Any) -> list[RiskAction]:
    query = select(RiskAction).where(action_filter(principal), *where)
    return list(session.scalars(query.order_by(RiskAction.due, RiskAction.id).limit(500)))


def _scored(m: Matrix) -> dict[str, Any]:
    """What the templates need to show scores: the band of a score, the axes' labels."""
    return {"band": m.band, "matrix": m}


def _action_context(
    session: Session, actions: list[RiskAction], settings: Settings
) -> dict[str, Any]:
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
        "today": today(),
    }


def _heat(m: Matrix, risks: list[Risk], lang: str) -> dict[str, Any]:
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


@router.get("/risk/static/risk.css")
def style() -> Response:
    return FileResponse(STYLE, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


REGISTER_FILTERS = {"category": CATEGORIES, "status": RISK_STATUSES, "scope": SCOPES}


@router.get("/risk", response_class=HTMLResponse)
def register_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The register: heat maps, trend by month, filters and the visible risks."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not principal.can("risk.read"):
        return _refused(request, principal, 403, TEXT[lang_of(request)]["rk_no_rights"])
    chosen = {
        k: v if (v := request.query_params.get(k) or "") in allowed else ""
        for k, allowed in REGISTER_FILTERS.items()
    }
    where = [getattr(Risk, k) == v for k, v in chosen.items() if v]
    risks = _risks(session, principal, *where)
    m = matrix_from(settings)
    months = views.trend(session, principal, TREND_MONTHS, today(), settings=settings)
    names = Names(session, [r.owner_user_id for r in risks])
    context = {
        "risks": risks,
        "names": names,
        "tenants_of": _risk_tenants(session, [r.id for r in risks]),
        "chosen": chosen,
        "filters": REGISTER_FILTERS,
        "heat": _heat(m, risks, lang_of(request)),
        "trend": months,
        "chart": trend_chart(months),
        **_scored(m),
    }
    return _page(request, "risk_register.html", principal, context)


def _not_found(request: Request, principal: Principal, raw: str) -> Response:
    text = TEXT[lang_of(request)]["rk_not_found"]
    return _refused(request, principal, 404, f"{text} ({raw[:40]})")


@router.get("/risk/risks/{risk_ref}", response_class=HTMLResponse)
def risk_page(
    risk_ref: str,
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """One risk: scores, parties, advice, links, field history, actions, acceptance; forms
    by role (status, alignment, acceptance request and decision)."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not principal.can("risk.read"):
        return _refused(request, principal, 403, TEXT[lang_of(request)]["rk_no_rights"])
    risk_id = parse_id(risk_ref)
    try:
        if risk_id is None:
            raise NotFound(risk_ref)
        risk = visible_risk(session, principal, risk_id)
    except DomainError:
        return _not_found(request, principal, risk_ref)
    tenant_ids = _risk_tenants(session, [risk.id]).get(risk.id, [])
    provider_ids = list(
        session.scalars(select(RiskProvider.provider_id).where(RiskProvider.risk_id == risk.id))
    )
    links = list(session.scalars(select(RiskLink).where(RiskLink.risk_id == risk.id)))
    history = list(
        session.scalars(
            select(RiskChange).where(RiskChange.risk_id == risk.id).order_by(RiskChange.id)
        )
    )
    acceptances = list(
        session.scalars(
            select(RiskAcceptance)
            .where(RiskAcceptance.risk_id == risk.id)
            .order_by(RiskAcceptance.id.desc())
        )
    )
    pending = next((a for a in acceptances if a.status == "requested"), None)
    actions = _actions(session, principal, RiskAction.risk_id == risk.id)
    m = matrix_from(settings)
    context = {
        "risk": risk,
        "names": Names(session, [risk.owner_user_id]),
        "tenant_ids": tenant_ids,
        "provider_ids": provider_ids,
        "links": links,
        "history": history,
        "acceptances": acceptances,
        "pending": pending,
        "statuses": [s for s in RISK_STATUSES if s != risk.status],
        "can_write": principal.can("risk.write"),
        "can_align": principal.can("risk.align"),
        "can_accept": principal.role == "authority"
        or (principal.can("risk.accept") and needs_customer(settings, risk)),
        "max_expiry": today().toordinal() + settings.risk_acceptance_max_days,
        **_action_context(session, actions, settings),
        **_scored(m),
    }
    context["max_expiry"] = date.fromordinal(int(context["max_expiry"])).isoformat()
    return _page(request, "risk_detail.html", principal, context)


@router.get("/risk/mine", response_class=HTMLResponse)
def mine_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The risk owner's own risks and actions, with progress and evidence forms."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not principal.can("risk.read") or principal.user_id is None:
        return _refused(request, principal, 403, TEXT[lang_of(request)]["rk_no_rights"])
    risks = _risks(session, principal, Risk.owner_user_id == principal.user_id)
    own = [RiskAction.owner_user_id == principal.user_id]
    if risks:
        own.append(RiskAction.risk_id.in_([r.id for r in risks]))
    actions = _actions(session, principal, or_(*own))
    context = {
        "risks": risks,
        "names": Names(session, [principal.user_id]),
        "notifications": _notices(session, principal),
        "can_update": principal.can("actions.write"),
        **_action_context(session, actions, settings),
        **_scored(matrix_from(settings)),
    }
    return _page(request, "risk_mine.html", principal, context)


def _nonconformities(
    session: Session, principal: Principal
) -> tuple[list[RiskNonConformity], dict[int, list[RiskAction]]]:
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
        for action in _actions(session, principal, RiskAction.nc_id.in_([n.id for n in ncs])):
            proposals.setdefault(action.nc_id or 0, []).append(action)
    return ncs, proposals


def _deadline_changes(
    session: Session, principal: Principal, approver: str
) -> list[tuple[RiskDeadlineChange, RiskAction]]:
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


@router.get("/risk/authority", response_class=HTMLResponse)
def authority_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The authority: acceptance queue, deadline changes of common items, strategic risks,
    common improvement proposals to decide, notifications."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if principal.role != "authority":
        return _refused(request, principal, 403, TEXT[lang_of(request)]["rk_only_authority"])
    queue = list(
        session.execute(
            select(RiskAcceptance, Risk)
            .join(Risk, Risk.id == RiskAcceptance.risk_id)
            .where(RiskAcceptance.status == "requested", risk_filter(principal))
            .order_by(RiskAcceptance.id)
        )
    )
    proposals = _actions(
        session,
        principal,
        RiskAction.register == "improvement_proposal",
        RiskAction.scope == "common",
        or_(RiskAction.decision.is_(None), RiskAction.decision == "pending"),
    )
    strategic = _risks(session, principal, Risk.category == "strategic")
    context = {
        "queue": queue,
        "changes": _deadline_changes(session, principal, "authority"),
        "strategic": strategic,
        "proposals": proposals,
        "notifications": _notices(session, principal),
        "names": Names(session, [r.owner_user_id for r in strategic]),
        "max_expiry": date.fromordinal(
            today().toordinal() + settings.risk_acceptance_max_days
        ).isoformat(),
        **_scored(matrix_from(settings)),
    }
    return _page(request, "risk_authority.html", principal, context)


@router.get("/risk/customer", response_class=HTMLResponse)
def customer_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """A customer: its aligned risks with the advice, its non-conformities and proposals
    (decide those specific to its tenant), deadline approvals, notifications."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if principal.role != "customer":
        return _refused(request, principal, 403, TEXT[lang_of(request)]["rk_only_customer"])
    risks = _risks(session, principal, Risk.aligned_at.is_not(None))
    ncs, proposals = _nonconformities(session, principal)
    context = {
        "risks": risks,
        "tenants_of": _risk_tenants(session, [r.id for r in risks]),
        "ncs": ncs,
        "proposals": proposals,
        "decides": lambda a: (
            a.register == "improvement_proposal"
            and a.decision in (None, "pending")
            and may_decide(principal, a)
        ),
        "changes": _deadline_changes(session, principal, "customer"),
        "notifications": _notices(session, principal),
        "names": Names(session),
        **_scored(matrix_from(settings)),
    }
    return _page(request, "risk_customer.html", principal, context)


@router.get("/risk/provider", response_class=HTMLResponse)
def provider_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """A provider's assigned actions, with progress and evidence forms."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if principal.provider_id is None or not principal.can("actions.read"):
        return _refused(request, principal, 403, TEXT[lang_of(request)]["rk_only_provider"])
    actions = _actions(session, principal, RiskAction.owner_provider_id == principal.provider_id)
    context = {
        "names": Names(session),
        "notifications": _notices(session, principal),
        "can_update": principal.can("actions.write"),
        **_action_context(session, actions, settings),
    }
    return _page(request, "risk_provider.html", principal, context)


@router.get("/risk/new", response_class=HTMLResponse)
def new_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Raise a risk; from a security case (`?case=ID`) with its title, source and link."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not principal.can("risk.write"):
        return _refused(request, principal, 403, TEXT[lang_of(request)]["rk_no_write"])
    raw = request.query_params.get("case") or ""
    case = None
    if raw:
        case_id = parse_id(raw)
        try:
            if case_id is None:
                raise NotFound(raw)
            case = cases.get_case(session, principal, case_id)
        except DomainError:
            return _refused(request, principal, 404, TEXT[lang_of(request)]["rk_no_case"])
    m = matrix_from(settings)
    names = Names(session)
    context = {
        "case": case,
        "case_tenant": names.tenant(case.tenant_id) if case else "",
        "names": names,
        "categories": CATEGORIES,
        "sources": RISK_SOURCES,
        "scopes": SCOPES,
        "treatments": TREATMENTS,
        "likelihoods": [
            (i, m.label("likelihood", i, lang_of(request))) for i in range(1, len(m.likelihood) + 1)
        ],
        "impacts": [
            (i, m.label("impact", i, lang_of(request))) for i in range(1, len(m.impact) + 1)
        ],
    }
    return _page(request, "risk_new.html", principal, context)
