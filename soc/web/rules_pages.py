"""Detection rules from the UI: enable, disable, exceptions.

Readers with `rules.manage` (analysts, admins) list the rules as one tenant sees them (level,
status, ATT&CK tags, enabled there and in how many of their tenants), enable or disable a rule
for one tenant or for every tenant they see, and list, add and remove the rule's exceptions.
Every change goes through `detections.service` (audited, bumps the tenant's detection
revision, so the next batch already follows it). Forms carry the CSRF token; a POST answers
303 back to the page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from detections import service as mgmt
from detections.exceptions import MODIFIERS
from soc.core.deps import SESSION_COOKIE, db_session
from soc.core.errors import DomainError, Invalid
from soc.core.i18n import BRUSSELS, N_, gettext
from soc.core.principal import Principal
from soc.core.schemas import parse_id
from soc.services import Services
from soc.shell_deps import get_services
from soc.web.chrome import form_token, same_token, signed_in
from soc.web.forms import FORGED, refusal_text
from soc.web.shell import error_page, lang_of, render, to_login
from soc.web.timeline_text import attack_link
from tenants.models import Tenant
from tenants.tenancy import list_tenants

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100
EVERY_TENANT = "*"
NO_RIGHT = N_("Rules are managed by analysts and administrators.")
NO_TENANT = N_("There is no tenant {ref} that you may see.")
NO_TENANTS = N_("You see no tenant, so there are no rules to manage.")
DONE_ON = N_("Enabled for {count} tenant(s).")
DONE_OFF = N_("Disabled for {count} tenant(s).")
EXCEPTION_ADDED = N_("Exception added.")
EXCEPTION_REMOVED = N_("Exception removed.")
BAD_DATE = N_("Give the expiry date as YYYY-MM-DD.")
MODIFIER_NAMES: dict[str, str] = {
    "equals": N_("equals"),
    "contains": N_("contains"),
    "startswith": N_("starts with"),
    "endswith": N_("ends with"),
    "re": N_("matches the regular expression"),
}


def _reader(request: Request, session: Session) -> Principal | Response:
    principal = signed_in(request, session)
    if principal is None:
        return to_login()
    if not principal.can("rules.manage"):
        return error_page(request, 403, gettext(lang_of(request), NO_RIGHT))
    return principal


def _tenant(visible: list[Tenant], slug: str | None) -> Tenant | None:
    if not slug:
        return visible[0] if visible else None
    return next((t for t in visible if t.slug == slug), None)


def _back(path: str, **params: Any) -> str:
    shown = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urlencode(shown) if shown else "")


@router.get("/rules")
def rules_list(
    request: Request,
    session: Session = Depends(db_session, scope="function"),
    services: Services = Depends(get_services),
) -> Response:
    """The rules as one tenant sees them, with their state there and across the tenants."""
    reader = _reader(request, session)
    if isinstance(reader, Response):
        return reader
    lang = lang_of(request)
    params = request.query_params
    visible = list_tenants(session, reader)
    tenant = _tenant(visible, params.get("tenant"))
    if tenant is None:
        detail = NO_TENANT if visible else NO_TENANTS
        return error_page(request, 404, gettext(lang, detail).format(ref=params.get("tenant")))
    view = services.detector.views.get(session, tenant.id)
    q = (params.get("q") or "").strip()[:200]
    level = (params.get("level") or "").strip()[:20] or None
    state = params.get("enabled")
    enabled = {"on": True, "off": False}.get(state or "")
    rows = mgmt.list_rules(view, level=level, enabled=enabled, q=q or None)
    try:
        page = max(1, int(params.get("page") or 1))
    except ValueError:
        page = 1
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    others = [services.detector.views.get(session, t.id) for t in visible]
    for row in shown:
        row["tag_links"] = [(t, attack_link(t)) for t in row["tags"]]
        row["enabled_in"] = sum(v.is_enabled(row["id"]) for v in others)
    base = {"tenant": tenant.slug, "q": q, "level": level, "enabled": state}
    return render(
        request,
        "rules.html",
        {
            "tenants": visible,
            "tenant": tenant,
            "rows": shown,
            "total": len(rows),
            "q": q,
            "level": level or "",
            "state": state or "",
            "levels": ("informational", "low", "medium", "high", "critical"),
            "message": params.get("message"),
            "error": params.get("error"),
            "back": _back("/rules", **base, page=page if page > 1 else None),
            "prev_url": _back("/rules", **base, page=page - 1) if page > 1 else None,
            "next_url": _back("/rules", **base, page=page + 1)
            if page * PAGE_SIZE < len(rows)
            else None,
        },
        principal=reader,
    )


@router.get("/rules/{rule_id}")
def rule_detail(
    rule_id: str,
    request: Request,
    session: Session = Depends(db_session, scope="function"),
    services: Services = Depends(get_services),
) -> Response:
    """One rule for one tenant: what it detects, its state and its exceptions."""
    reader = _reader(request, session)
    if isinstance(reader, Response):
        return reader
    lang = lang_of(request)
    visible = list_tenants(session, reader)
    tenant = _tenant(visible, request.query_params.get("tenant"))
    if tenant is None:
        ref = request.query_params.get("tenant")
        return error_page(request, 404, gettext(lang, NO_TENANT).format(ref=ref))
    view = services.detector.views.get(session, tenant.id)
    try:
        rule = mgmt.get_rule(view, rule_id)
    except DomainError as exc:
        return error_page(request, exc.status_code, exc)
    sigma = getattr(rule, "sigma_rule", None)
    exceptions = [
        mgmt.exception_row(r) for r in mgmt.list_exceptions(session, reader, tenant.id, rule_id)
    ]
    return render(
        request,
        "rules_detail.html",
        {
            "tenants": visible,
            "tenant": tenant,
            "rule": rule,
            "row": mgmt.rule_row(view, rule),
            "tag_links": [(t, attack_link(t)) for t in rule.tags],
            "falsepositives": [str(f) for f in (getattr(sigma, "falsepositives", None) or [])],
            "references": [str(r) for r in (getattr(sigma, "references", None) or [])],
            "exceptions": exceptions,
            "modifiers": [(m, MODIFIER_NAMES.get(m, m)) for m in MODIFIERS],
            "enabled_in": [(t, services.detector.views.get(session, t.id)) for t in visible],
            "message": request.query_params.get("message"),
            "error": request.query_params.get("error"),
        },
        principal=reader,
    )


def _act(
    request: Request,
    session: Session,
    csrf: str,
    back: str,
    action: Callable[[Principal], str],
) -> Response:
    """Run one change for the reader; 303 back with its message (or its error)."""
    reader = _reader(request, session)
    if isinstance(reader, Response):
        return reader
    lang = lang_of(request)
    if not same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf):
        return error_page(request, 403, gettext(lang, FORGED))
    if not back.startswith("/rules") or back.startswith("//"):
        back = "/rules"
    joiner = "&" if "?" in back else "?"
    try:
        with session.begin_nested():
            said = action(reader)
    except DomainError as exc:
        error = urlencode({"error": refusal_text(lang, exc)})
        return RedirectResponse(f"{back}{joiner}{error}", status_code=303)
    return RedirectResponse(f"{back}{joiner}{urlencode({'message': said})}", status_code=303)


@router.post("/rules/state")
def state_form(
    request: Request,
    rule: str = Form(...),
    tenant: str = Form(...),
    enabled: str = Form(...),
    back: str = Form(default="/rules"),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
    services: Services = Depends(get_services),
) -> Response:
    """Enable or disable one rule for one tenant, or for every tenant the reader sees."""
    lang = lang_of(request)
    on = enabled == "true"

    def run(p: Principal) -> str:
        if tenant == EVERY_TENANT:
            targets: list[int | str] = [t.id for t in list_tenants(session, p)]
        else:
            targets = [tenant]
        for target in targets:
            mgmt.set_state(session, p, services.detector.views, target, "rule", rule[:200], on)
        return gettext(lang, DONE_ON if on else DONE_OFF).format(count=len(targets))

    return _act(request, session, csrf, back, run)


def _expiry(text: str, lang: str) -> datetime | None:
    """The end of the given Brussels day, in UTC; None for no expiry."""
    text = text.strip()
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError as exc:
        raise Invalid(gettext(lang, BAD_DATE)) from exc
    return datetime.combine(day, time(23, 59), BRUSSELS).astimezone(UTC)


@router.post("/rules/{rule_id}/exceptions")
def exception_form(
    rule_id: str,
    request: Request,
    tenant: str = Form(...),
    field: str = Form(default=""),
    modifier: str = Form(default="equals"),
    value: str = Form(default=""),
    reason: str = Form(default=""),
    expires: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
    services: Services = Depends(get_services),
) -> Response:
    """Add an exception: the rule stays silent for the tenant when the field holds the value."""
    lang = lang_of(request)
    back = _back(f"/rules/{rule_id}", tenant=tenant)

    def run(p: Principal) -> str:
        condition = {"field": field[:200], "modifier": modifier, "value": value[:1000]}
        mgmt.create_exception(
            session,
            p,
            services.detector.views,
            tenant,
            rule_id,
            [condition] if value.strip() else [{"field": field, "modifier": modifier}],
            reason[:2000],
            _expiry(expires, lang),
        )
        return gettext(lang, EXCEPTION_ADDED)

    return _act(request, session, csrf, back, run)


@router.post("/rules/exceptions/{exception_ref}/delete")
def exception_delete_form(
    exception_ref: str,
    request: Request,
    back: str = Form(default="/rules"),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Remove one exception (the rule raises alerts again where it held)."""
    lang = lang_of(request)
    exception_id = parse_id(exception_ref)

    def run(p: Principal) -> str:
        if exception_id is None:
            mgmt.get_exception(session, p, 0)  # NotFound, as for any unknown id
        else:
            mgmt.delete_exception(session, p, exception_id)
        return gettext(lang, EXCEPTION_REMOVED)

    return _act(request, session, csrf, back, run)
