"""A tenant's members (managed by its local administrator), role changes, sessions, and the
access overview with its CSV exports."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from soc.core.deps import SESSION_COOKIE, PrincipalDep, SessionDep, bearer
from soc.core.principal import Principal
from soc.core.schemas import RowId
from tenants import access
from tenants import sessions as sessions_svc
from tenants import tenant_admin as members
from tenants.access_schemas import (
    AccessOut,
    AccessRowOut,
    ApproverCountOut,
    ChangedUserOut,
    EndedOut,
    MemberIn,
    MemberOut,
    MemberUpdateIn,
    NewMemberOut,
    PasswordOut,
    RoleIn,
    SessionOut,
    TotpSecretOut,
)
from tenants.models import User
from tenants.schemas import AdminUserOut

router = APIRouter(prefix="/api/v1", tags=["identity and tenants"])

TenantSlug = Annotated[str, Path(min_length=1, max_length=63)]
UserName = Annotated[str, Path(min_length=1, max_length=120)]


def _out(user: User) -> MemberOut:
    shown = AdminUserOut.model_validate(user).model_dump()
    return MemberOut(**shown, manageable=user.role in members.GRANTABLE)


def _token(request: Request) -> str | None:
    return bearer(request) or request.cookies.get(SESSION_COOKIE)


def _sessions(views: list[sessions_svc.SessionView]) -> list[SessionOut]:
    return [SessionOut.model_validate(v) for v in views]


# --- a tenant's members ---------------------------------------------------------------------


@router.get("/tenants/{tenant}/members", response_model=list[MemberOut])
def list_members(
    tenant: TenantSlug, session: SessionDep, principal: PrincipalDep
) -> list[MemberOut]:
    """The tenant's users. Its tenant administrators and admins (403 otherwise); 404 for a
    tenant outside the caller's scope."""
    return [_out(u) for u in members.list_members(session, principal, tenant)]


@router.post(
    "/tenants/{tenant}/members",
    response_model=NewMemberOut,
    status_code=201,
    summary="Create a member of the tenant",
)
def create_member(
    tenant: TenantSlug, body: MemberIn, session: SessionDep, principal: PrincipalDep
) -> NewMemberOut:
    """A new user of the tenant with a role its administrator may grant (customer, risk_owner,
    tenant_admin; any other role 403) and a generated password, shown once with the TOTP
    secret when the role needs one. 404 for a tenant outside the caller's scope; 409 for a
    taken username. Audited."""
    made = members.create_member(session, principal, tenant, body.username, body.role, body.email)
    return NewMemberOut(
        user=_out(made.created.user),
        initial_password=made.password,
        totp_secret=made.created.totp_secret,
    )


