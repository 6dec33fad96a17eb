"""API tokens of integrations: one's own (any user), everyone's (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from soc.core.deps import PrincipalDep, SessionDep, SettingsDep
from soc.core.principal import TOKEN_SCOPES
from soc.core.schemas import Id
from tenants import api_tokens as svc
from tenants.api_tokens_model import ApiToken
from tenants.api_tokens_schemas import ApiTokenIn, ApiTokenOut, NewApiTokenOut, TokenScopeOut
from tenants.users import find_user

router = APIRouter(prefix="/api/v1", tags=["identity and tenants"])


def token_out(token: ApiToken, username: str) -> ApiTokenOut:
    return ApiTokenOut(
        id=token.id,
        name=token.name,
        username=username,
        prefix=token.prefix,
        scopes=token.scope_names,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
        state=svc.state(token),
    )


@router.get("/auth/api-token-scopes", response_model=list[TokenScopeOut])
def token_scopes(_: PrincipalDep) -> list[TokenScopeOut]:
    """The scopes an API token may carry and the API tags each opens (reading, or also
    writing). Any logged-in user."""
    return [
        TokenScopeOut(name=n, description=s.description, tags=sorted(s.tags), write=s.write)
        for n, s in TOKEN_SCOPES.items()
    ]


@router.post("/auth/api-tokens", response_model=NewApiTokenOut, status_code=201)
def create_token(
    body: ApiTokenIn, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> NewApiTokenOut:
    """Create an API token that acts as the caller, cut to `scopes`, until `expires_days` from
    now (required, at most `api_token_max_days`). The token is in this answer only; send it
    as `Authorization: Bearer <token>`. Any logged-in user, from its own session: a token
    cannot create tokens (403). 422 for an expiry out of bounds."""
    token, secret = svc.create_token(
        session,
        principal,
        body.name.strip(),
        list(body.scopes),
        body.expires_days,
        settings.api_token_max_days,
    )
    username = principal.actor.removeprefix("user:")
    return NewApiTokenOut(**token_out(token, username).model_dump(), token=secret)


@router.get("/auth/api-tokens", response_model=list[ApiTokenOut])
def list_own_tokens(session: SessionDep, principal: PrincipalDep) -> list[ApiTokenOut]:
    """The caller's API tokens (never their secret), newest first, with their last use."""
    return [token_out(t, u) for t, u in svc.list_tokens(session, principal)]


@router.delete("/auth/api-tokens/{token_id}", status_code=204)
def revoke_own_token(token_id: Id, session: SessionDep, principal: PrincipalDep) -> Response:
    """Revoke one of the caller's API tokens: refused from the next request on. 404 for a
    token that is not the caller's."""
    svc.revoke_token(session, principal, token_id)
    return Response(status_code=204)


@router.get("/api-tokens", response_model=list[ApiTokenOut])
def list_all_tokens(
    session: SessionDep,
    principal: PrincipalDep,
    username: Annotated[str | None, Query(min_length=1, max_length=120)] = None,
) -> list[ApiTokenOut]:
    """Every user's API tokens (or one user's), newest first. Unscoped administrators only
    (403 otherwise); 404 for an unknown user."""
    user_id = None
    if username is not None:
        user_id = find_user(session, principal, username).id
    rows = svc.list_tokens(session, principal, every_user=True, user_id=user_id)
    return [token_out(t, u) for t, u in rows]


@router.delete("/api-tokens/{token_id}", status_code=204)
def revoke_any_token(token_id: Id, session: SessionDep, principal: PrincipalDep) -> Response:
    """Revoke any user's API token. Unscoped administrators only (403 otherwise)."""
    svc.revoke_token(session, principal, token_id, any_user=True)
    return Response(status_code=204)
