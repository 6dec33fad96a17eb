"""The admin console: tenants, users, API keys, providers, log sources, one-step onboarding.

Pages under /admin for administrators (`users.manage`); anyone else gets the HTML 403 page.
Every change goes through the tenants services (audited); forms carry the CSRF token. A change
answers 303 back to its page with a message; an answer that carries a secret shown once (a
new ingest key, an initial password, a TOTP secret) is rendered at once instead, so the
secret never travels in a URL or a browser history.

The one-step onboarding is also the API call `POST /api/v1/tenants/onboard`, here and not in
tenants.api because it applies the tenant's rule set through the detection domain, a floor
above the tenants domain (`tenants.onboarding` takes the rule setter as a parameter).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from detections import service as rules_service
from detections.deps import DetectorDep
from detections.tenant_view import TenantViews
from ingest import sources as log_sources
from soc.core.db import utcnow
from soc.core.deps import PrincipalDep, SessionDep, SettingsDep, db_session
from soc.core.errors import Invalid
from soc.core.i18n import N_, gettext
from soc.core.principal import Principal
from soc.core.schemas import ErrorOut
from soc.core.settings import Settings, get_settings
from soc.web.chrome import signed_in
from soc.web.forms import run_change
from soc.web.shell import error_page, lang_of, render, to_login
from tenants import onboarding
from tenants import scope as scope_service
from tenants import service as svc
from tenants.models import ROLES
from tenants.schemas import (
    ApiKeyOut,
    NewApiKeyOut,
    OnboardIn,
    OnboardOut,
    PortalUserOut,
    TenantOut,
    UserOut,
)

router = APIRouter()

NO_RIGHT = N_("The admin console is for administrators.")
TENANT_CREATED = N_("Tenant {slug} created.")
TENANT_SAVED = N_("Tenant {slug} saved.")
USER_DISABLED = N_("User {name} disabled: their sessions have ended.")
USER_ENABLED = N_("User {name} enabled.")
KEY_REVOKED = N_("Key {prefix} revoked: ingest with it is refused from now on.")
PROVIDER_CREATED = N_("Provider {slug} created.")
BAD_NUMBER = N_("Give the retention as a whole number of days.")
BAD_AMOUNT = N_("Give the ceiling as an amount in euro, e.g. 1500.00.")
LEVELS = ("informational", "low", "medium", "high", "critical")
CALENDAR_LABELS = {
    "business_hours": N_("Business hours (working days 08:00-17:00, holidays off)"),
    "24x7": N_("24/7 (day and night, every day)"),
}
SUBPAGES = (
    ("/admin", N_("Overview")),
    ("/admin/onboard", N_("Onboard a tenant")),
    ("/admin/tenants", N_("Tenants")),
    ("/admin/users", N_("Users")),
    ("/admin/keys", N_("API keys")),
    ("/admin/providers", N_("Providers")),
)
DB = Depends(db_session, scope="function")


def rule_applier(session: Session, actor: Principal, views: TenantViews) -> onboarding.RuleApplier:
    """The onboarding's rule setter: each choice through detections.service.set_state."""

    def apply(slug: str, choices: Sequence[onboarding.RuleChoice]) -> int:
        return sum(
            rules_service.set_state(
                session, actor, views, slug, c.selector, c.value, c.enabled
            ).rules_selected
            for c in choices
        )

    return apply


def onboard_out(done: onboarding.Onboarded) -> OnboardOut:
    return OnboardOut(
        tenant=TenantOut.model_validate(done.tenant),
        api_key=NewApiKeyOut(key=ApiKeyOut.model_validate(done.key), secret=done.secret),
        rules_selected=done.rules_selected,
        plan=done.plan,
        plan_from=done.plan_from,
        ceiling=done.ceiling,
        sla_calendar=done.sla_calendar,
        portal_users=[
            PortalUserOut(user=UserOut.model_validate(u), initial_password=p) for u, p in done.users
        ],
    )


