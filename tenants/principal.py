"""Who is acting, what they may do, and which tenants' data they may see.

Tenancy is enforced here and nowhere else: services ask `require` for the permission and
`scope_tenant_ids` / `sees_tenant` for the rows; a foreign tenant's object is a NotFound.
"""

from __future__ import annotations

from dataclasses import dataclass

from soc.errors import Forbidden

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
        {"admin", "soc_analyst", "customer", "risk_owner", "finance", "provider", "authority"}
    ),
    "tenants.manage": frozenset({"admin"}),
    "users.manage": frozenset({"admin"}),
    "apikeys.manage": frozenset({"admin"}),
    "usage.read": frozenset({"admin", "finance", "customer", "authority"}),
    # Billing (issue 6): customers read their own usage and invoices; finance decides and closes.
    "billing.read": frozenset({"admin", "finance", "customer"}),
    "billing.manage": frozenset({"admin", "finance"}),
    "billing.close": frozenset({"admin", "finance"}),
    "audit.read": frozenset({"admin", "authority"}),
    # Detection rules (issue 4): customers read their own tenant's rule state.
    "rules.read": frozenset({"admin", "soc_analyst", "customer"}),
    "rules.manage": frozenset({"admin", "soc_analyst"}),
    "ingest.write": frozenset({"ingest_key"}),
}


# Permissions whose actions reach beyond one tenant (creating tenants or users of any scope,
# the ITSM outbox of every tenant, closing everyone's month): a user scoped to one tenant or
# provider never has them, whatever the role.
GLOBAL_ONLY = frozenset({"tenants.manage", "users.manage", "itsm.manage", "billing.close"})


@dataclass(frozen=True)
class Principal:
    actor: str
    role: str
    user_id: int | None = None
    tenant_id: int | None = None
    provider_id: int | None = None

    @property
    def is_global(self) -> bool:
        return self.tenant_id is None and self.provider_id is None

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise Forbidden(f"role '{self.role}' may not do '{permission}'")
        if permission in GLOBAL_ONLY and not self.is_global:
            raise Forbidden(f"'{permission}' acts across tenants: only unscoped users may do it")

    def sees_tenant(self, tenant_id: int) -> bool:
        return self.tenant_id is None or self.tenant_id == tenant_id


SYSTEM = Principal(actor="system", role="admin")
