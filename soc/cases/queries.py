"""Read queries of the analyst console: the case queue (filters, sorting, keyset paging) and
the dashboard figures. Everything builds on `service.visible_cases` (a provider sees the cases
handed to it, everyone else the cases of the tenants in scope), so no query looks around
tenant isolation.

Queue paging is by cursor (keyset): the cursor holds the sort values of the last row shown and
the next page starts strictly after them, so cases registered meanwhile never shift a page
or show twice. The default order is priority, then the resolution due time (nulls last), then
the case's registration time, newest first: a new case of a late event (old event time) keeps
its place by when the case was opened, not when the event happened.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from sqlalchemy import (
    ColumnElement,
    FunctionElement,
    Select,
    and_,
    false,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy import case as when
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from detections.models import Alert
from soc.cases.models import OPEN_STATUSES, STATUSES, Case, SavedView
from soc.cases.service import visible_cases
from soc.core.db import UTCDateTime, utcnow
from soc.core.errors import Invalid, NotFound
from soc.core.i18n import BRUSSELS, N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Tenant, UsageHostDaily, User

PRIORITIES = ("P1", "P2", "P3", "P4")
SLA_STATES = ("running", "warning", "breached", "paused", "met", "missed")
PAGE_SIZES = (25, 50, 100, 200)
FAR = datetime(9999, 1, 1, tzinfo=UTC)  # "no due time" sorts after every due time
COUNT_CAP = 5000  # the queue counts its cases up to here, then says "5000+"


class far_due(FunctionElement[datetime]):
    """FAR as an inline constant, not a bound parameter: PostgreSQL uses the expression index
    on COALESCE(resolution_due, FAR) (migration 0016) only for the very same expression, and
    a parameter would not match it in a prepared statement's generic plan."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(far_due, "postgresql")
def _far_due_postgresql(element: far_due, compiler: SQLCompiler, **kw: Any) -> str:
    return "'9999-01-01 00:00:00+00'::timestamptz"


@compiles(far_due)
def _far_due_default(element: far_due, compiler: SQLCompiler, **kw: Any) -> str:
    return "'9999-01-01 00:00:00.000000'"  # how SQLite stores a DateTime


def sla_due_key() -> ColumnElement[datetime]:
    """The resolution due time as the queue sorts it (no due time: last)."""
    return func.coalesce(Case.resolution_due, far_due())


# --- sorting -------------------------------------------------------------------------------


# Sort key name -> (expression, kind of value). Nullable columns are coalesced so the keyset
# comparison never meets a NULL.
def _key(name: str) -> tuple[Any, str]:
    if name == "tenant":
        return Tenant.slug, "str"
    if name == "assignee":
        return func.coalesce(User.username, ""), "str"
    if name == "priority":
        return Case.priority, "str"
    if name == "status":
        return Case.status, "str"
    if name == "sla_due":
        return sla_due_key(), "dt"
    if name == "activity":
        return Case.updated_at, "dt"
    if name == "created":
        return Case.created_at, "dt"
    return Case.id, "int"


SORT_COLUMNS = ("tenant", "assignee", "priority", "status", "sla_due", "activity", "created")
DEFAULT_SORT = "priority"


def sort_keys(sort: str) -> list[tuple[str, bool]]:
    """The (key, descending) list of a sort choice: `priority` or `-activity` (descending).
    Ties are broken by registration time (newest first) and the id, so the order is total."""
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    if name not in SORT_COLUMNS:
        name, descending = DEFAULT_SORT, False
    keys = [(name, descending)]
    if name == "priority":
        keys.append(("sla_due", descending))
    if name != "created":
        keys.append(("created", True))
    keys.append(("id", True if name != "created" else descending))
    return keys


def normal_sort(sort: str | None) -> str:
    sort = sort or DEFAULT_SORT
    return sort if sort.lstrip("-") in SORT_COLUMNS else DEFAULT_SORT


# --- cursor --------------------------------------------------------------------------------


def encode_cursor(sort: str, values: Sequence[Any]) -> str:
    plain = [v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v for v in values]
    raw = orjson.dumps({"s": sort, "v": plain})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str | None) -> list[Any] | None:
    """The sort values of a cursor made for this sort; None for no cursor or a foreign one."""
    if not cursor or len(cursor) > 2000:
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        keys = sort_keys(sort)
        if not isinstance(data, dict) or data.get("s") != sort:
            return None
        values = data.get("v")
        if not isinstance(values, list) or len(values) != len(keys):
            return None
        out: list[Any] = []
        for (name, _), value in zip(keys, values, strict=True):
            kind = _key(name)[1]
            if kind == "dt":
                moment = datetime.fromisoformat(str(value))
                if moment.tzinfo is None:
                    return None
                out.append(moment)
            elif kind == "int":
                if not isinstance(value, int) or isinstance(value, bool):
                    return None
                out.append(value)
            else:
                if not isinstance(value, str):
                    return None
                out.append(value)
        return out
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        return None