# --- the API call ---------------------------------------------------------------------------


@router.post(
    "/api/v1/tenants/onboard",
    response_model=OnboardOut,
    status_code=201,
    tags=["identity and tenants"],
    summary="Onboard a tenant in one step",
    responses={
        400: {"model": ErrorOut, "description": "Bad request"},
        401: {"model": ErrorOut, "description": "Not signed in"},
        403: {"model": ErrorOut, "description": "Not an administrator"},
        404: {"model": ErrorOut, "description": "A rule named in `rules` does not exist"},
        409: {"model": ErrorOut, "description": "The slug or a username is taken"},
        422: {"model": ErrorOut, "description": "Invalid input; nothing was created"},
    },
)
def onboard_api(
    body: OnboardIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    detector: DetectorDep,
) -> OnboardOut:
    """Create a customer with everything it needs at once: the tenant (slug, name, retention),
    its ingest key (the secret is in this answer only), its rule choices (enable/disable by
    rule, level, status, tag or product), its price plan (from this month) and optional
    ceiling, and its portal users (role customer, each with a generated initial password shown
    once), and its SLA calendar (`business_hours` or `24x7`; the clock of each priority is
    reported, with the settings' `case_24x7` override). One transaction: on any error
    nothing is created. Admin only (403 otherwise); 409 for a taken slug or username; 422 for
    invalid input."""
    request = onboarding.OnboardingRequest(
        slug=body.slug,
        name=body.name,
        retention_days=body.retention_days,
        key_name=body.key_name,
        rules=[onboarding.RuleChoice(r.selector, r.value, r.enabled) for r in body.rules],
        plan=body.plan,
        ceiling=body.ceiling,
        portal_users=body.portal_users,
        sla_calendar=body.sla_calendar,
    )
    applier = rule_applier(session, principal, detector.views)
    return onboard_out(onboarding.onboard(session, principal, request, settings, applier))


# --- pages ------------------------------------------------------------------------------------


def _admin(request: Request, session: Session) -> Principal | Response:
    principal = signed_in(request, session)
    if principal is None:
        return to_login()
    if not principal.can("users.manage"):
        return error_page(request, 403, gettext(lang_of(request), NO_RIGHT))
    return principal


def _page(request: Request, name: str, reader: Principal, **context: Any) -> Response:
    lang = lang_of(request)
    subpages = [(href, gettext(lang, label)) for href, label in SUBPAGES]
    return render(
        request,
        name,
        {
            "subpages": subpages,
            "message": request.query_params.get("message"),
            "error": request.query_params.get("error"),
            **context,
        },
        principal=reader,
    )


def _act(
    request: Request,
    session: Session,
    csrf: str,
    back: str,
    action: Callable[[Principal], str | Response],
) -> Response:
    """Check the reader and the form token, run one change in a savepoint; 303 back with its
    message or its error (or the page `action` rendered, for a secret shown once)."""
    reader = _admin(request, session)
    if isinstance(reader, Response):
        return reader
    return run_change(request, session, reader, csrf, back, action)


def _int(text: str, lang: str) -> int:
    try:
        return int(text.strip())
    except ValueError as exc:
        raise Invalid(gettext(lang, BAD_NUMBER)) from exc


def _secret_page(
    request: Request, reader: Principal, title: str, rows: list[tuple[str, str]], back: str
) -> Response:
    """A page that shows secrets once (never cached)."""
    response = _page(request, "admin_secret.html", reader, title=title, rows=rows, back=back)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/admin", include_in_schema=False)