@router.patch("/tenants/{tenant}/members/{username}", response_model=ChangedUserOut)
def update_member(
    tenant: TenantSlug,
    username: UserName,
    body: MemberUpdateIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> ChangedUserOut:
    """Change a member's role (a grantable one) and/or disable or enable it; either ends its
    sessions at once. 404 for a user not of this tenant; 403 for a member whose role its
    administrator does not manage; 409 for the caller's own role or account. Audited."""
    user = members.find_member(session, principal, tenant, username)
    secret = None
    if body.role is not None:
        user, secret = members.change_member_role(session, principal, tenant, username, body.role)
    if body.active is not None:
        user = members.set_member_active(session, principal, tenant, username, body.active)
    return ChangedUserOut(user=_out(user), totp_secret=secret)


@router.post(
    "/tenants/{tenant}/members/{username}/password",
    response_model=PasswordOut,
    summary="Reset a member's password",
)
def reset_member_password(
    tenant: TenantSlug, username: UserName, session: SessionDep, principal: PrincipalDep
) -> PasswordOut:
    """A new generated password (shown once); the member's sessions end. Audited."""
    return PasswordOut(password=members.reset_member_password(session, principal, tenant, username))


@router.post(
    "/tenants/{tenant}/members/{username}/totp",
    response_model=TotpSecretOut,
    summary="Reset a member's TOTP",
)
def reset_member_totp(
    tenant: TenantSlug, username: UserName, session: SessionDep, principal: PrincipalDep
) -> TotpSecretOut:
    """A new TOTP secret (shown once), required from now on; the member's sessions end."""
    _, secret = members.reset_member_totp(session, principal, tenant, username)
    return TotpSecretOut(totp_secret=secret)


@router.get("/tenants/{tenant}/members/{username}/sessions", response_model=list[SessionOut])
def member_sessions(
    tenant: TenantSlug, username: UserName, session: SessionDep, principal: PrincipalDep
) -> list[SessionOut]:
    """A member's live sessions (opened, last used, address, browser)."""
    return _sessions(sessions_svc.member_sessions(session, principal, tenant, username))


@router.delete("/tenants/{tenant}/members/{username}/sessions", response_model=EndedOut)
def end_member_sessions(
    tenant: TenantSlug, username: UserName, session: SessionDep, principal: PrincipalDep
) -> EndedOut:
    """End every session of a member at once. Audited."""
    return EndedOut(ended=sessions_svc.end_member_sessions(session, principal, tenant, username))


# --- any user, by an administrator ----------------------------------------------------------


@router.put("/users/{username}/role", response_model=ChangedUserOut, summary="Change a role")
def change_role(
    username: UserName, body: RoleIn, session: SessionDep, principal: PrincipalDep
) -> ChangedUserOut:
    """Give a user another role fitting its scope; its sessions end at once. Admin only (403
    otherwise); 404 for an unknown user; 409 for the caller's own role; 422 for a role that
    does not fit the user's scope."""
    user, secret = members.change_role(session, principal, username, body.role)
    return ChangedUserOut(user=_out(user), totp_secret=secret)


@router.get("/users/{username}/sessions", response_model=list[SessionOut])
def user_sessions(
    username: UserName, session: SessionDep, principal: PrincipalDep
) -> list[SessionOut]:
    """A user's live sessions. Admin only."""
    return _sessions(sessions_svc.user_sessions(session, principal, username))


@router.delete("/users/{username}/sessions", response_model=EndedOut)
def end_user_sessions(username: UserName, session: SessionDep, principal: PrincipalDep) -> EndedOut:
    """End every session of a user at once. Admin only. Audited."""
    return EndedOut(ended=sessions_svc.end_sessions_of(session, principal, username))


# --- one's own sessions ---------------------------------------------------------------------


@router.get("/auth/sessions", response_model=list[SessionOut])
def my_sessions(request: Request, session: SessionDep, principal: PrincipalDep) -> list[SessionOut]:
    """The caller's live sessions, the one of this request marked `current`. Any signed-in
    user."""
    return _sessions(sessions_svc.my_sessions(session, principal, _token(request)))


@router.delete("/auth/sessions/{session_id}", status_code=204)
def end_my_session(session_id: RowId, session: SessionDep, principal: PrincipalDep) -> Response:
    """End one of the caller's sessions (its current one too). 404 for a session that is not
    the caller's or has ended."""
    sessions_svc.end_my_session(session, principal, session_id)
    return Response(status_code=204)


@router.post("/auth/sessions/end-others", response_model=EndedOut, summary="End my other sessions")
def end_my_other_sessions(
    request: Request, session: SessionDep, principal: PrincipalDep
) -> EndedOut:
    """End every session of the caller but this request's. Audited."""
    return EndedOut(ended=sessions_svc.end_my_other_sessions(session, principal, _token(request)))


# --- the access overview --------------------------------------------------------------------


def _overview(session: Session, principal: Principal) -> AccessOut:
    return AccessOut(
        users=[AccessRowOut.model_validate(r) for r in access.overview(session, principal)],
        approvers=[
            ApproverCountOut.model_validate(c) for c in access.approver_counts(session, principal)
        ],
    )


ExportFormat = Literal["json", "csv"]
CSV_ANSWER: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


@router.get("/access", response_model=AccessOut, responses=CSV_ANSWER)
def access_overview(
    session: SessionDep,
    principal: PrincipalDep,
    format: ExportFormat = Query(default="json", description="json, or csv (the users)"),
) -> AccessOut | Response:
    """Who has which role on which system, last sign-in, MFA state and source, by tenant then
    provider; and per tenant the number of approvers (active users whose role approves: billed
    per user). `?format=csv`: the users as CSV (tenant, provider, username, role, system,
    approver, active, last_sign_in in UTC, mfa, source). Admins and the authority see
    everyone; a tenant administrator its tenant; 403 for other roles."""
    if format == "csv":
        return _csv(access.overview_csv(access.overview(session, principal)), "access.csv")
    return _overview(session, principal)


@router.get("/access/approvers", response_model=list[ApproverCountOut], responses=CSV_ANSWER)
def approvers(
    session: SessionDep,
    principal: PrincipalDep,
    format: ExportFormat = Query(default="json", description="json or csv"),
) -> list[ApproverCountOut] | Response:
    """Per tenant the number of approvers (tenant, name, approvers), the billed quantity.
    Readers as for /access."""
    counts = access.approver_counts(session, principal)
    if format == "csv":
        return _csv(access.approvers_csv(counts), "approvers.csv")
    return [ApproverCountOut.model_validate(c) for c in counts]


def _csv(body: str, name: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