def _after(keys: list[tuple[str, bool]], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order of `keys` (lexicographic keyset).

    The OR of the steps is what decides; the row comparison before it over the leading keys
    that share a direction says the same thing more loosely (at or after), in a form an index
    on those keys can start its range at, so a later page does not walk the earlier ones."""
    clauses: list[ColumnElement[bool]] = []
    for i, (name, descending) in enumerate(keys):
        expr = _key(name)[0]
        equal = [_key(n)[0] == values[j] for j, (n, _) in enumerate(keys[:i])]
        step = expr < values[i] if descending else expr > values[i]
        clauses.append(and_(*equal, step))
    lead = 1
    while lead < len(keys) and keys[lead][1] == keys[0][1]:
        lead += 1
    exprs = [_key(n)[0] for n, _ in keys[:lead]]
    if lead == 1:
        bound = exprs[0] <= values[0] if keys[0][1] else exprs[0] >= values[0]
    else:
        row, at = tuple_(*exprs), tuple_(*values[:lead])
        bound = row <= at if keys[0][1] else row >= at
    return and_(bound, or_(*clauses))


# --- filters -------------------------------------------------------------------------------


@dataclass
class QueueFilter:
    """What the queue shows; every field optional. `assignee`: "me", "unassigned" or a
    username; `status`: a status or "open"; `since`/`until`: registration time bounds."""

    tenant_id: int | None = None
    status: str | None = None
    priority: str | None = None
    assignee: str | None = None
    rule: str | None = None
    host: str | None = None
    sla: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None


def parse_moment(raw: str | None, end: bool = False) -> datetime | None:
    """A date (a Brussels day: its start, or with `end` the next day's start) or an ISO time."""
    if not raw:
        return None
    raw = raw.strip()[:40]
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            if end:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), BRUSSELS).astimezone(UTC)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=BRUSSELS)).astimezone(UTC)


def sla_condition(settings: Settings, state: str, now: datetime) -> ColumnElement[bool]:
    """The cases whose resolution clock is in `state` at `now` (as `sla.clocks` tells it)."""
    running = Case.resolution_seconds.is_(None)
    if state == "breached":
        return and_(running, Case.resolution_due.is_not(None), Case.resolution_due <= now)
    if state == "paused":
        return and_(running, Case.paused_since.is_not(None), Case.resolution_due.is_(None))
    per_priority: list[ColumnElement[bool]] = []
    for p in PRIORITIES:
        warn = now + timedelta(minutes=settings.case_warning_minutes.get(p, 0))
        target = settings.case_sla_minutes[p]["resolution"] * 60
        if state == "warning":
            per_priority.append(and_(Case.priority == p, Case.resolution_due <= warn))
        elif state == "running":
            per_priority.append(and_(Case.priority == p, Case.resolution_due > warn))
        elif state == "met":
            per_priority.append(and_(Case.priority == p, Case.resolution_seconds <= target))
        elif state == "missed":
            per_priority.append(and_(Case.priority == p, Case.resolution_seconds > target))
    if state in ("warning", "running"):
        return and_(running, Case.resolution_due > now, or_(*per_priority))
    if state in ("met", "missed"):
        return and_(Case.resolution_seconds.is_not(None), or_(*per_priority))
    return false()


def _filtered(
    session: Session, actor: Principal, settings: Settings, f: QueueFilter, now: datetime
) -> Select[Any]:
    query = visible_cases(actor)
    if f.tenant_id is not None:
        query = query.where(Case.tenant_id == f.tenant_id)
    if f.status == "open":
        query = query.where(Case.status.in_(OPEN_STATUSES))
    elif f.status in STATUSES:
        query = query.where(Case.status == f.status)
    if f.priority in PRIORITIES:
        query = query.where(Case.priority == f.priority)
    if f.assignee == "unassigned":
        query = query.where(Case.assignee_id.is_(None))
    elif f.assignee == "me":
        query = query.where(Case.assignee_id == (actor.user_id or -1))
    elif f.assignee:
        user_id = session.scalar(select(User.id).where(User.username == f.assignee))
        query = query.where(Case.assignee_id == (user_id or -1))
    if f.rule:
        query = query.where(Case.rule_id == f.rule)
    if f.host:
        query = query.where(func.lower(Case.host).contains(f.host.lower(), autoescape=True))
    if f.sla in SLA_STATES:
        query = query.where(sla_condition(settings, f.sla, now))
    if f.since is not None:
        query = query.where(Case.created_at >= f.since)
    if f.until is not None:
        query = query.where(Case.created_at < f.until)
    if f.q:
        like = f.q.lower()
        query = query.where(
            or_(
                func.lower(Case.title).contains(like, autoescape=True),
                func.lower(Case.host).contains(like, autoescape=True),
            )
        )
    return query