def admin_home(request: Request, session: Session = DB) -> Response:
    """Overview: the tenants with their declared log sources (status, last event), the hosts
    no declared source covers yet, and every host's last day with events."""
    reader = _admin(request, session)
    if isinstance(reader, Response):
        return reader
    settings = _settings(request)
    sources = svc.log_sources(session, reader, utcnow(), settings.kri_silent_source_hours)
    tenants = svc.list_tenants(session, reader)
    by_tenant = {t.slug: [s for s in sources if s.tenant == t.slug] for t in tenants}
    return _page(
        request,
        "admin.html",
        reader,
        tenants=tenants,
        sources=by_tenant,
        slugs={t.id: t.slug for t in tenants},
        declared=log_sources.list_sources(session, reader),
        unknown=log_sources.unknown_hosts(session, reader, limit=50),
        users=len(svc.list_users(session, reader)),
        providers=len(scope_service.list_providers(session, reader)),
    )


def calendar_label(lang: str, calendar: str) -> str:
    return gettext(lang, CALENDAR_LABELS[calendar]) if calendar in CALENDAR_LABELS else calendar


def calendar_choices(request: Request) -> list[tuple[str, str]]:
    """The SLA calendars a form offers: (value, label in the reader's language)."""
    lang = lang_of(request)
    return [(value, calendar_label(lang, value)) for value in CALENDAR_LABELS]


def _settings(request: Request) -> Settings:
    found = getattr(request.app.state, "settings", None)
    return found if isinstance(found, Settings) else get_settings()


@router.get("/admin/tenants", include_in_schema=False)
def tenants_page(request: Request, session: Session = DB) -> Response:
    reader = _admin(request, session)
    if isinstance(reader, Response):
        return reader
    return _page(
        request,
        "admin_tenants.html",
        reader,
        tenants=svc.list_tenants(session, reader),
        calendars=calendar_choices(request),
    )


@router.post("/admin/tenants", include_in_schema=False)
def tenant_create_form(
    request: Request,
    slug: str = Form(default="", max_length=63),
    name: str = Form(default="", max_length=200),
    retention_days: str = Form(default="365", max_length=10),
    csrf: str = Form(default=""),
    session: Session = DB,
) -> Response:
    lang = lang_of(request)

    def run(p: Principal) -> str:
        tenant = svc.create_tenant(
            session, p, slug.strip(), name.strip(), _int(retention_days, lang)
        )
        return gettext(lang, TENANT_CREATED).format(slug=tenant.slug)

    return _act(request, session, csrf, "/admin/tenants", run)


@router.post("/admin/tenants/{slug}", include_in_schema=False)
def tenant_edit_form(
    slug: str,
    request: Request,
    name: str = Form(default="", max_length=200),
    retention_days: str = Form(default="", max_length=10),
    sla_calendar: str = Form(default="", max_length=20),
    csrf: str = Form(default=""),
    session: Session = DB,
) -> Response:
    lang = lang_of(request)

    def run(p: Principal) -> str:
        days = _int(retention_days, lang) if retention_days.strip() else None
        tenant = svc.update_tenant(
            session, p, slug, name if name.strip() else None, days, sla_calendar or None
        )
        return gettext(lang, TENANT_SAVED).format(slug=tenant.slug)

    return _act(request, session, csrf, "/admin/tenants", run)


@router.get("/admin/users", include_in_schema=False)
def users_page(request: Request, session: Session = DB) -> Response:
    reader = _admin(request, session)
    if isinstance(reader, Response):
        return reader
    tenants = svc.list_tenants(session, reader)
    slugs = {t.id: t.slug for t in tenants}
    chosen = request.query_params.get("tenant") or None
    if chosen and chosen not in slugs.values():
        chosen = None
    users = svc.list_users(session, reader, chosen)
    return _page(
        request,
        "admin_users.html",
        reader,
        users=users,
        tenants=tenants,
        slugs=slugs,
        chosen=chosen or "",
        roles=ROLES,
        providers=[v.provider for v in scope_service.list_providers(session, reader)],
    )


