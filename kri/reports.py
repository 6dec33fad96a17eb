"""Monthly reports: build (kri.report_blocks), validate, publish as an immutable version,
correct (a new version), verify, and the archive each reader may see.

A report's content is canonical JSON (orjson, sorted keys); its SHA-256 is kept in the row and
in the audit log ("kri.report.published"); its PDF goes under data_dir/reports/ with its own
hash. A published row is never updated: a correction is the next version (`corrects_id`).
Customers see their own customer reports, providers their own provider reports, unscoped
users all; anything else is a 404.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ingest.store.base import EventStore
from kri import report_blocks as blocks
from kri import report_pool, rules
from kri.models import REPORT_KINDS, KriReport, KriValue
from kri.report_render import render_pdf
from risk.workdays import WorkCalendar
from soc.cases.models import Case
from soc.core import audit, signing
from soc.core.errors import Conflict, DomainError, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import SYSTEM, Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1
REQUIRED_BLOCKS = blocks.REQUIRED_BLOCKS
COMMIT_EVERY = 10  # reports per transaction in the monthly run


def canonical(content: dict[str, Any]) -> str:
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()


def sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def validate(content: dict[str, Any]) -> None:
    """A report names its kind and period and has every block of its kind (TC5)."""
    kind = content.get("kind")
    if kind not in REQUIRED_BLOCKS:
        raise Invalid(N_("unknown report kind {kind!r}"), kind=kind)
    if not isinstance(content.get("period"), str):
        raise Invalid(N_("the report has no period"))
    found = content.get("blocks")
    if not isinstance(found, dict):
        raise Invalid(N_("the report has no blocks"))
    for name in REQUIRED_BLOCKS[kind]:
        if not isinstance(found.get(name), dict):
            raise Invalid(N_("the {kind} report misses block '{name}'"), kind=kind, name=name)


# --- building ------------------------------------------------------------------------------


def _subject(
    session: Session, kind: str, subject: str | None
) -> tuple[Tenant | None, Provider | None]:
    if kind not in REPORT_KINDS:
        raise Invalid(N_("kind is one of {kinds}"), kinds=", ".join(REPORT_KINDS))
    if kind == "end_to_end":
        if subject is not None:
            raise Invalid(N_("an end-to-end report has no tenant or provider"))
        return None, None
    if not subject and kind == "customer":
        raise Invalid(N_("a customer report names its tenant"))
    if not subject:
        raise Invalid(N_("a {kind} report names its provider"), kind=kind)
    if kind == "customer":
        tenant = session.scalar(select(Tenant).where(Tenant.slug == subject))
        if tenant is None:
            raise NotFound(N_("tenant '{ref}' not found"), ref=subject)
        return tenant, None
    provider = session.scalar(select(Provider).where(Provider.slug == subject))
    if provider is None:
        raise NotFound(N_("provider '{ref}' not found"), ref=subject)
    return None, provider


def build(
    session: Session,
    settings: Settings,
    kind: str,
    period: str,
    subject: str | None,
    now: datetime,
    store: EventStore | None = None,
) -> dict[str, Any]:
    """The content of a report (not stored): header and blocks."""
    tenant, provider = _subject(session, kind, subject)
    window = blocks.Window.of(period, settings.dwh_timezone)
    calendar = WorkCalendar.with_closing_days(settings.risk_extra_closing_days)
    providers = blocks._names(session, Provider)
    found: dict[str, Any]
    if tenant is not None:
        rows = blocks.kri_values(session, period, KriValue.tenant_id == tenant.id)
        where: ColumnElement[bool] = Case.tenant_id == tenant.id
        found = {
            "kris": blocks.kri_block(settings, rows, providers),
            "invoice": blocks.invoice_block(session, tenant, period),
            "events": blocks.events_block(session, store, window, tenant.id),
            "open_cases": blocks.open_cases_block(session, window, calendar, where, providers),
            "closed_cases": blocks.closed_cases_block(session, settings, window, where, providers),
        }
    elif provider is not None:
        rows = blocks.kri_values(
            session, period, (KriValue.provider_id == provider.id) & KriValue.tenant_id.is_(None)
        )
        where = Case.provider_id == provider.id
        found = {
            "kris": blocks.kri_block(settings, rows, providers),
            "on_time": blocks.on_time_block(settings, rows, providers),
            "open_cases": blocks.open_cases_block(session, window, calendar, where, providers),
            "closed_cases": blocks.closed_cases_block(session, settings, window, where, providers),
        }
    else:
        rows = blocks.kri_values(session, period, KriValue.tenant_id.is_(None))
        found = {
            "slas": blocks.kri_block(settings, rows, providers),
            "on_time": blocks.on_time_block(settings, rows, providers),
            "volumes": blocks.volumes_block(session, window),
            "repeated": blocks.repeated_block(settings, rows, providers),
            "closed_cases": blocks.closed_cases_block(session, settings, window, true(), {}),
        }
        found["closed_cases"]["items"] = []  # the end-to-end view keeps the figures only
    return {
        "schema": SCHEMA_VERSION,
        "kind": kind,
        "period": period,
        "tenant": None if tenant is None else {"slug": tenant.slug, "name": tenant.name},
        "provider": None if provider is None else {"slug": provider.slug, "name": provider.name},
        "timezone": settings.dwh_timezone,
        "as_of": window.last.isoformat(),
        "generated_at": now.isoformat(),
        "blocks": found,
    }


# --- publishing ----------------------------------------------------------------------------


def _latest(
    session: Session, kind: str, period: str, tenant_id: int | None, provider_id: int | None
) -> KriReport | None:
    return session.scalar(
        select(KriReport)
        .where(
            KriReport.kind == kind,
            KriReport.period == period,
            KriReport.tenant_id.is_(None)
            if tenant_id is None
            else KriReport.tenant_id == tenant_id,
            KriReport.provider_id.is_(None)
            if provider_id is None
            else KriReport.provider_id == provider_id,
        )
        .order_by(KriReport.version.desc())
        .limit(1)
    )


def pdf_file(settings: Settings, content: dict[str, Any], version: int) -> Path:
    subject = (content.get("tenant") or content.get("provider") or {"slug": "all"})["slug"]
    period = str(content["period"])
    name = f"{content['kind']}-{subject}-{period}-v{version}.pdf"
    return Path(settings.data_dir) / "reports" / period / name


def _write(
    session: Session,
    principal: Principal,
    settings: Settings,
    content: dict[str, Any],
    version: int,
    corrects: KriReport | None,
    reason: str,
) -> KriReport:
    validate(content)
    pdf = render_pdf(content, "en")
    return _store(session, principal, settings, content, pdf, version, corrects, reason)


def _store(
    session: Session,
    principal: Principal,
    settings: Settings,
    content: dict[str, Any],
    pdf: bytes,
    version: int,
    corrects: KriReport | None,
    reason: str,
) -> KriReport:
    """Write a validated content and its rendered PDF as a published version (+ audit)."""
    text = canonical(content)
    path = pdf_file(settings, content, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf)
    try:  # the detached signature over the published bytes
        signing.sign_file(settings, path)
    except DomainError as exc:  # no usable key: publish anyway; pdf_signature signs it later
        log.error("report PDF %s published unsigned: %s", path, exc.message)
    tenant_id = _id(session, Tenant, content.get("tenant"))
    row = KriReport(
        kind=content["kind"],
        period=content["period"],
        tenant_id=tenant_id,
        provider_id=_id(session, Provider, content.get("provider")),
        version=version,
        corrects_id=None if corrects is None else corrects.id,
        reason=reason,
        generated_at=datetime.fromisoformat(content["generated_at"]),
        generated_by=principal.actor,
        content=text,
        sha256=sha256(text),
        pdf_path=str(path),
        pdf_sha256=sha256(pdf),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=principal.actor,
        action="kri.report.published",
        object_type="kri_report",
        object_id=row.id,
        tenant_id=tenant_id,
        detail={
            "kind": row.kind,
            "period": row.period,
            "version": version,
            "sha256": row.sha256,
            "pdf_sha256": row.pdf_sha256,
            "corrects_id": row.corrects_id,
            "reason": reason,
        },
    )
    return row


def _id(session: Session, model: type[Tenant] | type[Provider], ref: Any) -> int | None:
    if not ref:
        return None
    return session.scalar(select(model.id).where(model.slug == ref["slug"]))


def publish(
    session: Session,
    principal: Principal,
    settings: Settings,
    kind: str,
    period: str,
    subject: str | None,
    now: datetime,
    store: EventStore | None = None,
) -> KriReport:
    """Build, validate and publish version 1 of a report (409 when it exists: correct it)."""
    principal.require("reports.publish")
    content = build(session, settings, kind, period, subject, now, store)
    ids = (_id(session, Tenant, content["tenant"]), _id(session, Provider, content["provider"]))
    existing = _latest(session, kind, period, *ids)
    if existing is not None:
        raise Conflict(
            N_("report {id} is published for this subject: publish a correction"), id=existing.id
        )
    return _write(session, principal, settings, content, 1, None, "")


def correct(
    session: Session,
    principal: Principal,
    settings: Settings,
    report_id: int,
    reason: str,
    now: datetime,
    store: EventStore | None = None,
) -> KriReport:
    """Publish the next version of a report, rebuilt from today's data, with a reason."""
    principal.require("reports.publish")
    old = get_report(session, principal, report_id)
    if not reason.strip():
        raise Invalid(N_("a correction needs a reason"))
    latest = _latest(session, old.kind, old.period, old.tenant_id, old.provider_id)
    if latest is not None and latest.id != old.id:
        raise Conflict(
            N_("report {id} is superseded by {latest_id}: correct the latest"),
            id=old.id,
            latest_id=latest.id,
        )
    before = orjson.loads(old.content)
    subject = (before.get("tenant") or before.get("provider") or {}).get("slug")
    content = build(session, settings, old.kind, old.period, subject, now, store)
    return _write(session, principal, settings, content, old.version + 1, old, reason.strip())


