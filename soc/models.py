"""Import every domain's models so `Base.metadata` knows all tables (Alembic, tests)."""

from detections.models import Alert
from soc.audit import AuditEntry
from soc.cases.models import Case, CaseEvent
from soc.db import Base
from tenants.models import ApiKey, AuthToken, Provider, Tenant, UsageDaily, User

__all__ = [
    "Alert",
    "ApiKey",
    "AuditEntry",
    "AuthToken",
    "Base",
    "Case",
    "CaseEvent",
    "Provider",
    "Tenant",
    "UsageDaily",
    "User",
]
