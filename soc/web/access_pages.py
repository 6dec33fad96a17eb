"""Pages of people and access: a tenant's users (its local administrator's landing page), the
access overview, and one's own sessions.

`/team` is where a tenant administrator (`tenant_admin`) manages its organisation's people;
an admin opens it for any tenant with `?tenant=<slug>`. `/access` is the access overview with
its CSV exports (admins and the authority: every tenant; a tenant administrator: its own).
`/sessions` lists the reader's own sessions, to end any of them. Every change goes through
the tenants services (they check scope and roles, and audit); forms carry the CSRF token; a
secret shown once (an initial password, a TOTP secret) is rendered at once, never redirected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from soc.core.deps import SESSION_COOKIE, db_session
from soc.core.errors import DomainError, Invalid, NotFound
from soc.core.i18n import N_, gettext
from soc.core.principal import Principal
from soc.core.schemas import parse_id
from soc.web import labels
from soc.web.chrome import signed_in
from soc.web.forms import run_change
from soc.web.shell import error_page, lang_of, render, to_login
from tenants import access
from tenants import sessions as sessions_svc
from tenants import tenant_admin as members
from tenants.tenancy import get_tenant, list_tenants

router = APIRouter(include_in_schema=False)
DB = Depends(db_session, scope="function")

NO_TEAM = N_("This page is for a tenant's administrators.")
NO_ACCESS = N_("The access overview is for administrators and the authority.")
MEMBER_DISABLED = N_("User {name} disabled: their sessions have ended.")
MEMBER_ENABLED = N_("User {name} enabled.")
ROLE_CHANGED = N_("{name} is now {role}: their sessions have ended.")
SESSIONS_ENDED = N_("{count} sessions of {name} ended.")
SESSION_ENDED = N_("Session ended.")
OTHERS_ENDED = N_("{count} other sessions ended.")
PICK_TENANT = N_("Choose the tenant whose users you manage.")
SUBPAGES = (
    ("/team", N_("Our users")),
    ("/access", N_("Access overview")),
    ("/sessions", N_("My sessions")),
)


def _page(request: Request, name: str, reader: Principal, **context: Any) -> Response:
    lang = lang_of(request)
    shown = [
        (href, gettext(lang, label))
        for href, label in SUBPAGES
        if href != "/team" or reader.can("members.manage")
        if href != "/access" or reader.can("access.read")
    ]
    return render(
        request,
        name,
        {
            "subpages": shown,
            "message": request.query_params.get("message"),
            "error": request.query_params.get("error"),
            **context,
        },
        principal=reader,
    )


def _reader(
    request: Request, session: Session, permission: str | None, refusal: str
) -> Principal | Response:
    principal = signed_in(request, session)
    if principal is None:
        return to_login()
    if permission is not None and not principal.can(permission):
        return error_page(request, 403, gettext(lang_of(request), refusal))
    return principal


def _act(
    request: Request,
    session: Session,
    csrf: str,
    back: str,
    permission: str | None,
    refusal: str,
    action: Callable[[Principal], str | Response],
) -> Response:
    """Check the reader and the form token, run one change in a savepoint; 303 back with its
    message or error (or the page `action` rendered, for a secret shown once)."""
    reader = _reader(request, session, permission, refusal)
    if isinstance(reader, Response):
        return reader
    return run_change(request, session, reader, csrf, back, action)


def _secret_page(
    request: Request, reader: Principal, title: str, rows: list[tuple[str, str]], back: str
) -> Response:
    response = _page(request, "admin_secret.html", reader, title=title, rows=rows, back=back)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- a tenant's users -----------------------------------------------------------------------


def _team_tenant(request: Request, session: Session, reader: Principal) -> str | None:
    """The tenant the page is about: the reader's own, or (unscoped admins) `?tenant=`."""
    own = reader.tenant_id
    if own is not None:
        return get_tenant(session, reader, own).slug
    chosen = (request.query_params.get("tenant") or "")[:63]
    return chosen or None


def _team_path(tenant: str, reader: Principal) -> str:
    return "/team" if reader.tenant_id is not None else f"/team?{urlencode({'tenant': tenant})}"


@router.get("/team")
def team_page(request: Request, session: Session = DB) -> Response:
    """The tenant's users with their role, TOTP, state and actions, and the form for a new one."""
    reader = _reader(request, session, "members.manage", NO_TEAM)
    if isinstance(reader, Response):
        return reader
    lang = lang_of(request)
    tenant = _team_tenant(request, session, reader)
    if tenant is None:
        return _page(
            request,
            "team.html",
            reader,
            tenant=None,
            tenants=list_tenants(session, reader),
            hint=gettext(lang, PICK_TENANT),
        )
    try:
        shown = members.member_tenant(session, reader, tenant)
        users = members.list_members(session, reader, tenant)
    except DomainError as exc:
        return error_page(request, exc.status_code, exc)
    return _page(
        request,
        "team.html",
        reader,
        tenant=shown,
        users=users,
        grantable=members.GRANTABLE,
        tenants=[],
        back=_team_path(shown.slug, reader),
    )