@dataclass
class QueueRow:
    case: Case
    tenant_slug: str
    tenant_name: str
    assignee: str | None


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int
    next_cursor: str | None
    sort: str
    size: int
    first: bool = True
    keys: list[tuple[str, bool]] = field(default_factory=list)
    more: bool = False  # more than `total` (= COUNT_CAP) cases match


def queue(
    session: Session,
    actor: Principal,
    settings: Settings,
    filters: QueueFilter,
    sort: str | None = None,
    cursor: str | None = None,
    size: int = 50,
    now: datetime | None = None,
) -> QueuePage:
    """One page of the queue, after `cursor` (None: the first page)."""
    now = now or utcnow()
    sort = normal_sort(sort)
    size = size if size in PAGE_SIZES else 50
    keys = sort_keys(sort)
    base = _filtered(session, actor, settings, filters, now)
    # An exact count reads every matching row; past COUNT_CAP nobody pages through anyway.
    capped = base.with_only_columns(Case.id).limit(COUNT_CAP + 1).subquery()
    total = session.scalar(select(func.count()).select_from(capped)) or 0
    more = total > COUNT_CAP
    total = min(total, COUNT_CAP)
    query = base
    # Join the names only when the order needs them (sorting 100,000 joined rows is slow);
    # otherwise the page's few names are read after.
    if any(name == "tenant" for name, _ in keys):
        query = query.join(Tenant, Tenant.id == Case.tenant_id)
    if any(name == "assignee" for name, _ in keys):
        query = query.outerjoin(User, User.id == Case.assignee_id)
    query = query.add_columns(*(_key(name)[0].label(f"k{i}") for i, (name, _) in enumerate(keys)))
    after = decode_cursor(sort, cursor)
    if after is not None:
        query = query.where(_after(keys, after))
    order = [_key(n)[0].desc() if d else _key(n)[0].asc() for n, d in keys]
    found = session.execute(query.order_by(*order).limit(size + 1)).all()
    shown = [r[0] for r in found[:size]]
    tenants = {
        t_id: (slug, name)
        for t_id, slug, name in session.execute(
            select(Tenant.id, Tenant.slug, Tenant.name).where(
                Tenant.id.in_({c.tenant_id for c in shown})
            )
        ).all()
    }
    people = dict(
        session.execute(
            select(User.id, User.username).where(
                User.id.in_({c.assignee_id for c in shown if c.assignee_id is not None})
            )
        ).all()
    )
    rows = [
        QueueRow(c, *tenants.get(c.tenant_id, ("", "")), people.get(c.assignee_id or 0))
        for c in shown
    ]
    next_cursor = None
    if len(found) > size:
        last = found[size - 1]
        next_cursor = encode_cursor(sort, [last[1 + i] for i in range(len(keys))])
    return QueuePage(rows, total, next_cursor, sort, size, after is None, keys, more)


def visible_tenants(session: Session, actor: Principal) -> list[Tenant]:
    """The tenants the actor's queue can show (for the tenant filter)."""
    query = select(Tenant).order_by(Tenant.slug)
    if actor.scope.kind == "provider" or not actor.is_global:
        ids = actor.visible_tenant_ids
        query = query.where(Tenant.id.in_(sorted(ids or ())))
    return list(session.scalars(query))


def assignees(session: Session, actor: Principal) -> list[str]:
    """The people cases can be assigned to, for the assignee filter and the bulk form."""
    query = select(User.username).where(
        User.active, User.role.in_(("admin", "soc_analyst", "provider"))
    )
    if not actor.is_global:
        ids = sorted(actor.visible_tenant_ids or ())
        query = query.where(or_(User.tenant_id.is_(None), User.tenant_id.in_(ids)))
        if actor.provider_id is not None:
            query = query.where(User.provider_id == actor.provider_id)
    return list(session.scalars(query.order_by(User.username).limit(500)))