def verify(session: Session, report_id: int) -> bool:
    """Whether the stored content still hashes to the published SHA-256."""
    row = session.get(KriReport, report_id)
    if row is None:
        raise NotFound(N_("report {name} not found"), name=report_id)
    return sha256(row.content) == row.sha256


def verify_pdf(row: KriReport) -> bool:
    if not row.pdf_path or not row.pdf_sha256:
        return False
    path = Path(row.pdf_path)
    return path.is_file() and sha256(path.read_bytes()) == row.pdf_sha256


def pdf_signature(settings: Settings, row: KriReport) -> bytes:
    """The detached signature of the published PDF. A report published before signing
    existed is signed now, but only while its file still has the hash recorded (and
    audited) at publication."""
    if not verify_pdf(row) or not row.pdf_path:
        raise Conflict(N_("report {id}: the published PDF no longer verifies"), id=row.id)
    path = signing.signature_path(Path(row.pdf_path))
    if not path.is_file():
        signing.sign_file(settings, Path(row.pdf_path))
    return path.read_bytes()


# --- reading -------------------------------------------------------------------------------


def _visible(principal: Principal) -> ColumnElement[bool]:
    if principal.is_global:
        return true()
    if principal.provider_id is not None:
        return (KriReport.kind == "provider") & (KriReport.provider_id == principal.provider_id)
    return (KriReport.kind == "customer") & principal.tenant_filter(KriReport.tenant_id)


