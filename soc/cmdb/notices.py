"""Outage notices: the service desk publishes an outage (or planned unavailability) and it
shows as a banner on the pages of every affected customer (A5, TA3).

The affected tenants are computed, never typed in: from the operational incident (its tenants
and the tenants of its applications) and the tenants the listed applications serve. What a
customer receives is cut to it: title, body, kind, time and the names of *its own* affected
applications; the other tenants and their applications are not in it (the body is the
publisher's text: the service desk writes it for every reader).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cmdb.models import CITenant, ConfigurationItem, OpsIncident, OutageNotice
from soc.cmdb.notice_mail import mail_notice
from soc.cmdb.status_schemas import ActiveNoticeOut
from soc.core import audit
from soc.core.db import utcnow
from soc.core.errors import Conflict, Forbidden, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal

KINDS = ("outage", "planned")


def _require_desk(principal: Principal) -> None:
    """The service desk publishes for every tenant: a role scoped to a provider or a tenant
    may not, whatever its name (a provider's analyst is not the service desk)."""
    principal.require("status.publish")
    if not principal.is_global:
        raise Forbidden(N_("publishing a notice acts across tenants: only the service desk may"))


def publish(
    session: Session,
    principal: Principal,
    title: str,
    body: str,
    kind: str = "outage",
    incident_id: int | None = None,
    applications: list[int] | None = None,
) -> OutageNotice:
    """Publish a notice about an incident and/or a list of applications."""
    _require_desk(principal)
    if kind not in KINDS:
        raise Invalid(N_("kind must be one of {kinds}"), kinds=", ".join(KINDS))
    if not title.strip():
        raise Invalid(N_("a notice needs a title"))
    apps = set(applications or ())
    tenants: set[int] = set()
    if incident_id is not None:
        incident = session.get(OpsIncident, incident_id)
        if incident is None:
            raise NotFound(N_("incident {incident_id} not found"), incident_id=incident_id)
        apps.update(int(a) for a in incident.applications)
        tenants.update(int(t) for t in incident.tenants)
    elif not apps:
        raise Invalid(N_("name the incident or at least one application"))
    _check_applications(session, apps)
    tenants.update(_tenants_of(session, apps))
    notice = OutageNotice(
        incident_id=incident_id,
        kind=kind,
        title=title.strip(),
        body=body,
        applications=sorted(apps),
        tenants=sorted(tenants),
        published_by=principal.actor,
        published_at=utcnow(),
    )
    session.add(notice)
    session.flush()
    _audit(session, principal, "status.notice.publish", notice)
    mail_notice(session, notice, _apps_by_tenant(session, apps))
    return notice


def _apps_by_tenant(session: Session, apps: set[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if not apps:
        return found
    rows = session.execute(
        select(CITenant.tenant_id, ConfigurationItem.name)
        .join(ConfigurationItem, ConfigurationItem.id == CITenant.ci_id)
        .where(CITenant.ci_id.in_(sorted(apps)))
    )
    for tenant_id, name in rows:
        found.setdefault(tenant_id, []).append(name)
    return found


def close(session: Session, principal: Principal, notice_id: int) -> OutageNotice:
    """End a notice: the banner disappears from the customers' pages."""
    _require_desk(principal)
    notice = session.get(OutageNotice, notice_id)
    if notice is None:
        raise NotFound(N_("notice {notice_id} not found"), notice_id=notice_id)
    if notice.closed_at is not None:
        raise Conflict(N_("notice {notice_id} is already closed"), notice_id=notice_id)
    notice.closed_at = utcnow()
    session.flush()
    _audit(session, principal, "status.notice.close", notice)
    return notice


def list_notices(
    session: Session, principal: Principal, include_closed: bool = False, limit: int = 200
) -> list[OutageNotice]:
    """Every notice with its tenants: for unscoped readers (service desk, authority) only."""
    principal.require("cmdb.read")
    if not principal.is_global:
        raise Forbidden(N_("the full list of notices is for the service desk and the authority"))
    query = select(OutageNotice).order_by(OutageNotice.id.desc()).limit(limit)
    if not include_closed:
        query = query.where(OutageNotice.closed_at.is_(None))
    return list(session.scalars(query))


def active_notices_for(session: Session, principal: Principal) -> list[ActiveNoticeOut]:
    """The open notices the principal's pages show, cut to what it may know."""
    principal.require("cmdb.read")
    visible = principal.visible_tenant_ids  # None: every tenant
    if visible is not None and not visible:
        return []
    open_rows = list(
        session.scalars(
            select(OutageNotice)
            .where(OutageNotice.closed_at.is_(None))
            .order_by(OutageNotice.published_at.desc(), OutageNotice.id.desc())
        )
    )
    if visible is not None:
        open_rows = [n for n in open_rows if visible & {int(t) for t in n.tenants}]
    own_apps = _own_applications(session, {a for n in open_rows for a in n.applications}, visible)
    out = []
    for notice in open_rows:
        names = sorted((own_apps[a] for a in notice.applications if a in own_apps), key=str.lower)
        out.append(
            ActiveNoticeOut(
                title=notice.title,
                body=notice.body,
                kind=notice.kind,
                published_at=notice.published_at,
                applications=names,
            )
        )
    return out


def _own_applications(
    session: Session, app_ids: set[int], tenants: frozenset[int] | None
) -> dict[int, str]:
    """Names of those applications that serve one of `tenants` (None: all of them)."""
    if not app_ids:
        return {}
    query = select(ConfigurationItem.id, ConfigurationItem.name).where(
        ConfigurationItem.id.in_(sorted(app_ids))
    )
    if tenants is not None:
        query = query.where(
            ConfigurationItem.id.in_(
                select(CITenant.ci_id).where(CITenant.tenant_id.in_(sorted(tenants)))
            )
        )
    return {ci_id: name for ci_id, name in session.execute(query)}


def _check_applications(session: Session, apps: set[int]) -> None:
    if not apps:
        return
    found = set(
        session.scalars(
            select(ConfigurationItem.id).where(
                ConfigurationItem.id.in_(sorted(apps)),
                ConfigurationItem.ci_type == "application",
            )
        )
    )
    missing = sorted(apps - found)
    if missing:
        raise Invalid(N_("not applications of the CMDB: {missing}"), missing=missing[:20])


def _tenants_of(session: Session, apps: set[int]) -> set[int]:
    if not apps:
        return set()
    return set(session.scalars(select(CITenant.tenant_id).where(CITenant.ci_id.in_(sorted(apps)))))


def _audit(session: Session, principal: Principal, action: str, notice: OutageNotice) -> None:
    audit.record(
        session,
        actor=principal.actor,
        action=action,
        object_type="outage_notice",
        object_id=notice.id,
        detail={
            "kind": notice.kind,
            "title": notice.title,
            "incident_id": notice.incident_id,
            "applications": notice.applications,
            "tenants": notice.tenants,
        },
    )
