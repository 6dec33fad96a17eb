"""Providers' operational events: resolve the CI, apply the share policy, deduplicate, watch
for flapping, keep every event with its outcome, and hand the alerts to the status engine.

Outcomes: `applied` (the fingerprint's latest state), `duplicate` (the same fingerprint, state
and time again), `stale` (older than the fingerprint's latest: kept, changes nothing),
`not_shared` (outside the provider's agreed subset: stays with the provider, A2) and
`unmatched` (no CI by that reference: kept with the reason for the service desk).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cmdb.engine import RecordedChange, StatusEngine, lock_revision
from soc.cmdb.inventory import resolve_ci
from soc.cmdb.models import ActiveAlert, OpsEvent, SharePolicy
from soc.cmdb.rules import SEVERITY_RANK
from soc.core.db import utcnow
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider


@dataclass(frozen=True)
class EventInput:
    fingerprint: str
    severity: str
    state: str
    time: datetime
    ci: str | None = None
    event_type: str = ""
    source: str = ""
    summary: str = ""
    provider: str | None = None


@dataclass(frozen=True)
class Outcome:
    fingerprint: str
    outcome: str
    reason: str = ""
    ci_id: int | None = None
    event_id: int | None = None


@dataclass
class Received:
    outcomes: list[Outcome] = field(default_factory=list)
    changes: list[RecordedChange] = field(default_factory=list)


@dataclass(frozen=True)
class Policy:
    min_severity: str
    event_types: frozenset[str] | None

    def shares(self, severity: str, event_type: str) -> bool:
        if SEVERITY_RANK[severity] < SEVERITY_RANK[self.min_severity]:
            return False
        return self.event_types is None or event_type in self.event_types


def receive(
    session: Session,
    settings: Settings,
    engine: StatusEngine,
    principal: Principal,
    events: list[EventInput],
    now: datetime | None = None,
) -> Received:
    """Keep each event with its outcome and apply the shared, matched, new ones."""
    principal.require("ops.events.write")
    now = now or utcnow()
    lock_revision(session)  # one writer at a time across processes: changes in one order
    engine.catch_up(session)
    result = Received()
    touched: dict[int, ActiveAlert] = {}
    policies: dict[int | None, Policy] = {}
    for event in events:
        outcome, alert = _one(session, settings, principal, event, now, policies)
        result.outcomes.append(outcome)
        if alert is not None:
            touched[alert.id] = alert
    session.flush()
    result.changes = engine.apply_alerts(session, list(touched.values()), now)
    return result


def _one(
    session: Session,
    settings: Settings,
    principal: Principal,
    event: EventInput,
    now: datetime,
    policies: dict[int | None, Policy],
) -> tuple[Outcome, ActiveAlert | None]:
    provider_id, problem = _provider(session, principal, event.provider)
    ci = resolve_ci(session, event.ci) if event.ci and problem is None else None
    if problem is None and ci is None:
        problem = f"no CI named {event.ci!r}" if event.ci else "the event names no CI"
    if provider_id is None and ci is not None:
        provider_id = ci.provider_id
    row = OpsEvent(
        provider_id=provider_id,
        ci_id=ci.id if ci is not None else None,
        ci_ref=(event.ci or "")[:255],
        fingerprint=event.fingerprint,
        severity=event.severity,
        state=event.state,
        event_type=event.event_type,
        source=event.source,
        summary=event.summary,
        occurred_at=event.time,
        received_at=now,
        outcome="unmatched",
        reason=problem or "",
    )
    session.add(row)
    alert = None
    if ci is not None:
        if provider_id not in policies:
            policies[provider_id] = policy_of(session, settings, provider_id)
        if not policies[provider_id].shares(event.severity, event.event_type):
            row.outcome, row.reason = "not_shared", "outside the provider's agreed subset"
        else:
            row.outcome, alert = _apply(session, settings, provider_id or 0, ci.id, event)
            if row.outcome == "stale":
                row.reason = "older than the fingerprint's latest event"
    session.flush()
    outcome = Outcome(event.fingerprint, row.outcome, row.reason, row.ci_id, row.id)
    return outcome, alert


def _provider(
    session: Session, principal: Principal, slug: str | None
) -> tuple[int | None, str | None]:
    """A provider user's events are its own, whatever they claim; the integrator names one."""
    if principal.provider_id is not None:
        return principal.provider_id, None
    if not slug:
        return None, None
    found = session.scalar(select(Provider.id).where(Provider.slug == slug))
    return (found, None) if found is not None else (None, f"unknown provider {slug!r}")