@router.post("/admin/users", include_in_schema=False)
def user_create_form(
    request: Request,
    username: str = Form(default="", max_length=120),
    role: str = Form(default="", max_length=32),
    tenant: str = Form(default="", max_length=63),
    provider: str = Form(default="", max_length=63),
    csrf: str = Form(default=""),
    session: Session = DB,
) -> Response:
    """Create a user with a generated initial password (and a TOTP secret for the roles that
    need one), both shown once."""
    lang = lang_of(request)
    settings = _settings(request)

    def run(p: Principal) -> Response:
        password = svc.new_password(username, settings.password_min_length)
        created = svc.create_user(
            session,
            p,
            username.strip(),
            password,
            role,
            tenant or None,
            provider or None,
            tuple(settings.totp_required_roles),
        )
        rows = [
            (gettext(lang, N_("Username")), created.user.username),
            (gettext(lang, N_("Initial password")), password),
        ]
        if created.totp_secret:
            rows.append((gettext(lang, N_("TOTP secret")), created.totp_secret))
        title = gettext(lang, N_("User {name} created")).format(name=created.user.username)
        return _secret_page(request, p, title, rows, "/admin/users")

    return _act(request, session, csrf, "/admin/users", run)


@router.post("/admin/users/{username}/{action}", include_in_schema=False)
def user_action_form(
    username: str,
    action: str,
    request: Request,
    csrf: str = Form(default=""),
    session: Session = DB,
) -> Response:
    """disable, enable, password (a new generated one, shown once) or totp (a new secret)."""
    lang = lang_of(request)

    def run(p: Principal) -> str | Response:
        if action in ("disable", "enable"):
            user = svc.set_active(session, p, username, action == "enable")
            text = USER_ENABLED if user.active else USER_DISABLED
            return gettext(lang, text).format(name=user.username)
        if action == "password":
            password = svc.reset_password(session, p, username)
            title = gettext(lang, N_("New password for {name}")).format(name=username)
            rows = [(gettext(lang, N_("New password")), password)]
            return _secret_page(request, p, title, rows, "/admin/users")
        if action == "totp":
            user, secret = svc.reset_totp(session, p, username)
            title = gettext(lang, N_("New TOTP secret for {name}")).format(name=user.username)
            rows = [(gettext(lang, N_("TOTP secret")), secret)]
            return _secret_page(request, p, title, rows, "/admin/users")
        raise Invalid(N_("unknown action '{action}'"), action=action)

    return _act(request, session, csrf, "/admin/users", run)


@router.get("/admin/keys", include_in_schema=False)
def keys_page(request: Request, session: Session = DB) -> Response:
    reader = _admin(request, session)
    if isinstance(reader, Response):
        return reader
    tenants = svc.list_tenants(session, reader)
    keys = {t.slug: svc.list_api_keys(session, reader, t.id) for t in tenants}
    return _page(request, "admin_keys.html", reader, tenants=tenants, keys=keys)


@router.post("/admin/keys", include_in_schema=False)
def key_create_form(
    request: Request,
    tenant: str = Form(default="", max_length=63),
    name: str = Form(default="ingest", max_length=120),
    csrf: str = Form(default=""),
    session: Session = DB,
) -> Response:
    lang = lang_of(request)

    def run(p: Principal) -> Response:
        if not name.strip():
            raise Invalid(N_("the key needs a name"))
        key, secret = svc.create_api_key(session, p, tenant, name.strip())
        title = gettext(lang, N_("Ingest key for {tenant}")).format(tenant=tenant)
        rows = [(gettext(lang, N_("Name")), key.name), (gettext(lang, N_("Ingest key")), secret)]
        return _secret_page(request, p, title, rows, "/admin/keys")

    return _act(request, session, csrf, "/admin/keys", run)


@router.post("/admin/keys/{key_id}/revoke", include_in_schema=False)
def key_revoke_form(
    key_id: int,
    request: Request,
    csrf: str = Form(default=""),
    session: Session = DB,
) -> Response:
    lang = lang_of(request)

    def run(p: Principal) -> str:
        key = svc.revoke_api_key(session, p, key_id)
        return gettext(lang, KEY_REVOKED).format(prefix=key.prefix)

    return _act(request, session, csrf, "/admin/keys", run)


