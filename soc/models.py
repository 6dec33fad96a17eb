"""Import every domain's models so `Base.metadata` knows all tables (Alembic, tests)."""

from detections.models import Alert
from soc.audit import AuditEntry
from soc.cases.models import Case, CaseEvent
from soc.db import Base
from tenants.billing.models import (
    BillingAccount,
    ClosedMonth,
    Correction,
    Invoice,
    InvoiceLineRow,
    Notification,
    PlanDecision,
)
from tenants.models import ApiKey, AuthToken, Provider, Tenant, UsageDaily, UsageHostDaily, User

__all__ = [
    "Alert",
    "ApiKey",
    "AuditEntry",
    "AuthToken",
    "Base",
    "BillingAccount",
    "Case",
    "CaseEvent",
    "ClosedMonth",
    "Correction",
    "Invoice",
    "InvoiceLineRow",
    "Notification",
    "PlanDecision",
    "Provider",
    "Tenant",
    "UsageDaily",
    "UsageHostDaily",
    "User",
]