def _apply(
    session: Session, settings: Settings, provider_key: int, ci_id: int, event: EventInput
) -> tuple[str, ActiveAlert | None]:
    alert = session.scalar(
        select(ActiveAlert).where(
            ActiveAlert.provider_key == provider_key, ActiveAlert.fingerprint == event.fingerprint
        )
    )
    if alert is None:
        alert = ActiveAlert(
            provider_key=provider_key,
            fingerprint=event.fingerprint,
            ci_id=ci_id,
            severity=event.severity,
            state=event.state,
            occurred_at=event.time,
            changes=[event.time.isoformat()],
            flapping=False,
        )
        session.add(alert)
        session.flush()
        return "applied", alert
    if event.time < alert.occurred_at:
        return "stale", None
    same = (
        alert.state == event.state
        and alert.severity == event.severity
        and alert.occurred_at == event.time
        and alert.ci_id == ci_id
    )
    if same:
        return "duplicate", None
    if alert.state != event.state:
        window = timedelta(minutes=settings.cmdb_flap_minutes)
        recent = [t for t in alert.changes if datetime.fromisoformat(t) > event.time - window]
        alert.changes = [*recent, event.time.isoformat()]
        alert.flapping = alert.flapping or len(alert.changes) >= settings.cmdb_flap_changes
    alert.ci_id, alert.severity, alert.state = ci_id, event.severity, event.state
    alert.occurred_at = event.time
    return "applied", alert


def policy_of(session: Session, settings: Settings, provider_id: int | None) -> Policy:
    row = session.get(SharePolicy, provider_id) if provider_id is not None else None
    if row is None:
        return Policy(settings.cmdb_default_min_severity, None)
    types = frozenset(row.event_types) if row.event_types is not None else None
    return Policy(row.min_severity, types)


def set_policy(
    session: Session,
    principal: Principal,
    provider: str,
    min_severity: str,
    event_types: list[str] | None,
) -> SharePolicy:
    """The agreed subset of a provider's events (integrator only)."""
    principal.require("cmdb.policy")
    if min_severity not in SEVERITY_RANK:
        raise Invalid(
            N_("min_severity must be one of {severity_rank}"), severity_rank=sorted(SEVERITY_RANK)
        )
    provider_id = session.scalar(select(Provider.id).where(Provider.slug == provider))
    if provider_id is None:
        raise Invalid(N_("unknown provider {provider!r}"), provider=provider)
    row = session.get(SharePolicy, provider_id)
    if row is None:
        row = SharePolicy(provider_id=provider_id)
        session.add(row)
    row.min_severity = min_severity
    row.event_types = sorted(set(event_types)) if event_types is not None else None
    row.updated_by, row.updated_at = principal.actor, utcnow()
    session.flush()
    return row


def settle_flapping(
    session: Session, settings: Settings, engine: StatusEngine, now: datetime | None = None
) -> list[RecordedChange]:
    """Fingerprints quiet for the flap window stop flapping and take their latest state."""
    now = now or utcnow()
    lock_revision(session)
    engine.catch_up(session)
    window = timedelta(minutes=settings.cmdb_flap_minutes)
    settled = []
    for alert in session.scalars(select(ActiveAlert).where(ActiveAlert.flapping.is_(True))):
        last = max((datetime.fromisoformat(t) for t in alert.changes), default=alert.occurred_at)
        if last <= now - window:
            alert.flapping, alert.changes = False, []
            settled.append(alert)
    session.flush()
    return engine.apply_alerts(session, settled, now) if settled else []
