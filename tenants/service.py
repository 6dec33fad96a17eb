"""Tenants, providers, users, login, TOTP enrolment and API keys, for the callers that import
them from here (`from tenants import service`). They live in tenants.tenancy (tenants and
providers), tenants.users (users, TOTP enrolment), tenants.login (login, sessions) and
tenants.api_keys (ingest keys)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from soc.core import audit
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from tenants.api_keys import (
    create_api_key,
    list_api_keys,
    principal_from_api_key,
    revoke_api_key,
)
from tenants.login import (
    GUESSES,
    LOGIN_REFUSED,
    end_sessions,
    login,
    logout,
    principal_for,
    principal_from_token,
)
from tenants.models import SLA_CALENDARS, Tenant, UsageHostDaily
from tenants.tenancy import (
    SLUG,
    create_provider,
    create_tenant,
    get_provider,
    get_tenant,
    list_tenants,
)
from tenants.users import (
    PROVIDER_SCOPED_ROLES,
    TENANT_SCOPED_ROLES,
    NewUser,
    confirm_totp,
    create_user,
    find_user,
    list_users,
    new_password,
    reset_password,
    reset_totp,
    set_active,
    start_totp_enrolment,
)

__all__ = [
    "GUESSES",
    "LogSource",
    "LOGIN_REFUSED",
    "PROVIDER_SCOPED_ROLES",
    "SLUG",
    "TENANT_SCOPED_ROLES",
    "NewUser",
    "confirm_totp",
    "create_api_key",
    "create_provider",
    "create_tenant",
    "create_user",
    "end_sessions",
    "find_user",
    "list_users",
    "log_sources",
    "new_password",
    "reset_password",
    "reset_totp",
    "set_active",
    "update_tenant",
    "get_provider",
    "get_tenant",
    "list_api_keys",
    "list_tenants",
    "login",
    "logout",
    "principal_for",
    "principal_from_api_key",
    "principal_from_token",
    "revoke_api_key",
    "start_totp_enrolment",
]


def update_tenant(
    session: Session,
    actor: Principal,
    ref: int | str,
    name: str | None = None,
    retention_days: int | None = None,
    sla_calendar: str | None = None,
) -> Tenant:
    """Change a tenant's display name, log retention (1..365 days) and/or SLA calendar. Admins
    only; the change is audited with the values before and after. A new calendar applies to
    the clocks of cases registered (or re-prioritised) from now on: running clocks keep the
    calendar they started on, so their due times do not jump."""
    actor.require("tenants.manage")
    tenant = get_tenant(session, actor, ref)
    if name is not None and not name.strip():
        raise Invalid(N_("a tenant needs a name"))
    if retention_days is not None and not 1 <= retention_days <= 365:
        raise Invalid(
            N_("retention_days must be between 1 and 365 (the contract keeps logs at most a year)")
        )
    if sla_calendar is not None and sla_calendar not in SLA_CALENDARS:
        raise Invalid(
            N_("sla_calendar must be one of {sla_calendars}"),
            sla_calendars=", ".join(SLA_CALENDARS),
        )
    before = {
        "name": tenant.name,
        "retention_days": tenant.retention_days,
        "sla_calendar": tenant.sla_calendar,
    }
    if name is not None:
        tenant.name = name.strip()
    if retention_days is not None:
        tenant.retention_days = retention_days
    if sla_calendar is not None:
        tenant.sla_calendar = sla_calendar
    after = {
        "name": tenant.name,
        "retention_days": tenant.retention_days,
        "sla_calendar": tenant.sla_calendar,
    }
    if after != before:
        session.flush()
        audit.record(
            session,
            actor=actor.actor,
            action="tenant.update",
            object_type="tenant",
            object_id=tenant.id,
            tenant_id=tenant.id,
            detail={"before": before, "after": after},
        )
    return tenant


@dataclass(frozen=True)
class LogSource:
    tenant: str  # slug
    host: str
    last_day: date  # the last UTC day with metered events from the host
    events: int  # events over the look-back
    silent: bool  # nothing for `silent_hours` (a metered day counts as seen until its end)


def log_sources(
    session: Session,
    actor: Principal,
    now: datetime,
    silent_hours: int,
    lookback_days: int = 30,
) -> list[LogSource]:
    """Each tenant's log sources (hosts, from the ingest meters) with their last event day,
    for the tenants the actor sees; by tenant, then host. Admins only."""
    actor.require("tenants.manage")
    last = func.max(UsageHostDaily.day)
    query = (
        select(Tenant.slug, UsageHostDaily.host, last, func.sum(UsageHostDaily.events))
        .join(Tenant, Tenant.id == UsageHostDaily.tenant_id)
        .where(
            UsageHostDaily.events > 0,
            UsageHostDaily.day >= (now - timedelta(days=lookback_days)).date(),
            actor.tenant_filter(UsageHostDaily.tenant_id),
        )
        .group_by(Tenant.slug, UsageHostDaily.host)
        .order_by(Tenant.slug, UsageHostDaily.host)
    )
    cutoff = now - timedelta(hours=silent_hours)
    return [
        LogSource(
            str(slug),
            str(host),
            day,
            int(events or 0),
            datetime.combine(day + timedelta(days=1), time(0), UTC) <= cutoff,
        )
        for slug, host, day, events in session.execute(query).all()
    ]
