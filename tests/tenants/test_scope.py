"""Scope: one value for which tenants a principal sees (all, listed tenants, or the tenants a
provider serves), resolved from the database when the principal is built."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from soc.core.audit import AuditEntry
from soc.core.errors import Forbidden, NotFound
from soc.core.principal import SYSTEM, Principal, Scope
from soc.services import Services
from tenants import scope as scope_service
from tenants import service as tenant_service
from tenants.models import Tenant
from tests.conftest import World


def test_each_kind_sees_its_tenants_and_nothing_else() -> None:
    assert all(Scope.everything().sees(t) for t in (1, 2, 99))
    one = Scope.of_tenants(1)
    assert one.sees(1) and not one.sees(2) and not one.sees(None)
    served = Scope.of_provider(7, [1, 3])
    assert served.sees(3) and not served.sees(2) and served.provider_id == 7
    # A provider that serves nothing sees nothing: never "no tenant, so every tenant".
    empty = Scope.of_provider(7, [])
    assert not any(empty.sees(t) for t in (1, 2, 3))


def test_inconsistent_scopes_are_refused() -> None:
    with pytest.raises(ValueError):
        Scope("all", frozenset({1}))
    with pytest.raises(ValueError):
        Scope("provider", frozenset({1}))
    with pytest.raises(ValueError):
        Scope("tenants", frozenset({1}), provider_id=2)


def test_principal_answers_from_its_scope() -> None:
    customer = Principal("c", "customer", scope=Scope.of_tenants(4))
    assert customer.tenant_id == 4 and not customer.is_global
    assert customer.visible_tenant_ids == frozenset({4})
    analyst = Principal("a", "soc_analyst", scope=Scope.of_provider(2, [4, 5]))
    # A provider's user has no default tenant (it names one) and is not global.
    assert analyst.tenant_id is None and analyst.provider_id == 2 and not analyst.is_global
    assert analyst.sees_tenant(5) and not analyst.sees_tenant(6)
    assert SYSTEM.is_global and SYSTEM.visible_tenant_ids is None and SYSTEM.sees_tenant(6)
    admin_of_provider = Principal("x", "admin", scope=Scope.of_provider(2, [4]))
    with pytest.raises(Forbidden):
        admin_of_provider.require("tenants.manage")


def test_tenant_filter_in_a_real_query(services: Services) -> None:
    with services.db.session() as session:
        for slug in ("t-a", "t-b", "t-c"):
            tenant_service.create_tenant(session, SYSTEM, slug, slug)
        session.flush()
        ids = {t.slug: t.id for t in session.scalars(select(Tenant))}

        def visible(scope: Scope) -> list[str]:
            query = select(Tenant.slug).where(scope.filter(Tenant.id)).order_by(Tenant.slug)
            return list(session.scalars(query))

        assert visible(Scope.everything()) == ["t-a", "t-b", "t-c"]
        assert visible(Scope.of_tenants(ids["t-b"])) == ["t-b"]
        assert visible(Scope.of_provider(1, [ids["t-a"], ids["t-c"]])) == ["t-a", "t-c"]
        assert visible(Scope.of_provider(1, [])) == []


def test_a_token_resolves_the_served_tenants_at_each_request(
    services: Services, world: World
) -> None:
    token = world["soc_analyst-prov-a"].token
    with services.db.session() as session:
        alpha, beta = (tenant_service.get_tenant(session, SYSTEM, s).id for s in ("alpha", "beta"))
        principal = tenant_service.principal_from_token(session, token)
        prov_a = tenant_service.get_provider(session, "prov-a").id
        assert principal.scope == Scope.of_provider(prov_a, [alpha])
        assert scope_service.serve(session, SYSTEM, "prov-a", "beta")
        assert not scope_service.serve(session, SYSTEM, "prov-a", "beta")  # already
        assert tenant_service.principal_from_token(session, token).visible_tenant_ids == {
            alpha,
            beta,
        }
        assert scope_service.unserve(session, SYSTEM, "prov-a", "alpha")
        assert not scope_service.unserve(session, SYSTEM, "prov-a", "alpha")
        assert tenant_service.principal_from_token(session, token).visible_tenant_ids == {beta}
        customer = tenant_service.principal_from_token(session, world["customer-alpha"].token)
        assert customer.scope == Scope.of_tenants(alpha)
        assert tenant_service.principal_from_token(session, world["admin"].token).is_global
        actions = list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like("provider.%serve"))
                .order_by(AuditEntry.id)
            )
        )
        # The world's two serves, then one serve and one unserve (no-ops are not audited).
        assert actions == ["provider.serve"] * 3 + ["provider.unserve"]


def test_only_unscoped_operators_change_the_relation(services: Services, world: World) -> None:
    with services.db.session() as session:
        scoped = tenant_service.principal_from_token(session, world["soc_analyst-prov-a"].token)
        with pytest.raises(Forbidden):
            scope_service.serve(session, scoped, "prov-a", "beta")
        with pytest.raises(NotFound):
            scope_service.serve(session, SYSTEM, "prov-a", "nope")
        with pytest.raises(NotFound):
            scope_service.serve(session, SYSTEM, "nope", "alpha")
        listed = {v.provider.slug: v.tenants for v in scope_service.list_providers(session, SYSTEM)}
        assert listed == {"prov-a": ["alpha"], "prov-b": ["beta"]}
