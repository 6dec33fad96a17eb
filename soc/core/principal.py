"""Who is acting, what they may do, and which tenants' data they may see.

Tenancy is enforced here and nowhere else: services ask `require` for the permission,
`sees_tenant` for one row and `tenant_filter` for a query; a foreign tenant's object is a
NotFound (never a 403 that would confirm it exists).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, false, true

from soc.core.errors import Forbidden, Invalid, NotFound
from soc.core.i18n import N_

PERMISSIONS: dict[str, frozenset[str]] = {
    "cases.read": frozenset({"admin", "soc_analyst", "customer", "provider", "authority"}),
    "cases.update": frozenset({"admin", "soc_analyst", "provider"}),
    "cases.assign": frozenset({"admin", "soc_analyst"}),
    "cases.comment": frozenset({"admin", "soc_analyst", "provider", "customer"}),
    # Issue 5: priority overrides, merge and split; metrics; assets; the ITSM dead letters.
    "cases.manage": frozenset({"admin", "soc_analyst"}),
    "cases.metrics": frozenset({"admin", "soc_analyst", "authority", "finance", "customer"}),
    "assets.manage": frozenset({"admin", "soc_analyst"}),
    "itsm.manage": frozenset({"admin"}),
    "events.read": frozenset({"admin", "soc_analyst"}),
    "alerts.read": frozenset({"admin", "soc_analyst", "customer"}),
    "tenants.read": frozenset(
        {
            "admin",
            "soc_analyst",
            "customer",
            "risk_owner",
            "finance",
            "provider",
            "authority",
            "tenant_admin",
        }
    ),
    "tenants.manage": frozenset({"admin"}),
    "users.manage": frozenset({"admin"}),
    # A tenant's local administrator manages the people of the tenants it sees (its own):
    # tenants.tenant_admin keeps it to the roles it may grant.
    "members.manage": frozenset({"admin", "tenant_admin"}),
    # Who has access to what (the access overview), in the reader's scope.
    "access.read": frozenset({"admin", "authority", "tenant_admin"}),
    "apikeys.manage": frozenset({"admin"}),
    "usage.read": frozenset({"admin", "finance", "customer", "authority"}),
    # Billing (issue 6): customers read their own usage and invoices; finance decides and closes.
    "billing.read": frozenset({"admin", "finance", "customer"}),
    "billing.manage": frozenset({"admin", "finance"}),
    "billing.close": frozenset({"admin", "finance"}),
    "audit.read": frozenset({"admin", "authority"}),
    # Signed checkpoints: the integrator signs on demand; a customer downloads its own bundle.
    "audit.checkpoint": frozenset({"admin"}),
    "audit.bundle": frozenset({"admin", "authority", "customer"}),
    # Detection rules (issue 4): customers read their own tenant's rule state.
    "rules.read": frozenset({"admin", "soc_analyst", "customer"}),
    "rules.manage": frozenset({"admin", "soc_analyst"}),
    "ingest.write": frozenset({"ingest_key"}),
    # CMDB and status (issue 11): everyone with a workspace reads status in their scope; the
    # integrator (admin, analysts) and providers edit CIs; only the integrator relates CIs of
    # different providers, publishes outage notices and sets share policies.
    "cmdb.read": frozenset({"admin", "soc_analyst", "customer", "provider", "authority"}),
    "cmdb.manage": frozenset({"admin", "soc_analyst", "provider"}),
    "cmdb.relate_cross": frozenset({"admin", "soc_analyst"}),
    "cmdb.policy": frozenset({"admin", "soc_analyst"}),
    "ops.events.write": frozenset({"admin", "soc_analyst", "provider"}),
    "ops.events.read": frozenset({"admin", "soc_analyst", "provider", "authority"}),
    "status.publish": frozenset({"admin", "soc_analyst"}),
    "status.subscribe": frozenset({"admin", "soc_analyst", "customer", "provider", "authority"}),
    # Risk register (issue 12): open to providers, the authority and customers; only the
    # authority accepts risks and confirms alignment; customers read aligned risks and decide
    # proposals of their services, risk owners update their risks and actions.
    "risk.read": frozenset(
        {"admin", "soc_analyst", "customer", "risk_owner", "provider", "authority"}
    ),
    "risk.write": frozenset({"admin", "soc_analyst", "provider", "authority", "risk_owner"}),
    "risk.align": frozenset({"authority"}),
    "risk.accept": frozenset({"authority", "customer"}),
    "actions.read": frozenset(
        {"admin", "soc_analyst", "customer", "risk_owner", "provider", "authority"}
    ),
    "actions.write": frozenset({"admin", "soc_analyst", "provider", "authority", "risk_owner"}),
    "actions.propose": frozenset(
        {"admin", "soc_analyst", "provider", "authority", "risk_owner", "customer"}
    ),
    "actions.decide": frozenset({"authority", "customer"}),
    "nc.write": frozenset({"admin", "soc_analyst", "authority"}),
    "risk.import": frozenset({"admin", "soc_analyst"}),
    # KRIs and reports (issue 13): customers see their own, providers submit their KRIs,
    # the integrator computes and publishes, the authority sees everything and takes the feed.
    "kri.read": frozenset(
        {"admin", "soc_analyst", "customer", "risk_owner", "provider", "authority", "finance"}
    ),
    "kri.catalogue": frozenset({"admin"}),
    "kri.submit": frozenset({"admin", "soc_analyst", "provider"}),
    "kri.compute": frozenset({"admin", "soc_analyst"}),
    "reports.read": frozenset(
        {"admin", "soc_analyst", "customer", "risk_owner", "provider", "authority", "finance"}
    ),
    "reports.publish": frozenset({"admin", "soc_analyst"}),
    "dwh.export": frozenset({"admin", "authority"}),
}


# Permissions whose actions reach beyond one tenant (creating tenants or users of any scope,
# the ITSM outbox of every tenant, closing everyone's month): a user scoped to one tenant or
# provider never has them, whatever the role.
# Importing a register matches references across every tenant (duplicates), so only
# unscoped users import.
GLOBAL_ONLY = frozenset(
    {"tenants.manage", "users.manage", "itsm.manage", "billing.close", "risk.import"}
)


ScopeKind = Literal["all", "tenants", "provider"]


@dataclass(frozen=True)
class Scope:
    """The tenants whose data a principal may see, as one value.

    `all`: every tenant (unscoped users, the system). `tenants`: the listed ids (a customer,
    an ingest key). `provider`: the tenants the provider serves, resolved from the database
    when the principal is built, so no check needs the database. Whatever the kind, the
    answer is `sees` / `filter`; an empty scope sees nothing (fail closed).
    """

    kind: ScopeKind
    tenant_ids: frozenset[int] = frozenset()
    provider_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind == "all" and (self.tenant_ids or self.provider_id is not None):
            raise ValueError("an unscoped scope lists no tenants and no provider")
        if self.kind == "tenants" and self.provider_id is not None:
            raise ValueError("a tenant scope has no provider")
        if self.kind == "provider" and self.provider_id is None:
            raise ValueError("a provider scope names its provider")

    @classmethod
    def everything(cls) -> Scope:
        return cls("all")

    @classmethod
    def of_tenants(cls, *tenant_ids: int) -> Scope:
        return cls("tenants", frozenset(tenant_ids))

    @classmethod
    def of_provider(cls, provider_id: int, served: Iterable[int]) -> Scope:
        return cls("provider", frozenset(served), provider_id)

    @property
    def is_all(self) -> bool:
        return self.kind == "all"

    def sees(self, tenant_id: int | None) -> bool:
        return self.kind == "all" or (tenant_id is not None and tenant_id in self.tenant_ids)

    def filter(self, column: Any) -> ColumnElement[bool]:
        """A WHERE clause keeping the rows of visible tenants (`column` holds a tenant id)."""
        if self.kind == "all":
            return true()
        if not self.tenant_ids:
            return false()
        return cast(ColumnElement[bool], column.in_(sorted(self.tenant_ids)))

    @property
    def home_tenant_id(self) -> int | None:
        """The tenant a request without one means: only a scope of exactly one listed
        tenant has one (a provider names the tenant, even if it serves one today)."""
        if self.kind == "tenants" and len(self.tenant_ids) == 1:
            return next(iter(self.tenant_ids))
        return None


ALL = Scope.everything()


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class TokenScope:
    """What one API-token scope opens: the routes of these OpenAPI tags, for reading only
    (GET, HEAD) or also for writing."""

    tags: frozenset[str]
    write: bool
    description: str


# The scopes an integration's API token may carry, one per domain it is useful for, cut along
# the API's tags (soc.docs_routes.OPENAPI_TAGS). A route whose tag no scope names (identity,
# rules, CMDB edits, jobs, the system) is closed to every token; events are sent with a
# tenant's ingest key, never with a user's token.
TOKEN_SCOPES: dict[str, TokenScope] = {
    "cases:read": TokenScope(frozenset({"cases"}), False, N_("read cases, evidence and problems")),
    "cases:write": TokenScope(
        frozenset({"cases"}), True, N_("read and change cases: comment, status, assign, evidence")
    ),
    "ingest": TokenScope(
        frozenset({"ingest and events"}), True, N_("declare log sources and search stored events")
    ),
    "billing:read": TokenScope(frozenset({"billing"}), False, N_("read usage and invoices")),
    "risks:read": TokenScope(
        frozenset({"risk", "actions", "nonconformities"}), False, N_("read risks and their actions")
    ),
    "kri:read": TokenScope(
        frozenset({"kri", "kri reports", "dwh"}), False, N_("read KRIs, reports and DWH exports")
    ),
    "status:read": TokenScope(
        frozenset({"status", "operations"}), False, N_("read the status dashboard and notices")
    ),
}


def token_scopes_for(tags: Iterable[str], method: str) -> list[str]:
    """The scopes of which any one lets a token call a route of these tags with this method."""
    writing = method.upper() not in READ_METHODS
    wanted = set(tags)
    return [
        name
        for name, scope in TOKEN_SCOPES.items()
        if scope.tags & wanted and (scope.write or not writing)
    ]


@dataclass(frozen=True)
class Principal:
    actor: str
    role: str
    user_id: int | None = None
    scope: Scope = ALL
    # An API token acts as its user (role and scope as they are now) cut to its scopes:
    # `require_token_route` is the one check, made for every request that carries one.
    token_id: int | None = None
    token_scopes: frozenset[str] | None = None

    @property
    def tenant_id(self) -> int | None:
        """The principal's own tenant (tenant-scoped users and ingest keys), else None; it is
        a default, not a permission: visibility is `sees_tenant` / `tenant_filter`."""
        return self.scope.home_tenant_id

    @property
    def provider_id(self) -> int | None:
        return self.scope.provider_id

    @property
    def is_global(self) -> bool:
        return self.scope.is_all

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise Forbidden(
                N_("role '{role}' may not do '{permission}'"), role=self.role, permission=permission
            )
        if permission in GLOBAL_ONLY and not self.is_global:
            raise Forbidden(
                N_("'{permission}' acts across tenants: only unscoped users may do it"),
                permission=permission,
            )

    def require_token_route(self, tags: Iterable[str], method: str) -> None:
        """For an API token: refuse a route none of its scopes opens (a user's own session
        passes). Tags and method are the route's, so the answer comes before any input."""
        if self.token_scopes is None:
            return
        needed = token_scopes_for(tags, method)
        if not needed:
            raise Forbidden(N_("API tokens may not call this route: sign in as the user"))
        if not self.token_scopes & set(needed):
            raise Forbidden(
                N_("this API token lacks the scope of this route: {scopes}"),
                scopes=" or ".join(needed),
            )

    def sees_tenant(self, tenant_id: int | None) -> bool:
        return self.scope.sees(tenant_id)

    def tenant_filter(self, column: Any) -> ColumnElement[bool]:
        return self.scope.filter(column)

    @property
    def visible_tenant_ids(self) -> frozenset[int] | None:
        """The visible tenant ids, or None for every tenant."""
        return None if self.scope.is_all else self.scope.tenant_ids

    def acting_tenant(self, tenant_id: int | None = None) -> TenantRef:
        """The tenant this principal acts for, checked once: the one named (NotFound unless
        visible) or else its own (Invalid when it has none, e.g. an unscoped user)."""
        if tenant_id is None:
            tenant_id = self.tenant_id
            if tenant_id is None:
                raise Invalid(N_("name the tenant: this principal acts for no single tenant"))
        if not self.sees_tenant(tenant_id):
            raise NotFound(N_("tenant {name} not found"), name=tenant_id)
        return TenantRef(tenant_id)


@dataclass(frozen=True)
class TenantRef:
    """A tenant id already checked against the acting principal (`Principal.acting_tenant`):
    what travels down the ingest pipeline instead of a bare int that someone must re-check."""

    id: int


SYSTEM = Principal(actor="system", role="admin")
