"""Import every domain's models so `Base.metadata` knows all tables (Alembic, tests)."""

from detections.models import (
    Alert,
    CorrelationWindow,
    DetectionRevision,
    FieldMapping,
    RuleException,
    RuleSetting,
    TenantRule,
)
from ingest.models import IngestBatch
from soc.cases.models import Asset, Case, CaseEvent, Evidence, InboundNonce, OutboxMessage, Problem
from soc.core.audit import AuditEntry
from soc.core.db import Base
from soc.core.jobs import Job
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
    "CorrelationWindow",
    "ApiKey",
    "Asset",
    "AuditEntry",
    "AuthToken",
    "Base",
    "BillingAccount",
    "Case",
    "CaseEvent",
    "ClosedMonth",
    "Correction",
    "Evidence",
    "FieldMapping",
    "IngestBatch",
    "InboundNonce",
    "DetectionRevision",
    "Invoice",
    "InvoiceLineRow",
    "Job",
    "Notification",
    "OutboxMessage",
    "PlanDecision",
    "Problem",
    "Provider",
    "RuleException",
    "RuleSetting",
    "Tenant",
    "TenantRule",
    "UsageDaily",
    "UsageHostDaily",
    "User",
]