@router.post("/team/{tenant}/members")
def member_create_form(
    tenant: str,
    request: Request,
    username: str = Form(default="", max_length=120),
    role: str = Form(default="", max_length=32),
    email: str = Form(default="", max_length=320),
    csrf: str = Form(default=""),
    session: Session = DB,
) -> Response:
    """Create a member with a generated password (and a TOTP secret when the role needs one),
    both shown once."""
    lang = lang_of(request)

    def run(p: Principal) -> Response:
        made = members.create_member(
            session, p, tenant, username.strip(), role, email.strip() or None
        )
        user = made.created.user
        rows = [
            (gettext(lang, N_("Username")), user.username),
            (gettext(lang, N_("Initial password")), made.password),
        ]
        if made.created.totp_secret:
            rows.append((gettext(lang, N_("TOTP secret")), made.created.totp_secret))
        title = gettext(lang, N_("User {name} created")).format(name=user.username)
        return _secret_page(request, p, title, rows, _team_path(tenant, p))

    back = f"/team?{urlencode({'tenant': tenant})}"
    return _act(request, session, csrf, back, "members.manage", NO_TEAM, run)


@router.post("/team/{tenant}/members/{username}/{action}")
def member_action_form(
    tenant: str,
    username: str,
    action: str,
    request: Request,
    role: str = Form(default="", max_length=32),
    csrf: str = Form(default=""),
    session: Session = DB,
) -> Response:
    """disable, enable, password (a new one, shown once), totp (a new secret, shown once),
    role (the form's `role`) or sessions (end them all)."""
    lang = lang_of(request)

    def run(p: Principal) -> str | Response:
        back = _team_path(tenant, p)
        if action in ("disable", "enable"):
            user = members.set_member_active(session, p, tenant, username, action == "enable")
            text = MEMBER_ENABLED if user.active else MEMBER_DISABLED
            return gettext(lang, text).format(name=user.username)
        if action == "password":
            password = members.reset_member_password(session, p, tenant, username)
            title = gettext(lang, N_("New password for {name}")).format(name=username)
            return _secret_page(
                request, p, title, [(gettext(lang, N_("New password")), password)], back
            )
        if action == "totp":
            _, new_secret = members.reset_member_totp(session, p, tenant, username)
            title = gettext(lang, N_("New TOTP secret for {name}")).format(name=username)
            return _secret_page(
                request, p, title, [(gettext(lang, N_("TOTP secret")), new_secret)], back
            )
        if action == "role":
            user, secret = members.change_member_role(session, p, tenant, username, role)
            said = gettext(lang, ROLE_CHANGED).format(
                name=user.username, role=_role_word(lang, user.role)
            )
            if secret:
                return _secret_page(
                    request, p, said, [(gettext(lang, N_("TOTP secret")), secret)], back
                )
            return said
        if action == "sessions":
            ended = sessions_svc.end_member_sessions(session, p, tenant, username)
            return gettext(lang, SESSIONS_ENDED).format(count=ended, name=username)
        raise Invalid(N_("unknown action '{action}'"), action=action[:40])

    back = f"/team?{urlencode({'tenant': tenant})}"
    return _act(request, session, csrf, back, "members.manage", NO_TEAM, run)


def _role_word(lang: str, role: str) -> str:
    return labels.label(labels.ROLE, role, lang)


# --- the access overview --------------------------------------------------------------------


@router.get("/access")
def access_page(request: Request, session: Session = DB) -> Response:
    """Who has which role where, last sign-in, MFA, source; approvers per tenant; CSV links."""
    reader = _reader(request, session, "access.read", NO_ACCESS)
    if isinstance(reader, Response):
        return reader
    rows = access.overview(session, reader)
    groups: dict[tuple[str | None, str | None], list[access.AccessRow]] = {}
    for row in rows:
        groups.setdefault((row.tenant, row.provider), []).append(row)
    return _page(
        request,
        "access.html",
        reader,
        groups=list(groups.items()),
        approvers=access.approver_counts(session, reader),
        total=len(rows),
    )


# --- one's own sessions ---------------------------------------------------------------------


@router.get("/sessions")
def sessions_page(request: Request, session: Session = DB) -> Response:
    reader = _reader(request, session, None, "")
    if isinstance(reader, Response):
        return reader
    views = sessions_svc.my_sessions(session, reader, request.cookies.get(SESSION_COOKIE))
    return _page(request, "sessions.html", reader, sessions=views)


@router.post("/sessions/end-others")
def end_others_form(
    request: Request, csrf: str = Form(default=""), session: Session = DB
) -> Response:
    lang = lang_of(request)

    def run(p: Principal) -> str:
        ended = sessions_svc.end_my_other_sessions(session, p, request.cookies.get(SESSION_COOKIE))
        return gettext(lang, OTHERS_ENDED).format(count=ended)

    return _act(request, session, csrf, "/sessions", None, "", run)


@router.post("/sessions/{session_id}/end")
def end_session_form(
    session_id: str, request: Request, csrf: str = Form(default=""), session: Session = DB
) -> Response:
    """End one of the reader's sessions; ending the current one signs out."""
    lang = lang_of(request)

    def run(p: Principal) -> str:
        found = parse_id(session_id)
        if found is None:
            raise NotFound(N_("session {id} not found"), id=session_id[:20])
        sessions_svc.end_my_session(session, p, found)
        return gettext(lang, SESSION_ENDED)

    return _act(request, session, csrf, "/sessions", None, "", run)
