"""Computed KRIs from the registers and the meters: open high and critical risks, overdue
actions and actions on time (risk register), availability per application (CMDB status),
events and GB ingested (usage meters), silent log sources, detections by ATT&CK tactic.

- Risks: open at the period's end (created before it, not closed by then) with the residual
  band (risk.matrix) high or critical as the risk stood then (its field history undone back
  to the end). A tenant's: the risks concerning it; a provider's: those naming or owned by it.
- Actions (every register, cancelled ones left out): overdue %, of the items still open at
  the end of the period's last day, those past due; on time %, risk.deadlines.on_time_share
  of the items handled in the period. A tenant's: its items; a provider's: those it owns.
- Availability: the mean of the monthly figures (soc.cmdb.availability) of the applications
  (CMDB CIs of type application, not retired before the period) of the subject; None without.
- Events and GB: the usage meters' days of the period (UTC days, as metered); a provider's:
  the tenants it serves. GB are 10^9 bytes, 3 decimals.
- Silent log sources: a tenant *declares* a log source in the log-source register
  (ingest.sources: a host glob and its own silent_after_hours) or in the CMDB (a CI serving it
  whose attributes hold `"log_source": true`; its host names are the CI's name and aliases,
  silent after settings.kri_silent_source_hours). It is silent when no event came from its
  hosts for that long up to the period's end (or now, if earlier): a meter day counts as seen
  until its end, but a register source's own (exact) last seen wins when it is before that
  moment; a register source never seen counts from its declaration.
- Detections: alerts created in the period, by the ATT&CK tactics of their rule's tags
  (`attack.<tactic>`); an alert of a rule with no tactic counts under "none"."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import yaml
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from detections.engine.loader import iter_rule_files
from detections.models import Alert, TenantRule
from detections.sources import rule_dirs
from ingest.models import LogSource
from ingest.sources import matches
from kri.computed_base import Figure, Subject, quantize, window
from risk.deadlines import Item, ItemScope, on_time_share
from risk.matrix import matrix_from
from risk.models import Risk, RiskAction, RiskChange, RiskProvider, RiskTenant
from soc.cmdb.availability import AvailabilityRules, intervals_from_changes, monthly_availability
from soc.cmdb.models import CIName, CITenant, ConfigurationItem, StatusChange
from soc.core.db import utcnow
from soc.core.settings import Settings
from tenants.models import ProviderTenant, UsageDaily, UsageHostDaily

RISK_FIELDS = ("residual_likelihood", "residual_impact", "status")


def _risk_at(session: Session, risk: Risk, end: datetime) -> dict[str, Any]:
    """The risk's residual likelihood, impact and status at `end`: the oldest change of each
    field after `end` holds the value it had before."""
    state: dict[str, Any] = {f: getattr(risk, f) for f in RISK_FIELDS}
    changes = session.scalars(
        select(RiskChange)
        .where(RiskChange.risk_id == risk.id, RiskChange.at >= end)
        .where(RiskChange.field.in_(RISK_FIELDS))
        .order_by(RiskChange.at.desc(), RiskChange.id.desc())
    )
    for change in changes:
        state[change.field] = change.old
    return state


def open_high_critical_risks(
    session: Session, settings: Settings, subject: Subject, period: str
) -> Figure:
    w = window(settings, period)
    query = select(Risk).where(Risk.created_at < w.end).order_by(Risk.id)
    if subject.tenant_id is not None:
        concerned = select(RiskTenant.risk_id).where(RiskTenant.tenant_id == subject.tenant_id)
        query = query.where(Risk.id.in_(concerned))
    if subject.provider_id is not None:
        named = select(RiskProvider.risk_id).where(RiskProvider.provider_id == subject.provider_id)
        query = query.where(or_(Risk.id.in_(named), Risk.owning_provider_id == subject.provider_id))
    matrix = matrix_from(settings)
    found: dict[str, list[int]] = {"high": [], "critical": []}
    for risk in session.scalars(query):
        state = _risk_at(session, risk, w.end)
        if state["status"] == "closed":
            continue
        band = matrix.band(int(state["residual_likelihood"]) * int(state["residual_impact"]))
        if band in found:
            found[band].append(risk.id)
    return Decimal(len(found["high"]) + len(found["critical"])), found


def _actions(session: Session, subject: Subject) -> list[RiskAction]:
    query = select(RiskAction).where(RiskAction.status != "cancelled").order_by(RiskAction.id)
    if subject.tenant_id is not None:
        query = query.where(RiskAction.tenant_id == subject.tenant_id)
    if subject.provider_id is not None:
        query = query.where(RiskAction.owner_provider_id == subject.provider_id)
    return list(session.scalars(query))


def overdue_actions_pct(
    session: Session, settings: Settings, subject: Subject, period: str
) -> Figure:
    w = window(settings, period)
    still_open = [
        a
        for a in _actions(session, subject)
        if a.created_at < w.end and (a.handled_on is None or a.handled_on > w.last)
    ]
    overdue = [a.id for a in still_open if a.due < w.last]
    if not still_open:
        return Decimal("0.00"), {"open": 0, "overdue": []}
    share = quantize(Decimal(len(overdue)) * 100 / Decimal(len(still_open)))
    return share, {"open": len(still_open), "overdue": overdue}


def actions_on_time_pct(
    session: Session, settings: Settings, subject: Subject, period: str
) -> Figure:
    w = window(settings, period)
    items = [
        Item(
            id=str(a.id),
            scope=cast(ItemScope, a.scope),
            due=a.due,
            handled=a.handled_on,
            warned=a.warned_on,
            outside_ecosystem=a.outside_ecosystem,
        )
        for a in _actions(session, subject)
        if a.handled_on is not None
    ]
    target = Decimal(str(settings.risk_on_time_target_pct))
    result = on_time_share(items, w.first, w.last, target)
    return result.on_time_pct, {
        "handled": result.handled,
        "excluded": result.excluded,
        "on_time": result.on_time,
        "late": [int(i) for i in result.late_ids],
    }


def _applications(session: Session, subject: Subject, since: datetime) -> list[int]:
    query = select(ConfigurationItem.id).where(
        ConfigurationItem.ci_type == "application",
        or_(ConfigurationItem.retired_at.is_(None), ConfigurationItem.retired_at >= since),
    )
    if subject.tenant_id is not None:
        serving = select(CITenant.ci_id).where(CITenant.tenant_id == subject.tenant_id)
        query = query.where(ConfigurationItem.id.in_(serving))
    if subject.provider_id is not None:
        query = query.where(ConfigurationItem.provider_id == subject.provider_id)
    return list(session.scalars(query.order_by(ConfigurationItem.id)))


def availability_pct(session: Session, settings: Settings, subject: Subject, period: str) -> Figure:
    w = window(settings, period)
    apps = _applications(session, subject, w.start)
    if not apps:
        return None, {"applications": {}}
    rules = AvailabilityRules(
        target_pct=settings.availability_target_pct,
        max_planned_minutes_per_month=settings.availability_max_planned_minutes,
        max_planned_weekends_per_year=settings.availability_max_planned_weekends,
        tz=settings.case_timezone,
    )
    since = datetime(w.first.year - 1, 12, 1, tzinfo=UTC)
    figures: dict[str, str] = {}
    total = Decimal(0)
    for app in apps:
        changes = [
            (c.at, c.state)
            for c in session.scalars(
                select(StatusChange)
                .where(StatusChange.ci_id == app, StatusChange.at >= since)
                .order_by(StatusChange.at, StatusChange.id)
            )
        ]
        month = monthly_availability(
            intervals_from_changes(changes), w.first.year, w.first.month, rules, as_of=utcnow()
        )
        pct = Decimal(str(month.pct))
        figures[str(app)] = str(quantize(pct, "0.001"))
        total += pct
    return quantize(total / len(apps), "0.001"), {"applications": figures}


def _tenant_ids(session: Session, subject: Subject) -> list[int] | None:
    """The tenants whose meters count (None: all)."""
    if subject.tenant_id is not None:
        return [subject.tenant_id]
    if subject.provider_id is not None:
        return list(
            session.scalars(
                select(ProviderTenant.tenant_id).where(
                    ProviderTenant.provider_id == subject.provider_id
                )
            )
        )
    return None


def _usage(session: Session, settings: Settings, subject: Subject, period: str) -> tuple[int, int]:
    w = window(settings, period)
    query = select(
        func.coalesce(func.sum(UsageDaily.events), 0), func.coalesce(func.sum(UsageDaily.bytes), 0)
    ).where(UsageDaily.day >= w.first, UsageDaily.day <= w.last)
    tenants = _tenant_ids(session, subject)
    if tenants is not None:
        query = query.where(UsageDaily.tenant_id.in_(tenants))
    events, size = session.execute(query).one()
    return int(events), int(size)


def events(session: Session, settings: Settings, subject: Subject, period: str) -> Figure:
    w = window(settings, period)
    query = (
        select(UsageHostDaily.host, func.sum(UsageHostDaily.events))
        .where(UsageHostDaily.day >= w.first, UsageHostDaily.day <= w.last)
        .group_by(UsageHostDaily.host)
        .order_by(UsageHostDaily.host)
    )
    tenants = _tenant_ids(session, subject)
    if tenants is not None:
        query = query.where(UsageHostDaily.tenant_id.in_(tenants))
    per_ci = {host: int(count) for host, count in session.execute(query).all()}
    total, _ = _usage(session, settings, subject, period)
    return Decimal(total), {"per_ci": per_ci}


def gb_ingested(session: Session, settings: Settings, subject: Subject, period: str) -> Figure:
    _, size = _usage(session, settings, subject, period)
    return quantize(Decimal(size) / Decimal(10**9), "0.001"), {"bytes": size}


def _declared_sources(session: Session, tenant_ids: list[int] | None) -> dict[int, set[str]]:
    """CI id → its host names, for the CIs declared as log sources of these tenants."""
    query = select(ConfigurationItem, CITenant.tenant_id).join(
        CITenant, CITenant.ci_id == ConfigurationItem.id
    )
    if tenant_ids is not None:
        query = query.where(CITenant.tenant_id.in_(tenant_ids))
    declared: dict[int, set[str]] = {}
    for ci, _tenant in session.execute(query.where(ConfigurationItem.retired_at.is_(None))):
        if (ci.attributes or {}).get("log_source") is True:
            declared[ci.id] = {ci.name.lower()}
    for alias in session.scalars(select(CIName).where(CIName.ci_id.in_(sorted(declared)))):
        declared[alias.ci_id].add(alias.name.lower())
    return declared


def silent_log_sources(
    session: Session, settings: Settings, subject: Subject, period: str
) -> Figure:
    w = window(settings, period)
    as_of = min(w.end, utcnow())
    cutoff = as_of - timedelta(hours=settings.kri_silent_source_hours)
    tenants = _tenant_ids(session, subject)
    declared = _declared_sources(session, tenants)
    last_day: dict[str, Any] = {}
    query = select(UsageHostDaily.host, func.max(UsageHostDaily.day)).where(
        UsageHostDaily.events > 0, UsageHostDaily.day <= as_of.date()
    )
    if tenants is not None:
        query = query.where(UsageHostDaily.tenant_id.in_(tenants))
    for host, day in session.execute(query.group_by(UsageHostDaily.host)).all():
        last_day[host.lower()] = max(day, last_day.get(host.lower(), day))
    names = dict(session.execute(select(ConfigurationItem.id, ConfigurationItem.name)).all())
    silent = []
    for ci_id, hosts in sorted(declared.items()):
        days = [last_day[h] for h in hosts if h in last_day]
        seen = datetime.combine(max(days) + timedelta(days=1), time(0), UTC) if days else None
        if seen is None or seen <= cutoff:
            silent.append(
                {
                    "ci_id": ci_id,
                    "name": names.get(ci_id, ""),
                    "last_seen": seen and seen.isoformat(),
                }
            )
    registered = _silent_registered(session, tenants, as_of)
    silent += [entry for entry in registered if entry["silent"]]
    for entry in registered:
        del entry["silent"]
    return Decimal(len(silent)), {"declared": len(declared) + len(registered), "silent": silent}


def _silent_registered(
    session: Session, tenants: list[int] | None, as_of: datetime
) -> list[dict[str, Any]]:
    """The register's enabled sources declared by `as_of`, each with whether it was silent
    then (key `silent`) and when it was last seen by then."""
    query = select(LogSource).where(LogSource.enabled.is_(True), LogSource.created_at <= as_of)
    if tenants is not None:
        query = query.where(LogSource.tenant_id.in_(tenants))
    sources = list(session.scalars(query.order_by(LogSource.tenant_id, LogSource.name)))
    if not sources:
        return []
    days = session.execute(
        select(UsageHostDaily.tenant_id, UsageHostDaily.host, func.max(UsageHostDaily.day))
        .where(
            UsageHostDaily.events > 0,
            UsageHostDaily.day <= as_of.date(),
            UsageHostDaily.tenant_id.in_({s.tenant_id for s in sources}),
        )
        .group_by(UsageHostDaily.tenant_id, UsageHostDaily.host)
    ).all()
    out = []
    for source in sources:
        ends = [
            datetime.combine(day + timedelta(days=1), time(0), UTC)
            for tenant_id, host, day in days
            if tenant_id == source.tenant_id and matches(source.host_pattern, host)
        ]
        # Its own last seen is exact and, when before `as_of`, the last event by then; a
        # later one leaves the meters' day precision for the period's end.
        seen = min(max(ends), as_of) if ends else None
        if source.last_seen is not None and source.last_seen <= as_of:
            seen = source.last_seen
        cutoff = as_of - timedelta(hours=source.silent_after_hours)
        out.append(
            {
                "source_id": source.id,
                "tenant_id": source.tenant_id,
                "name": source.name,
                "last_seen": seen and seen.isoformat(),
                "silent": (seen or source.created_at) <= cutoff,
            }
        )
    return out


def _tactics(tags: Iterable[object]) -> list[str]:
    out = []
    for tag in tags:
        text = str(tag).lower()
        if text.startswith("attack."):
            name = text[len("attack.") :]
            if not (name[:1] in "tgs" and name[1:2].isdigit()):
                out.append(name)
    return out


def _rule_tactics_from_text(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return found
    for doc in documents:
        if isinstance(doc, dict) and doc.get("id"):
            found[str(doc["id"])] = _tactics(doc.get("tags") or [])
    return found


@lru_cache(maxsize=8)
def _shipped_tactics(dirs: tuple[Path, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in iter_rule_files(dirs):
        try:
            found.update(_rule_tactics_from_text(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return found


def detections_by_tactic(
    session: Session, settings: Settings, subject: Subject, period: str
) -> Figure:
    w = window(settings, period)
    query = select(Alert.tenant_id, Alert.rule_id, func.count()).where(
        Alert.created_at >= w.start, Alert.created_at < w.end
    )
    tenants = _tenant_ids(session, subject)
    if tenants is not None:
        query = query.where(Alert.tenant_id.in_(tenants))
    counts = session.execute(query.group_by(Alert.tenant_id, Alert.rule_id)).all()
    shipped = _shipped_tactics(tuple(rule_dirs(settings)))
    own: dict[tuple[int, str], list[str]] = {}
    for rule in session.scalars(
        select(TenantRule).where(TenantRule.tenant_id.in_({t for t, _, _ in counts}))
    ):
        for rid, tactics in _rule_tactics_from_text(rule.yaml).items():
            own[(rule.tenant_id, rid)] = tactics
    per: dict[str, int] = {}
    total = 0
    for tenant_id, rule_id, count in counts:
        tactics = own.get((tenant_id, rule_id), shipped.get(rule_id, [])) or ["none"]
        total += int(count)
        for tactic in tactics:
            per[tactic] = per.get(tactic, 0) + int(count)
    return Decimal(total), {"by_tactic": dict(sorted(per.items()))}


OPS_COMPUTATIONS: dict[str, Callable[[Session, Settings, Subject, str], Figure]] = {
    "open_high_critical_risks": open_high_critical_risks,
    "overdue_actions_pct": overdue_actions_pct,
    "actions_on_time_pct": actions_on_time_pct,
    "availability_pct": availability_pct,
    "events": events,
    "gb_ingested": gb_ingested,
    "silent_log_sources": silent_log_sources,
    "detections_by_tactic": detections_by_tactic,
}