# --- dashboard -----------------------------------------------------------------------------


@dataclass
class DueSoon:
    case: Case
    tenant_slug: str
    clock: str  # "response" or "resolution"
    due: datetime


@dataclass
class Dashboard:
    open_total: int
    by_priority: list[tuple[str, int]]
    by_tenant: list[tuple[int, str, str, int]]  # id, slug, name, count
    by_sla: list[tuple[str, int]]
    due_soon: list[DueSoon]
    alerts_per_hour: list[tuple[datetime, int]]  # the hour's start (UTC), count
    noisy_rules: list[tuple[str, str, int]]  # rule id, title, alerts
    silent_sources: list[tuple[str, str, date]]  # tenant slug, host, last day with events
    now: datetime


def dashboard(
    session: Session,
    actor: Principal,
    settings: Settings,
    now: datetime | None = None,
    due_within: timedelta = timedelta(hours=4),
) -> Dashboard:
    """The console's figures, all within the actor's scope."""
    now = now or utcnow()
    open_cases = visible_cases(actor).where(Case.status.in_(OPEN_STATUSES))
    # One pass over the open cases (the partial index of migration 0016) gives every count:
    # per (priority, tenant) the cases and how many are in each SLA state.
    states = ("breached", "warning", "running", "paused")
    grouped = session.execute(
        open_cases.with_only_columns(
            Case.priority,
            Case.tenant_id,
            func.count(),
            *(func.sum(when((sla_condition(settings, s, now), 1), else_=0)) for s in states),
        ).group_by(Case.priority, Case.tenant_id)
    ).all()
    counted: dict[str, int] = {}
    per_tenant: dict[int, int] = {}
    in_state = dict.fromkeys(states, 0)
    for priority, tenant_id, n, *by_state in grouped:
        counted[priority] = counted.get(priority, 0) + int(n)
        per_tenant[tenant_id] = per_tenant.get(tenant_id, 0) + int(n)
        for state, m in zip(states, by_state, strict=True):
            in_state[state] += int(m or 0)
    by_priority = [(p, int(counted.get(p, 0))) for p in PRIORITIES]
    names = session.execute(
        select(Tenant.id, Tenant.slug, Tenant.name).where(Tenant.id.in_(per_tenant))
    ).all()
    by_tenant = sorted(
        ((int(t_id), slug, name, int(per_tenant[t_id])) for t_id, slug, name in names),
        key=lambda row: (-row[3], row[1]),
    )
    by_sla = [(state, in_state[state]) for state in states]
    until = now + due_within
    soon: list[DueSoon] = []
    response_soon = and_(
        Case.responded_at.is_(None), Case.response_due > now, Case.response_due <= until
    )
    resolution_soon = and_(
        Case.resolution_seconds.is_(None), Case.resolution_due > now, Case.resolution_due <= until
    )
    for case, slug in session.execute(
        open_cases.join(Tenant, Tenant.id == Case.tenant_id)
        .add_columns(Tenant.slug)
        .where(or_(response_soon, resolution_soon))
        .order_by(func.coalesce(Case.response_due, Case.resolution_due), Case.id)
        .limit(200)
    ).all():
        if case.responded_at is None and case.response_due and now < case.response_due <= until:
            soon.append(DueSoon(case, slug, "response", case.response_due))
        if (
            case.resolution_seconds is None
            and case.resolution_due
            and now < case.resolution_due <= until
        ):
            soon.append(DueSoon(case, slug, "resolution", case.resolution_due))
    soon.sort(key=lambda d: (d.due, d.case.id))
    return Dashboard(
        open_total=sum(n for _, n in by_priority),
        by_priority=by_priority,
        by_tenant=by_tenant,
        by_sla=by_sla,
        due_soon=soon[:50],
        alerts_per_hour=alerts_per_hour(session, actor, now),
        noisy_rules=noisy_rules(session, actor, now),
        silent_sources=silent_sources(session, actor, settings, now),
        now=now,
    )


def _alerts_in_scope(actor: Principal) -> ColumnElement[bool]:
    if actor.scope.kind == "provider":
        return Alert.case_id.in_(
            select(Case.id).where(Case.provider_id == actor.provider_id).scalar_subquery()
        )
    return actor.tenant_filter(Alert.tenant_id)


