"""Maintenance windows: while one is open its CI is `maintenance`, not down, and an
application whose only impairment is maintenance shows `maintenance`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cmdb.engine import StatusEngine
from soc.cmdb.models import ConfigurationItem, Maintenance
from soc.cmdb.visibility import visible_cis
from soc.core.db import utcnow
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal

MAX_WINDOW = timedelta(days=31)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _editable_ci(session: Session, principal: Principal, ci_id: int) -> ConfigurationItem:
    principal.require("cmdb.manage")
    ci = session.get(ConfigurationItem, ci_id)
    if ci is None or ci.retired_at is not None:
        raise NotFound(N_("no CI {name}"), name=ci_id)
    if principal.provider_id is not None and ci.provider_id != principal.provider_id:
        raise NotFound(N_("no CI {name}"), name=ci_id)  # another provider's CI is not there for it
    return ci


def add(
    session: Session,
    principal: Principal,
    engine: StatusEngine,
    ci_id: int,
    starts_at: datetime,
    ends_at: datetime,
    title: str = "",
) -> Maintenance:
    ci = _editable_ci(session, principal, ci_id)
    starts_at, ends_at = _aware(starts_at), _aware(ends_at)
    if ends_at <= starts_at:
        raise Invalid(N_("a maintenance window ends after it starts"))
    if ends_at - starts_at > MAX_WINDOW:
        raise Invalid(N_("a maintenance window lasts at most 31 days"))
    row = Maintenance(
        ci_id=ci.id, starts_at=starts_at, ends_at=ends_at, title=title, created_by=principal.actor
    )
    session.add(row)
    session.flush()
    engine.tick(session)  # a window open now takes effect at once
    return row


def cancel(session: Session, principal: Principal, engine: StatusEngine, window_id: int) -> None:
    row = session.get(Maintenance, window_id)
    if row is None:
        raise NotFound(N_("no maintenance window {window_id}"), window_id=window_id)
    _editable_ci(session, principal, row.ci_id)
    session.delete(row)
    session.flush()
    engine.tick(session)


def upcoming(session: Session, principal: Principal, engine: StatusEngine) -> list[Maintenance]:
    engine.catch_up(session)
    visible = visible_cis(session, principal, engine.corr)
    rows = session.scalars(
        select(Maintenance).where(Maintenance.ends_at > utcnow()).order_by(Maintenance.starts_at)
    )
    return [r for r in rows if visible is None or r.ci_id in visible]
