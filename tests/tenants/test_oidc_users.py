"""Who a verified OIDC sign-in is here, without the provider (its claims as given): the
mapping's first match, the role and tenant applied again at each sign-in (sessions ended on a
change), no access when nothing maps (and the sessions of a user who had access end), a local
account never taken over, a disabled user refused; and the providers' settings checked."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from soc.core.errors import Invalid
from soc.core.settings import Settings
from soc.services import Services
from tenants import login, security
from tenants.models import AuthToken, Tenant, User
from tenants.oidc_config import IdentityProvider, providers
from tenants.oidc_users import claim_values, mapping_for, sign_in
from tests.conftest import World

PROVIDER = IdentityProvider.model_validate(
    {
        "name": "acm",
        "display_name": "ACM",
        "issuer": "https://idp.example",
        "client_id": "soc",
        "claim": "realm.roles",
        "mappings": [
            {"value": "soc-alpha", "role": "customer", "tenant": "alpha"},
            {"value": "soc-beta", "role": "customer", "tenant": "beta"},
            {"value": "soc-ops", "role": "provider", "provider": "prov-a"},
        ],
    }
)


def claims(sub: str, *roles: str, **more: Any) -> dict[str, Any]:
    return {"iss": "https://idp.example", "sub": sub, "realm": {"roles": list(roles)}, **more}


def test_claim_values_and_the_first_mapping_that_matches() -> None:
    assert claim_values({"a": {"b": "x"}}, "a.b") == ["x"]
    assert claim_values({"a": [1, "y"]}, "a") == ["y"] and claim_values({}, "a.b") == []
    found = mapping_for(PROVIDER, claims("s", "other", "soc-beta", "soc-alpha"))
    assert found is not None and found.tenant == "alpha"  # the configured order decides
    assert mapping_for(PROVIDER, claims("s", "staff")) is None


def test_role_and_tenant_follow_the_claims_at_each_sign_in(
    world: World, services: Services
) -> None:
    with services.db.session() as session:
        first = sign_in(session, PROVIDER, claims("p1", "soc-alpha"), "t1", 60)
        assert first.token and first.user and first.user.role == "customer"
        user_id, old_token = first.user.id, first.token
        alpha = session.scalar(select(Tenant.id).where(Tenant.slug == "alpha"))
        assert first.user.tenant_id == alpha and first.user.auth_source == "oidc"
    with services.db.session() as session:
        moved = sign_in(session, PROVIDER, claims("p1", "soc-ops"), "t2", 60)
        assert moved.user is not None and moved.user.id == user_id
        assert (moved.user.role, moved.user.tenant_id) == ("provider", None)
        assert moved.user.provider_id is not None
    with services.db.session() as session:  # the session of the old role has ended
        rows = session.scalars(select(AuthToken).where(AuthToken.user_id == user_id)).all()
        by_hash = {r.token_hash: r.revoked for r in rows}
        assert by_hash[security.sha256_hex(old_token)] is True
        assert by_hash[security.sha256_hex(moved.token or "")] is False
        gone = sign_in(session, PROVIDER, claims("p1", "staff"), "t3", 60)
        assert gone.refused == "no_access" and gone.token is None
    with services.db.session() as session:  # losing every mapped claim ends its sessions
        live = session.scalars(
            select(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked.is_(False))
        ).all()
        assert live == []


def test_a_local_account_is_never_taken_over(world: World, services: Services) -> None:
    with services.db.session() as session:
        done = sign_in(
            session, PROVIDER, claims("p2", "soc-beta", preferred_username="admin"), "t", 60
        )
        assert done.user is not None and done.user.username == "admin@acm"
        local = session.scalar(select(User).where(User.username == "admin"))
        assert local is not None and local.auth_source == "local"
    # Nor can the OIDC user sign in with a password: it has none.
    with pytest.raises(Exception, match="invalid username"):
        login.login(services.db, "admin@acm", "anything-at-all-1", None, 60)


def test_a_disabled_user_and_an_unknown_tenant_are_refused(
    world: World, services: Services
) -> None:
    with services.db.session() as session:
        made = sign_in(session, PROVIDER, claims("p3", "soc-alpha"), "t", 60)
        assert made.user is not None
        made.user.active = False
    with services.db.session() as session:
        assert sign_in(session, PROVIDER, claims("p3", "soc-alpha"), "t", 60).refused == "inactive"
        broken = PROVIDER.model_copy(
            update={"mappings": (PROVIDER.mappings[0].model_copy(update={"tenant": "nope"}),)}
        )
        assert sign_in(session, broken, claims("p4", "soc-alpha"), "t", 60).refused == (
            "unknown_scope"
        )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"issuer": "http://idp.example"}, "https"),
        ({"scopes": ["profile"]}, "openid"),
        ({"mappings": [{"value": "x", "role": "root"}]}, "unknown role"),
        (
            {"mappings": [{"value": "x", "role": "customer", "tenant": "a", "provider": "b"}]},
            "not both",
        ),
        ({"surprise": 1}, "Extra inputs"),
    ],
)
def test_a_bad_provider_setting_is_named(change: dict[str, Any], problem: str) -> None:
    base = {"name": "acm", "display_name": "ACM", "issuer": "https://idp.example", "client_id": "c"}
    with pytest.raises(Invalid, match=problem):
        providers(Settings(oidc_providers=[{**base, **change}]))
    assert providers(Settings(oidc_providers=[base]))[0].scopes == ("openid", "profile", "email")
