"""The access overview: who has which role, on which system, since when, with which factor.

The integrator keeps track of which staff of customers and providers have access to the common
systems (seed 000; D7), and approving is billed per person who may approve (seed 000, the cost
settlement: submitting and viewing are in the unit price). One row per user, grouped by tenant
then provider: role, whether the role approves, active or not, last sign-in (the newest session
opened, whatever the sign-in method), MFA state, source (local, or the identity provider the
account came from, when tenants.models carries `auth_source`) and the system.

Who approves follows from the permissions, not from a list kept beside them: a role approves
when it may accept risks or decide action proposals (APPROVING). The approver count of a
tenant is its active users with such a role. Readers: admins and the authority see every
tenant and provider; a tenant's administrator sees its own tenant.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from soc.core.principal import PERMISSIONS, Principal
from tenants.models import AuthToken, Provider, Tenant, User

# The approvals the product has: a customer accepts a risk of its services and decides an
# action proposal (the approver of a deadline change follows the same rights).
APPROVING = ("risk.accept", "actions.decide")
# The one system this product is; the column keeps the export's shape when others join.
SYSTEM = "soc"
COLUMNS = (
    "tenant",
    "provider",
    "username",
    "role",
    "system",
    "approver",
    "active",
    "last_sign_in",
    "mfa",
    "source",
)
APPROVER_COLUMNS = ("tenant", "name", "approvers")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def approves(role: str) -> bool:
    return any(role in PERMISSIONS[p] for p in APPROVING)


def source_of(user: User) -> str:
    """'local', or where the account came from once users carry an `auth_source`."""
    return str(getattr(user, "auth_source", None) or "local")


@dataclass(frozen=True)
class AccessRow:
    tenant: str | None  # slug
    provider: str | None  # slug
    username: str
    role: str
    system: str
    approver: bool
    active: bool
    last_sign_in: datetime | None
    mfa: str  # 'totp' or 'none'
    source: str


@dataclass(frozen=True)
class ApproverCount:
    tenant: str  # slug
    name: str
    approvers: int


def overview(session: Session, actor: Principal) -> list[AccessRow]:
    """Every user the reader may see: by tenant, then provider (unscoped users last), then
    username."""
    actor.require("access.read")
    last = (
        select(AuthToken.user_id, func.max(AuthToken.created_at).label("at"))
        .group_by(AuthToken.user_id)
        .subquery()
    )
    query = (
        select(User, Tenant.slug, Provider.slug, last.c.at)
        .outerjoin(Tenant, Tenant.id == User.tenant_id)
        .outerjoin(Provider, Provider.id == User.provider_id)
        .outerjoin(last, last.c.user_id == User.id)
    )
    if not actor.is_global:
        query = query.where(actor.tenant_filter(User.tenant_id))
    rows = [
        AccessRow(
            tenant=tenant,
            provider=provider,
            username=user.username,
            role=user.role,
            system=SYSTEM,
            approver=approves(user.role),
            active=user.active,
            last_sign_in=at,
            mfa="totp" if user.totp_enabled else "none",
            source=source_of(user),
        )
        for user, tenant, provider, at in session.execute(query).all()
    ]
    return sorted(
        rows,
        key=lambda r: (
            r.tenant is None,
            r.tenant or "",
            r.provider is None,
            r.provider or "",
            r.username,
        ),
    )


def approver_counts(session: Session, actor: Principal) -> list[ApproverCount]:
    """Per visible tenant (by slug), its active users whose role approves: the billed number."""
    actor.require("access.read")
    roles = sorted({role for p in APPROVING for role in PERMISSIONS[p]})
    counted = dict(
        session.execute(
            select(User.tenant_id, func.count(User.id))
            .where(User.role.in_(roles), User.active.is_(True), User.tenant_id.is_not(None))
            .group_by(User.tenant_id)
        ).all()
    )
    tenants = session.scalars(
        select(Tenant).where(actor.tenant_filter(Tenant.id)).order_by(Tenant.slug)
    )
    return [ApproverCount(t.slug, t.name, int(counted.get(t.id, 0))) for t in tenants]


def _cell(value: object) -> str:
    """A CSV cell: text a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def overview_csv(rows: Sequence[AccessRow]) -> str:
    """The overview with the columns of COLUMNS (times in UTC, booleans yes/no)."""
    return _csv(COLUMNS, [[getattr(r, c) for c in COLUMNS] for r in rows])


def approvers_csv(counts: Sequence[ApproverCount]) -> str:
    return _csv(APPROVER_COLUMNS, [[c.tenant, c.name, c.approvers] for c in counts])
