"""The tables of the data-warehouse feed: for each, the rows changed in a window.

A row is in the window `[since, until)` when its newest change column (created, updated,
closed...) is in it: changed at or after `since` (every row when there is no `since`, the
first export) and no change column at or after `until` (a row changed again after the
cut-off goes to the next day's export, with its state then). Usage meters are per UTC day and
go out once the day is complete: the UTC days ending in `(since, until]`.

Rows are tuples in the order of the table's JSON Schema properties (kri/dwh_schemas), with
times already as UTC ISO 8601 strings ending in Z and dates as YYYY-MM-DD.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from kri.models import KriReport, KriValue
from risk.models import Risk, RiskAction, RiskNonConformity, RiskTenant
from soc.cases.models import Case
from soc.core.settings import Settings
from tenants.models import Provider, Tenant, UsageDaily

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Window:
    """Changes at or after `since` (None: from the beginning) and before `until` (UTC)."""

    since: datetime | None
    until: datetime


@dataclass
class Names:
    tenants: dict[int, str]
    providers: dict[int, str]

    def tenant(self, tid: int | None) -> str | None:
        return None if tid is None else self.tenants.get(tid, str(tid))

    def provider(self, pid: int | None) -> str | None:
        return None if pid is None else self.providers.get(pid, str(pid))


def load_names(session: Session) -> Names:
    return Names(
        {i: s for i, s in session.execute(select(Tenant.id, Tenant.slug))},
        {i: s for i, s in session.execute(select(Provider.id, Provider.slug))},
    )


def ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ds(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def changed_in(window: Window, columns: Iterable[Any]) -> ColumnElement[bool]:
    """The window condition over a row's change columns (NULL columns never changed)."""
    cols = list(columns)
    after = true() if window.since is None else or_(*(c >= window.since for c in cols))
    before = and_(*(or_(c.is_(None), c < window.until) for c in cols))
    return and_(after, before)


def change_columns(model: Any, names: Iterable[str]) -> list[InstrumentedAttribute[Any]]:
    """The named change columns the model has (a column added later is picked up)."""
    return [getattr(model, n) for n in names if hasattr(model, n)]


def _sla(done: int | None, target: int, due: datetime | None, paused: bool, until: datetime) -> str:
    if done is not None:
        return "met" if done <= target else "missed"
    if due is None:
        return "paused" if paused else "none"
    return "breached" if due < until else "running"


def case_rows(session: Session, settings: Settings, window: Window, names: Names) -> list[Row]:
    c = Case
    cols = change_columns(
        c, ("created_at", "updated_at", "responded_at", "resolved_at", "closed_at")
    )
    query = (
        select(
            c.id, c.tenant_id, c.provider_id, c.rule_id, c.level, c.priority, c.status,
            c.created_at, c.responded_at, c.resolved_at, c.closed_at, c.updated_at,
            c.response_due, c.resolution_due, c.response_seconds, c.resolution_seconds,
            c.paused_seconds, c.paused_since, c.reassignment_count, c.billable,
        )
        .where(changed_in(window, cols))
        .order_by(c.id)
    )  # fmt: skip
    targets = settings.case_sla_minutes
    until = window.until
    out: list[Row] = []
    for r in session.execute(query):
        target = targets.get(r[5], {"response": 0, "resolution": 0})
        paused = r[17] is not None
        out.append(
            (
                r[0], names.tenant(r[1]), names.provider(r[2]), r[3], r[4], r[5], r[6],
                ts(r[7]), ts(r[8]), ts(r[9]), ts(r[10]), ts(r[11] or r[7]), ts(r[12]), ts(r[13]),
                r[14], r[15], r[16] or 0,
                _sla(r[14], target["response"] * 60, r[12], paused, until),
                _sla(r[15], target["resolution"] * 60, r[13], paused, until),
                r[18] or 0, bool(r[19]),
            )
        )  # fmt: skip
    return out


def risk_rows(session: Session, settings: Settings, window: Window, names: Names) -> list[Row]:
    r = Risk
    cols = change_columns(r, ("created_at", "updated_at", "aligned_at", "closed_at"))
    query = select(
        r.id, r.title, r.category, r.source, r.scope, r.owning_provider_id, r.status,
        r.likelihood, r.impact, r.residual_likelihood, r.residual_impact, r.treatment,
        r.acceptance_state, r.review_date, r.aligned_at, r.created_at, r.updated_at, r.closed_at,
    ).where(changed_in(window, cols)).order_by(r.id)  # fmt: skip
    rows = session.execute(query).all()
    tenants: dict[int, list[str]] = {}
    if rows:
        for risk_id, tid in session.execute(select(RiskTenant.risk_id, RiskTenant.tenant_id)):
            tenants.setdefault(risk_id, []).append(names.tenant(tid) or "")
    return [
        (
            x[0], x[1], x[2], x[3], x[4], ";".join(sorted(tenants.get(x[0], []))),
            names.provider(x[5]), x[6], x[7], x[8], x[9], x[10], x[11], x[12], ds(x[13]),
            ts(x[14]), ts(x[15]), ts(x[16] or x[15]), ts(x[17]),
        )
        for x in rows
    ]  # fmt: skip


