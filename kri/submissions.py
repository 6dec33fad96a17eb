"""Submitted KRIs: providers' values per period (API and CSV upload), checked for time and
quality; missing input flagged daily; the period's on-time record.

Subjects. A value belongs to a KRI, a period and a subject: (tenant, provider) for a
customer-scope KRI, (none, provider) for a provider-scope one, (none, none) end to end. The
provider is the KRI's owner, else (owner empty: every provider reports its own) the
submitting provider; the integrator submitting for one names it (or, for a customer, the
tenant's only provider is taken).

Who. `kri.submit`; a provider-scoped user submits only KRIs owned by its provider or owned
by none (others: 403), and only for tenants it serves (others: 404); an end-to-end KRI with
no owner is submitted by unscoped (integrator) users only, one with an owner by that
provider only; tenant-scoped users never submit.

Time. Due = the KRI's `due_working_days`-th working day after the period (Belgian calendar
plus settings.risk_extra_closing_days); on time = the day of submission in
settings.dwh_timezone is on or before the due day. A resubmission supersedes the current
row (history kept, `current` false); the period stays on time when an earlier submission
was on time and of good quality: a late correction of a good on-time value stays on time, a
late value after an on-time placeholder that failed the checks does not.

Quality. The catalogue's range (min/max) and `required`; a value failing them is stored,
flagged (`quality_ok` false, `quality_errors`) and is not on time: input counts as on time
only when it arrived by the due date and passed the checks (`on_time` false,
`detail.arrived_on_time` tells when it did arrive in time).

Non-conformities. Late, missing or bad-quality input raises one NC (kind process, source
kri; specific to the tenant or common) for the subject's provider in the risk register, once
per KRI, period and subject; its id is stored on the value.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from kri import rules
from kri.deps import (
    Subject,
    all_subjects,
    calendar_of,
    check_period,
    expected_in,
    history,
    local_day,
    on_time_verdict,
    periods_to_check,
    quality_errors,
    raise_nc,
    resolve_subject,
    score,
    sees_subject,
    value_filter,
)
from kri.models import KriDefinition, KriValue
from kri.schemas import SubmissionIn
from soc.core.audit import record
from soc.core.db import utcnow
from soc.core.errors import DomainError, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_ROWS = 10_000


# --- submitting ---------------------------------------------------------------------------


def _submitted_kri(session: Session, kri_id: str) -> KriDefinition:
    kri = session.get(KriDefinition, kri_id)
    if kri is None or not kri.enabled:
        raise NotFound(N_("KRI '{kri_id}' not found"), kri_id=kri_id)
    if kri.source != "submitted":
        raise Invalid(N_("KRI '{kri_id}' is computed by the product, not submitted"), kri_id=kri_id)
    return kri


def submit(
    session: Session,
    principal: Principal,
    settings: Settings,
    kri_id: str,
    period: str,
    value: Decimal | str | None,
    tenant: str | None = None,
    provider: str | None = None,
    now: datetime | None = None,
) -> KriValue:
    """Store a submitted value with its time and quality verdicts (module docstring)."""
    principal.require("kri.submit")
    kri = _submitted_kri(session, kri_id)
    first = check_period(period)
    subject = resolve_subject(session, principal, kri, tenant, provider)
    when = now or utcnow()
    day = local_day(settings, when)
    if first > day:
        raise Invalid(N_("the period {period} has not started"), period=period)
    number = None if value is None else Decimal(str(value))
    due = rules.due_after_period(calendar_of(settings), period, kri.due_working_days)
    errors = quality_errors(kri, number)
    in_time = rules.on_time(day, due)
    own_on_time = in_time and not errors
    earlier_rows = history(session, kri.id, period, subject)
    on_time = own_on_time or any(r.on_time and r.quality_ok for r in earlier_rows)
    row = KriValue(
        kri_id=kri.id,
        period=period,
        tenant_id=subject[0],
        provider_id=subject[1],
        value=None if number is None else str(number),
        source="submitted",
        submitted_at=when,
        submitted_on=day,
        submitted_by=principal.actor,
        due=due,
        on_time=on_time,
        quality_ok=not errors,
        quality_errors=errors,
        current=True,
        detail={
            "submission_on_time": own_on_time,
            "arrived_on_time": in_time,
            "supersedes": [r.id for r in earlier_rows if r.current],
        },
        **score(kri, number),
    )
    reasons = ([] if on_time or in_time else ["late input"]) + (
        ["input failed quality checks"] if errors else []
    )
    if reasons:
        row.nc_id = raise_nc(session, kri, period, subject, earlier_rows, reasons, when)
    for earlier in earlier_rows:
        earlier.current = False
    session.add(row)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="kri.value.submitted",
        object_type="kri_value",
        object_id=row.id,
        tenant_id=row.tenant_id,
        detail={
            "kri": kri.id,
            "period": period,
            "provider_id": row.provider_id,
            "value": row.value,
            "due": due.isoformat(),
            "on_time": on_time,
            "quality_errors": errors,
            "nc_id": row.nc_id,
        },
    )
    return row


# --- CSV upload ---------------------------------------------------------------------------


@dataclass
class UploadRow:
    row: int
    status: Literal["ok", "error"]
    message: str
    kri: str | None = None
    id: int | None = None


@dataclass
class UploadReport:
    applied: bool = False
    report: list[UploadRow] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for r in self.report if r.status == "error")


COLUMNS = ("kri", "period", "value", "tenant", "provider")


def _read_csv(data: bytes) -> list[dict[str, str]]:
    if len(data) > MAX_UPLOAD_BYTES:
        raise Invalid(N_("the file is at most {max_upload} bytes"), max_upload=MAX_UPLOAD_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(N_("the file is not UTF-8 text")) from exc
    try:
        return _parse_csv(text)
    except csv.Error as exc:
        raise Invalid(N_("the file is not a readable CSV: {exc}"), exc=exc) from exc


def _parse_csv(text: str) -> list[dict[str, str]]:
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    for needed in ("kri", "period", "value"):
        if needed not in header:
            raise Invalid(
                N_("the file has no '{needed}' column (columns: {columns})"),
                needed=needed,
                columns=", ".join(COLUMNS),
            )
    reader.fieldnames = header
    rows: list[dict[str, str]] = []
    for line in reader:
        if len(rows) >= MAX_UPLOAD_ROWS:
            raise Invalid(
                N_("the file has more than {max_upload_rows} rows"), max_upload_rows=MAX_UPLOAD_ROWS
            )
        rows.append({k: (v or "").strip() for k, v in line.items() if k in COLUMNS})
    return rows


def _upload_row(
    session: Session,
    principal: Principal,
    settings: Settings,
    number: int,
    cells: dict[str, str],
    seen: dict[tuple[Any, ...], int],
    now: datetime,
) -> UploadRow:
    values: dict[str, Any] = {k: (cells.get(k) or None) for k in COLUMNS}
    try:
        data = SubmissionIn.model_validate(values)
    except ValidationError as exc:
        message = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return UploadRow(number, "error", message, values.get("kri"))
    key = (data.kri, data.period, data.tenant, data.provider)
    if key in seen:
        return UploadRow(
            number, "error", f"the same KRI, period and subject as row {seen[key]}", data.kri
        )
    seen[key] = number
    try:
        with session.begin_nested():
            row = submit(
                session, principal, settings, data.kri, data.period, data.value,
                data.tenant, data.provider, now,
            )  # fmt: skip
    except DomainError as exc:
        return UploadRow(number, "error", exc.message, data.kri)
    return UploadRow(number, "ok", "stored", data.kri, row.id)


def upload(
    session: Session,
    principal: Principal,
    settings: Settings,
    data: bytes,
    now: datetime | None = None,
) -> UploadReport:
    """Submit every row of a CSV (columns kri, period, value, tenant, provider): all or
    nothing, a report per row (rows numbered from 2, the header being row 1)."""
    principal.require("kri.submit")
    rows = _read_csv(data)
    when = now or utcnow()
    report = UploadReport()
    seen: dict[tuple[Any, ...], int] = {}
    outer = session.begin_nested()
    try:
        for number, cells in enumerate(rows, start=2):
            report.report.append(
                _upload_row(session, principal, settings, number, cells, seen, when)
            )
        if report.errors or not rows:
            outer.rollback()
            for line in report.report:
                line.id = None
        else:
            outer.commit()
            report.applied = True
    except BaseException:
        if outer.is_active:
            outer.rollback()
        raise
    return report


# --- missing input ------------------------------------------------------------------------


def submitted_kris(session: Session) -> list[KriDefinition]:
    query = select(KriDefinition).where(
        KriDefinition.source == "submitted", KriDefinition.enabled.is_(True)
    )
    return list(session.scalars(query.order_by(KriDefinition.id)))


def _present(session: Session, period: str) -> set[tuple[str, int | None, int | None]]:
    query = select(KriValue.kri_id, KriValue.tenant_id, KriValue.provider_id).where(
        KriValue.period == period
    )
    return {(k, t, p) for k, t, p in session.execute(query)}


@dataclass(frozen=True)
class Missing:
    kri: KriDefinition
    period: str
    subject: Subject
    due: date


def missing_inputs(session: Session, settings: Settings, period: str, today: date) -> list[Missing]:
    """Every submitted KRI and subject of the period whose due date passed with no row."""
    kris = [k for k in submitted_kris(session) if expected_in(k, period)]
    subjects = all_subjects(session, kris)
    present = _present(session, period)
    calendar = calendar_of(settings)
    out = []
    for kri in kris:
        due = rules.due_after_period(calendar, period, kri.due_working_days)
        if today <= due:
            continue
        for subject in subjects[kri.id]:
            if (kri.id, *subject) not in present:
                out.append(Missing(kri, period, subject, due))
    return out


def flag_missing(
    session: Session, settings: Settings, today: date, period: str | None = None
) -> list[KriValue]:
    """For each missing input (`missing_inputs`) a row with no value, not on time, and an
    NC for its provider. Without a period: `periods_to_check`. Run daily;
    a second run the same day adds nothing."""
    periods = [period] if period else periods_to_check(session, settings, today)
    for each in periods:
        check_period(each)
    now = utcnow()
    rows = []
    for each in periods:
        for gap in missing_inputs(session, settings, each, today):
            nc_id = raise_nc(session, gap.kri, each, gap.subject, [], ["missing input"], now)
            row = KriValue(
                kri_id=gap.kri.id,
                period=each,
                tenant_id=gap.subject[0],
                provider_id=gap.subject[1],
                value=None,
                source="submitted",
                submitted_by="system",
                due=gap.due,
                on_time=False,
                quality_ok=False,
                quality_errors=["missing"],
                current=True,
                nc_id=nc_id,
                detail={"missing": True, "flagged_on": today.isoformat()},
            )
            session.add(row)
            rows.append(row)
    session.flush()
    if rows:
        record(
            session,
            actor="system",
            action="kri.value.missing_flagged",
            object_type="kri_value",
            object_id=",".join(periods),
            detail={"flagged": len(rows), "ids": [r.id for r in rows]},
        )
    return rows


# --- on-time record -----------------------------------------------------------------------


Status = Literal["on_time", "late", "missing", "pending"]


@dataclass(frozen=True)
class OnTimeItem:
    kri: str
    tenant_id: int | None
    provider_id: int | None
    due: date
    submitted_on: date | None
    status: Status
    on_time: bool | None
    nc_id: int | None


@dataclass(frozen=True)
class OnTimeReport:
    period: str
    provider_id: int | None
    items: list[OnTimeItem]
    on_time_pct: Decimal
    target_pct: Decimal
    met: bool

    @property
    def counted(self) -> list[OnTimeItem]:
        return [i for i in self.items if i.on_time is not None]


def _item(row: KriValue, verdict: bool | None) -> OnTimeItem:
    status: Status
    if row.value is None and row.submitted_on is None:
        status = "missing" if verdict is not None else "pending"
    else:
        status = "on_time" if verdict else "late"
    return OnTimeItem(
        row.kri_id,
        row.tenant_id,
        row.provider_id,
        row.due,
        row.submitted_on,
        status,
        verdict,
        row.nc_id,
    )


def _concerns(kri: KriDefinition, subject: Subject, provider_id: int | None) -> bool:
    if provider_id is None:
        return True
    return subject[1] == provider_id or (
        subject[1] is None and kri.owner_provider_id == provider_id
    )


def on_time_report(
    session: Session,
    principal: Principal,
    settings: Settings,
    period: str,
    provider: str | None = None,
    today: date | None = None,
) -> OnTimeReport:
    """Per submitted KRI per subject of the period (those the reader sees, of one provider
    when named): on time or not (binary; the current value's verdict), `missing` when the due
    date passed with no value, `pending` (not counted) before it; the on-time % against
    settings.kri_on_time_target_pct."""
    principal.require("kri.read")
    check_period(period)
    provider_id = None
    if provider is not None:
        provider_id = session.scalar(select(Provider.id).where(Provider.slug == provider))
        if provider_id is None:
            raise NotFound(N_("provider '{ref}' not found"), ref=provider)
    day = today or local_day(settings, utcnow())
    kris = {k.id: k for k in submitted_kris(session) if expected_in(k, period)}
    rows = session.scalars(
        select(KriValue)
        .where(
            KriValue.period == period,
            KriValue.current.is_(True),
            KriValue.kri_id.in_(sorted(kris)),
            value_filter(principal),
        )
        .order_by(KriValue.kri_id, KriValue.tenant_id, KriValue.provider_id)
    )
    calendar = calendar_of(settings)
    dues = {
        k: rules.due_after_period(calendar, period, d.due_working_days) for k, d in kris.items()
    }
    items: dict[tuple[str, int | None, int | None], OnTimeItem] = {}
    for row in rows:
        kri = kris[row.kri_id]
        if _concerns(kri, (row.tenant_id, row.provider_id), provider_id):
            verdict = on_time_verdict(kri, period, row, dues[kri.id], day)
            items[(row.kri_id, row.tenant_id, row.provider_id)] = _item(row, verdict)
    for kri_id, subjects in all_subjects(session, list(kris.values())).items():
        kri, due = kris[kri_id], dues[kri_id]
        for subject in subjects:
            key = (kri_id, *subject)
            if key in items or not _concerns(kri, subject, provider_id):
                continue
            if not sees_subject(principal, kri, subject):
                continue
            verdict = on_time_verdict(kri, period, None, due, day)
            status: Status = "missing" if verdict is False else "pending"
            items[key] = OnTimeItem(kri_id, *subject, due, None, status, verdict, None)
    ordered = [items[k] for k in sorted(items, key=lambda k: (k[0], k[1] or 0, k[2] or 0))]
    counted = [i for i in ordered if i.on_time is not None]
    pct = rules.percentage(sum(1 for i in counted if i.on_time), len(counted))
    target = Decimal(str(settings.kri_on_time_target_pct))
    return OnTimeReport(period, provider_id, ordered, pct, target, pct >= target)