def alerts_per_hour(
    session: Session, actor: Principal, now: datetime, hours: int = 24
) -> list[tuple[datetime, int]]:
    """Alerts created per clock hour (UTC) over the last `hours`, the current hour last."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = top - timedelta(hours=hours - 1)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        bucket: ColumnElement[Any] = func.to_char(
            func.date_trunc("hour", func.timezone("UTC", Alert.created_at)), "YYYY-MM-DD HH24"
        )
    else:
        bucket = func.strftime("%Y-%m-%d %H", Alert.created_at)
    counts = {
        str(label): int(n)
        for label, n in session.execute(
            select(bucket, func.count())
            .where(Alert.created_at >= start, _alerts_in_scope(actor))
            .group_by(bucket)
        ).all()
    }
    out = []
    for i in range(hours):
        hour = start + timedelta(hours=i)
        out.append((hour, counts.get(hour.strftime("%Y-%m-%d %H"), 0)))
    return out


def noisy_rules(
    session: Session, actor: Principal, now: datetime, days: int = 7, limit: int = 10
) -> list[tuple[str, str, int]]:
    """The rules with the most alerts over the last `days`."""
    n = func.count(Alert.id)
    return [
        (str(rule), str(title), int(count))
        for rule, title, count in session.execute(
            select(Alert.rule_id, func.max(Alert.rule_title), n)
            .where(Alert.created_at >= now - timedelta(days=days), _alerts_in_scope(actor))
            .group_by(Alert.rule_id)
            .order_by(n.desc(), Alert.rule_id)
            .limit(limit)
        ).all()
    ]


def silent_sources(
    session: Session,
    actor: Principal,
    settings: Settings,
    now: datetime,
    lookback_days: int = 30,
    limit: int = 50,
) -> list[tuple[str, str, date]]:
    """Hosts that sent events in the last `lookback_days` but none for
    `settings.kri_silent_source_hours` (a metered day counts as seen until its end)."""
    cutoff = now - timedelta(hours=settings.kri_silent_source_hours)
    last = func.max(UsageHostDaily.day)
    query = (
        select(Tenant.slug, UsageHostDaily.host, last)
        .join(Tenant, Tenant.id == UsageHostDaily.tenant_id)
        .where(
            UsageHostDaily.events > 0,
            UsageHostDaily.day >= (now - timedelta(days=lookback_days)).date(),
            actor.tenant_filter(UsageHostDaily.tenant_id),
        )
        .group_by(Tenant.slug, UsageHostDaily.host)
    )
    out = []
    for slug, host, day in session.execute(query).all():
        seen_until = datetime.combine(day + timedelta(days=1), time(0), UTC)
        if seen_until <= cutoff:
            out.append((str(slug), str(host), day))
    out.sort(key=lambda r: (r[2], r[0], r[1]))
    return out[:limit]


# --- saved views ---------------------------------------------------------------------------

VIEW_KEYS = (
    "tenant", "status", "priority", "assignee", "rule", "host", "sla", "since", "until", "q",
    "sort", "size",
)  # fmt: skip


def clean_query(pairs: Sequence[tuple[str, str]]) -> str:
    """The queue's filter and sort part of a query string (no cursor, no report)."""
    kept = [(k, v[:200]) for k, v in pairs if k in VIEW_KEYS and v]
    return urlencode(kept)[:2000]


def views_of(session: Session, actor: Principal) -> list[SavedView]:
    if actor.user_id is None:
        return []
    query = select(SavedView).where(SavedView.user_id == actor.user_id)
    return list(session.scalars(query.order_by(SavedView.name)))


def save_view(session: Session, actor: Principal, name: str, query: str) -> SavedView:
    """Save (or replace) the actor's view of this name."""
    actor.require("cases.read")
    name = " ".join(name.split())[:80]
    if not name:
        raise Invalid(N_("give the view a name"))
    if actor.user_id is None:
        raise Invalid(N_("only signed-in users save views"))
    cleaned = clean_query(parse_qsl(query))
    existing = session.scalar(
        select(SavedView).where(SavedView.user_id == actor.user_id, SavedView.name == name)
    )
    if existing is not None:
        existing.query = cleaned
        return existing
    if len(views_of(session, actor)) >= 50:
        raise Invalid(N_("at most 50 saved views: delete one first"))
    view = SavedView(user_id=actor.user_id, name=name, query=cleaned, created_at=utcnow())
    session.add(view)
    session.flush()
    return view


def delete_view(session: Session, actor: Principal, view_id: int) -> None:
    view = session.get(SavedView, view_id)
    if view is None or view.user_id != actor.user_id:
        raise NotFound(N_("view {view_id} not found"), view_id=view_id)
    session.delete(view)