@router.get("/admin/providers", include_in_schema=False)
def providers_page(request: Request, session: Session = DB) -> Response:
    reader = _admin(request, session)
    if isinstance(reader, Response):
        return reader
    providers = scope_service.list_providers(session, reader)
    return _page(request, "admin_providers.html", reader, providers=providers)


@router.post("/admin/providers", include_in_schema=False)
def provider_create_form(
    request: Request,
    slug: str = Form(default="", max_length=63),
    name: str = Form(default="", max_length=200),
    csrf: str = Form(default=""),
    session: Session = DB,
) -> Response:
    lang = lang_of(request)

    def run(p: Principal) -> str:
        provider = svc.create_provider(session, p, slug.strip(), name.strip())
        return gettext(lang, PROVIDER_CREATED).format(slug=provider.slug)

    return _act(request, session, csrf, "/admin/providers", run)


@router.get("/admin/onboard", include_in_schema=False)
def onboard_page(request: Request, session: Session = DB) -> Response:
    reader = _admin(request, session)
    if isinstance(reader, Response):
        return reader
    return _page(
        request, "admin_onboard.html", reader, levels=LEVELS, calendars=calendar_choices(request)
    )


def _ceiling(text: str, lang: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        return Decimal(text.strip().replace(",", "."))
    except InvalidOperation as exc:
        raise Invalid(gettext(lang, BAD_AMOUNT)) from exc


@router.post("/admin/onboard", include_in_schema=False)
async def onboard_form(
    request: Request,
    detector: DetectorDep,
    session: Session = DB,
) -> Response:
    """The one-step onboarding from the form; the result (key, passwords) is shown once."""
    form = await request.form()
    field: Callable[[str], str] = lambda k: str(form.get(k) or "")[:2000]  # noqa: E731
    lang = lang_of(request)
    settings = _settings(request)

    def run(p: Principal) -> Response:
        disabled = [str(v) for v in form.getlist("disable_level") if str(v) in LEVELS]
        rule_ids = [r.strip() for r in field("disable_rules").splitlines() if r.strip()]
        choices = [onboarding.RuleChoice("level", lv, False) for lv in disabled] + [
            onboarding.RuleChoice("rule", r[:200], False) for r in rule_ids
        ]
        wanted = onboarding.OnboardingRequest(
            slug=field("slug").strip(),
            name=field("name").strip(),
            retention_days=_int(field("retention_days") or "365", lang),
            key_name=field("key_name").strip() or "ingest",
            rules=choices,
            plan=field("plan") or "standard",
            ceiling=_ceiling(field("ceiling"), lang),
            portal_users=[u.strip() for u in field("portal_users").splitlines() if u.strip()],
            sla_calendar=field("sla_calendar") or "business_hours",
        )
        done = onboarding.onboard(
            session, p, wanted, settings, rule_applier(session, p, detector.views)
        )
        rows = [
            (gettext(lang, N_("Tenant")), f"{done.tenant.name} ({done.tenant.slug})"),
            (gettext(lang, N_("Ingest key")), done.secret),
            (gettext(lang, N_("Plan")), f"{done.plan} ({done.plan_from})"),
            (gettext(lang, N_("Rules selected by the choices")), str(done.rules_selected)),
            (gettext(lang, N_("SLA calendar")), calendar_label(lang, done.tenant.sla_calendar)),
        ]
        rows += [
            (gettext(lang, N_("Password of {name}")).format(name=u.username), pw)
            for u, pw in done.users
        ]
        title = gettext(lang, N_("Tenant {slug} onboarded")).format(slug=done.tenant.slug)
        return _secret_page(request, p, title, rows, "/admin")

    return _act(request, session, csrf=field("csrf"), back="/admin/onboard", action=run)