def get_report(session: Session, principal: Principal, report_id: int) -> KriReport:
    principal.require("reports.read")
    row = session.scalar(select(KriReport).where(KriReport.id == report_id, _visible(principal)))
    if row is None:
        raise NotFound(N_("report {name} not found"), name=report_id)
    return row


def archive(
    session: Session,
    principal: Principal,
    kind: str | None = None,
    period: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[KriReport]]:
    """The reports the reader may see, newest period first, every version."""
    principal.require("reports.read")
    where = _visible(principal)
    if kind is not None:
        where = where & (KriReport.kind == kind)
    if period is not None:
        where = where & (KriReport.period == period)
    total = session.scalar(select(func.count(KriReport.id)).where(where)) or 0
    rows = session.scalars(
        select(KriReport)
        .where(where)
        .order_by(KriReport.period.desc(), KriReport.kind, KriReport.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return int(total), list(rows)


def publish_month(
    session: Session,
    principal: Principal,
    settings: Settings,
    period: str,
    now: datetime,
    store: EventStore | None = None,
    workers: int | None = None,
    commit_every: int | None = None,
) -> list[KriReport]:
    """Every customer, provider and the end-to-end report of a period not yet published (the
    monthly beat task and `soc kri report --all`).

    Contents are built here while a pool of `workers` processes (default: every core, see
    kri.report_pool) renders their PDFs; the rows are written here, in subject order. With
    `commit_every` the session is committed after every that many reports, so a long run does
    not hold the database's write lock throughout (the monthly callers own a session of their
    own; None keeps everything in the caller's transaction). A subject published meanwhile by
    another run is skipped, so concurrent runs stay idempotent."""
    principal.require("reports.publish")
    todo = _unpublished(session, period)
    contents = (_built(session, settings, kind, period, s, now, store) for kind, s in todo)
    count = workers if workers is not None else report_pool.default_workers(len(todo))
    out: list[KriReport] = []
    for content, pdf in report_pool.render_all(contents, count):
        ids = (_id(session, Tenant, content["tenant"]), _id(session, Provider, content["provider"]))
        if _latest(session, content["kind"], period, *ids) is not None:
            continue
        out.append(_store(session, principal, settings, content, pdf, 1, None, ""))
        if commit_every and len(out) % commit_every == 0:
            session.commit()
    return out


def _built(
    session: Session,
    settings: Settings,
    kind: str,
    period: str,
    subject: str | None,
    now: datetime,
    store: EventStore | None,
) -> dict[str, Any]:
    content = build(session, settings, kind, period, subject, now, store)
    validate(content)
    return content


def _unpublished(session: Session, period: str) -> list[tuple[str, str | None]]:
    subjects: list[tuple[str, str | None]] = [
        ("customer", slug) for slug in session.scalars(select(Tenant.slug).order_by(Tenant.slug))
    ]
    subjects += [
        ("provider", slug)
        for slug in session.scalars(select(Provider.slug).order_by(Provider.slug))
    ]
    subjects.append(("end_to_end", None))
    todo = []
    for kind, subject in subjects:
        tenant, provider = _subject(session, kind, subject)
        ids = (tenant.id if tenant else None, provider.id if provider else None)
        if _latest(session, kind, period, *ids) is None:
            todo.append((kind, subject))
    return todo


def publish_due(
    session: Session,
    settings: Settings,
    now: datetime,
    store: EventStore | None = None,
) -> list[KriReport]:
    """The monthly beat task: from the end-to-end due working day of last month's reports
    (the 6th working day of this month, local time), publish those not yet published.
    Before that day nothing; after it, only what is missing (idempotent, safe to re-run).
    Its callers (kri.upkeep, soc.tasks.kri_monthly_reports) give it a session of its own: it
    commits every COMMIT_EVERY reports, so the write lock is never held for the whole run."""
    today = now.astimezone(ZoneInfo(settings.dwh_timezone)).date()
    period = rules.previous_period(f"{today:%Y-%m}")
    calendar = WorkCalendar.with_closing_days(settings.risk_extra_closing_days)
    due = rules.due_after_period(calendar, period, settings.kri_due_working_days_end_to_end)
    if today < due:
        return []
    return publish_month(session, SYSTEM, settings, period, now, store, commit_every=COMMIT_EVERY)