def action_rows(session: Session, settings: Settings, window: Window, names: Names) -> list[Row]:
    a = RiskAction
    cols = change_columns(a, ("created_at", "updated_at", "decided_at"))
    query = select(
        a.id, a.register, a.title, a.risk_id, a.nc_id, a.scope, a.tenant_id,
        a.owner_provider_id, a.due, a.status, a.progress_pct, a.handled_on, a.decision,
        a.decided_at, a.created_at, a.updated_at,
    ).where(changed_in(window, cols)).order_by(a.id)  # fmt: skip
    return [
        (
            x[0], x[1], x[2], x[3], x[4], x[5], names.tenant(x[6]), names.provider(x[7]),
            ds(x[8]), x[9], x[10] or 0, ds(x[11]), None if x[11] is None else x[11] <= x[8],
            x[12], ts(x[13]), ts(x[14]), ts(x[15] or x[14]),
        )
        for x in session.execute(query)
    ]  # fmt: skip


def nc_rows(session: Session, settings: Settings, window: Window, names: Names) -> list[Row]:
    n = RiskNonConformity
    cols = change_columns(n, ("created_at", "updated_at", "closed_at"))
    query = select(
        n.id, n.title, n.kind, n.source, n.scope, n.tenant_id, n.provider_id, n.status,
        n.created_at, n.updated_at, n.closed_at,
    ).where(changed_in(window, cols)).order_by(n.id)  # fmt: skip
    return [
        (
            x[0], x[1], x[2], x[3], x[4], names.tenant(x[5]), names.provider(x[6]), x[7],
            ts(x[8]), ts(x[9] or x[8]), ts(x[10]),
        )
        for x in session.execute(query)
    ]  # fmt: skip


# KriValue's change columns: `submitted_at`, and `created_at` / `updated_at` once the model has
# them (a computed value has no submission time; see the report to the lead).
KRI_VALUE_CHANGES = ("created_at", "updated_at", "submitted_at")


def kri_value_rows(session: Session, settings: Settings, window: Window, names: Names) -> list[Row]:
    v = KriValue
    query = select(
        v.id, v.kri_id, v.period, v.tenant_id, v.provider_id, v.value, v.source,
        v.submitted_at, v.due, v.on_time, v.quality_ok, v.rag, v.achievement, v.met,
        v.repeated, v.current, v.nc_id,
    ).where(changed_in(window, change_columns(v, KRI_VALUE_CHANGES))).order_by(v.id)  # fmt: skip
    return [
        (
            x[0], x[1], x[2], names.tenant(x[3]), names.provider(x[4]), x[5], x[6], ts(x[7]),
            ds(x[8]), bool(x[9]), bool(x[10]), x[11], x[12], x[13], bool(x[14]), bool(x[15]),
            x[16],
        )
        for x in session.execute(query)
    ]  # fmt: skip


def kri_report_rows(
    session: Session, settings: Settings, window: Window, names: Names
) -> list[Row]:
    k = KriReport
    query = select(
        k.id, k.kind, k.period, k.tenant_id, k.provider_id, k.version, k.corrects_id,
        k.generated_at, k.sha256, k.pdf_sha256,
    ).where(changed_in(window, [k.generated_at])).order_by(k.id)  # fmt: skip
    return [
        (
            x[0], x[1], x[2], names.tenant(x[3]), names.provider(x[4]), x[5], x[6], ts(x[7]),
            x[8], x[9],
        )
        for x in session.execute(query)
    ]  # fmt: skip


def complete_days_before(instant: datetime) -> date:
    """The last UTC day that has ended by `instant`."""
    return instant.astimezone(UTC).date() - timedelta(days=1)


def usage_rows(session: Session, settings: Settings, window: Window, names: Names) -> list[Row]:
    u = UsageDaily
    query = select(u.tenant_id, u.day, u.events, u.bytes, u.cases).where(
        u.day <= complete_days_before(window.until)
    )
    if window.since is not None:
        query = query.where(u.day > complete_days_before(window.since))
    query = query.order_by(u.day, u.tenant_id)
    return [
        (names.tenant(x[0]), ds(x[1]), x[2] or 0, x[3] or 0, x[4] or 0)
        for x in session.execute(query)
    ]


Builder = Callable[[Session, Settings, Window, Names], list[Row]]

# The exported tables, in manifest order; each has kri/dwh_schemas/<name>.json.
TABLES: dict[str, Builder] = {
    "cases": case_rows,
    "risks": risk_rows,
    "risk_actions": action_rows,
    "nonconformities": nc_rows,
    "kri_values": kri_value_rows,
    "kri_reports": kri_report_rows,
    "usage_daily": usage_rows,
}
