"""Import an existing register (risks or actions) from CSV or XLSX, and export the visible
one in the same columns, so an export re-imports. An exported risk names only the tenants
its reader may see (`risk.risk_answers.seen_tenant_ids`, as the API and the pages).

The columns and how cells are read: `risk.register_columns`; reading and writing the files:
`risk.register_files`. Unknown columns are ignored and listed. `external_ref` (alias `ID`)
is the row's reference in the source register, stored on the risk or action it creates: a
reference already in the register (or `risk:<id>` / `action:<id>`, what an export writes for
items without one) makes the row a *duplicate*: nothing changes and it is not counted twice.

Every row is created through `risk.risks.create_risk` / `risk.actions.create_action` with
their schemas, so the same validation applies as over the API. The whole import runs in one
savepoint and every row in one of its own: a row that fails is rolled back and reported, and
at the end a dry run, or any error, rolls everything back. Nothing is ever half-applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from risk import actions as action_service
from risk import risks as risk_service
from risk.action_schemas import ActionCreate
from risk.models import Risk, RiskAction, RiskProvider
from risk.register_columns import ACTION_COLUMNS, COLUMNS, KINDS, RISK_COLUMNS, Kind
from risk.register_files import (
    CSV_TYPE,
    MAX_IMPORT_BYTES,
    XLSX_TYPE,
    FileRow,
    Format,
    read_table,
    sniff_format,
    to_csv,
    to_xlsx,
)
from risk.risk_answers import seen_tenant_ids
from risk.schemas import RiskCreate
from risk.visibility import action_filter, risk_filter
from soc.core.audit import record
from soc.core.errors import DomainError, Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant, User

# The import and export's public face (the API and the command line use these names).
__all__ = [
    "CSV_TYPE",
    "KINDS",
    "MAX_IMPORT_BYTES",
    "XLSX_TYPE",
    "Format",
    "ImportReport",
    "Kind",
    "RowReport",
    "existing_ref",
    "export",
    "export_rows",
    "run_import",
    "sniff_format",
    "to_csv",
    "to_xlsx",
]

MAX_EXPORT_ROWS = 100_000


@dataclass
class RowReport:
    row: int
    status: Literal["ok", "error", "duplicate"]
    message: str
    external_ref: str | None = None
    id: int | None = None


@dataclass
class ImportReport:
    kind: Kind
    dry_run: bool
    applied: bool = False
    report: list[RowReport] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.report if r.status == status)

    @property
    def errors(self) -> int:
        return self.count("error")


# --- importing ----------------------------------------------------------------------------


def _schema(kind: Kind) -> type[BaseModel]:
    return RiskCreate if kind == "risks" else ActionCreate


def _message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "row"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _own_ref(kind: Kind, ref: str) -> int | None:
    """`risk:<id>` / `action:<id>`: the reference an export writes for an item without one."""
    hit = re.fullmatch(r"(risk|action):(\d{1,18})", ref)
    if hit and hit[1] == ("risk" if kind == "risks" else "action"):
        return int(hit[2])
    return None


def existing_ref(session: Session, kind: Kind, ref: str) -> int | None:
    """The id of the item that already holds this reference, else None."""
    model: type[Risk] | type[RiskAction] = Risk if kind == "risks" else RiskAction
    own = _own_ref(kind, ref)
    if own is not None:
        return own if session.get(model, own) is not None else None
    column = RiskAction.external_ref if kind == "actions" else Risk.external_ref
    found = session.scalar(select(model.id).where(column == ref).limit(1))
    return int(found) if found is not None else None


def run_import(
    session: Session,
    principal: Principal,
    settings: Settings,
    kind: Kind,
    fmt: Format,
    data: bytes,
    dry_run: bool,
    today: date,
) -> ImportReport:
    """Check every row by creating it; keep them only when this is no dry run and no row
    failed (rules in the module docstring)."""
    principal.require("risk.import")
    if kind not in KINDS:
        raise Invalid(N_("kind is one of {kinds}"), kinds=", ".join(KINDS))
    table = read_table(kind, fmt, data)
    report = ImportReport(kind, dry_run, ignored_columns=table.ignored_columns)
    schema = _schema(kind)
    first: dict[str, int] = {}
    outer = session.begin_nested()
    try:
        for row in table.rows:
            report.report.append(
                _import_row(session, principal, settings, kind, schema, row, first, today)
            )
        if dry_run or report.errors:
            outer.rollback()
            for line in report.report:
                if line.status == "ok":
                    line.id = None
        else:
            outer.commit()
            report.applied = True
    except BaseException:
        if outer.is_active:
            outer.rollback()
        raise
    if report.applied:
        record(
            session,
            actor=principal.actor,
            action="risk.register.imported",
            object_type="risk_import",
            object_id=kind,
            detail={
                "kind": kind,
                "format": fmt,
                "created": report.count("ok"),
                "duplicates": report.count("duplicate"),
                "ids": [r.id for r in report.report if r.id is not None],
            },
        )
    return report


def _import_row(
    session: Session,
    principal: Principal,
    settings: Settings,
    kind: Kind,
    schema: type[BaseModel],
    row: FileRow,
    first: dict[str, int],
    today: date,
) -> RowReport:
    ref = row.ref
    if row.error:
        return RowReport(row.row, "error", row.error, ref)
    if ref is not None:
        if ref in first:
            return RowReport(row.row, "error", f"the same ID as row {first[ref]}", ref)
        first[ref] = row.row
        known = existing_ref(session, kind, ref)
        if known is not None:
            return RowReport(row.row, "duplicate", "already in the register: unchanged", ref)
        if _own_ref(kind, ref) is not None:
            return RowReport(row.row, "error", f"'{ref}' names no item of the register", ref)
    values = dict(row.values)
    if kind == "actions" and ref is not None:
        values["external_ref"] = ref
    try:
        data = schema.model_validate(values)
    except ValidationError as exc:
        return RowReport(row.row, "error", _message(exc), ref)
    try:
        with session.begin_nested():
            item_id = _create(session, principal, settings, data, ref, today)
    except DomainError as exc:
        return RowReport(row.row, "error", exc.message, ref)
    return RowReport(row.row, "ok", "created", ref, item_id)


def _create(
    session: Session,
    principal: Principal,
    settings: Settings,
    data: BaseModel,
    ref: str | None,
    today: date,
) -> int:
    if isinstance(data, RiskCreate):
        risk = risk_service.create_risk(session, principal, settings, data)
        if ref is not None:
            risk.external_ref = ref
            session.flush()
        return risk.id
    if isinstance(data, ActionCreate):
        return action_service.create_action(session, principal, settings, data, today).id
    raise Invalid(N_("unknown register kind"))  # pragma: no cover


# --- exporting ----------------------------------------------------------------------------


def _slugs(session: Session, model: type[Tenant] | type[Provider]) -> dict[int, str]:
    return {i: s for i, s in session.execute(select(model.id, model.slug))}


def _usernames(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    out: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        for user_id, username in session.execute(
            select(User.id, User.username).where(User.id.in_(part))
        ):
            out[user_id] = username
    return out


def _providers_by_risk(
    session: Session, ids: list[int], names: dict[int, str]
) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    key = RiskProvider.risk_id
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        query = select(key, RiskProvider.provider_id).where(key.in_(part))
        for risk_id, other in session.execute(query):
            out.setdefault(risk_id, []).append(names.get(other, str(other)))
    return {k: sorted(v) for k, v in out.items()}


def export_rows(session: Session, principal: Principal, kind: Kind) -> list[list[Any]]:
    """The visible register as rows, the header first (the import's column names)."""
    if kind not in KINDS:
        raise Invalid(N_("kind is one of {kinds}"), kinds=", ".join(KINDS))
    header: list[Any] = [c.field for c in COLUMNS[kind]]
    tenants, providers = _slugs(session, Tenant), _slugs(session, Provider)
    if kind == "risks":
        principal.require("risk.read")
        risks = list(
            session.scalars(
                select(Risk).where(risk_filter(principal)).order_by(Risk.id).limit(MAX_EXPORT_ROWS)
            )
        )
        ids = [r.id for r in risks]
        risk_tenants = {
            risk_id: sorted(tenants.get(t, str(t)) for t in seen)
            for risk_id, seen in seen_tenant_ids(session, principal, ids).items()
        }
        risk_providers = _providers_by_risk(session, ids, providers)
        users = _usernames(session, (r.owner_user_id for r in risks))
        return [header] + [
            _risk_row(r, risk_tenants, risk_providers, users, providers) for r in risks
        ]
    principal.require("actions.read")
    items = list(
        session.scalars(
            select(RiskAction)
            .where(action_filter(principal))
            .order_by(RiskAction.id)
            .limit(MAX_EXPORT_ROWS)
        )
    )
    users = _usernames(session, (a.owner_user_id for a in items))
    return [header] + [_action_row(a, tenants, providers, users) for a in items]


def _risk_row(
    risk: Risk,
    risk_tenants: dict[int, list[str]],
    risk_providers: dict[int, list[str]],
    users: dict[int, str],
    providers: dict[int, str],
) -> list[Any]:
    values: dict[str, Any] = {
        "external_ref": risk.external_ref or f"risk:{risk.id}",
        "title": risk.title,
        "description": risk.description,
        "category": risk.category,
        "source": risk.source,
        "scope": risk.scope,
        "tenants": "; ".join(risk_tenants.get(risk.id, [])),
        "providers": "; ".join(risk_providers.get(risk.id, [])),
        "owner": users.get(risk.owner_user_id) if risk.owner_user_id else None,
        "owner_name": risk.owner_name,
        "owning_provider": (
            providers.get(risk.owning_provider_id) if risk.owning_provider_id else None
        ),
        "likelihood": risk.likelihood,
        "impact": risk.impact,
        "residual_likelihood": risk.residual_likelihood,
        "residual_impact": risk.residual_impact,
        "treatment": risk.treatment,
        "review_date": risk.review_date,
        "review_cadence_days": risk.review_cadence_days,
    }
    return [values.get(c.field) for c in RISK_COLUMNS]


def _action_row(
    action: RiskAction, tenants: dict[int, str], providers: dict[int, str], users: dict[int, str]
) -> list[Any]:
    values: dict[str, Any] = {
        "external_ref": action.external_ref or f"action:{action.id}",
        "register": action.register,
        "title": action.title,
        "description": action.description,
        "scope": action.scope,
        "tenant": tenants.get(action.tenant_id) if action.tenant_id else None,
        "risk_id": action.risk_id,
        "nc_id": action.nc_id,
        "owner_provider": (
            providers.get(action.owner_provider_id) if action.owner_provider_id else None
        ),
        "owner_user": users.get(action.owner_user_id) if action.owner_user_id else None,
        "owner_name": action.owner_name,
        "due": action.due,
        "outside_ecosystem": action.outside_ecosystem,
        "origin": action.origin,
        "proposed_mitigation": action.proposed_mitigation,
        "service": action.service,
        "ci_id": action.ci_id,
        "window_start": action.window_start,
        "window_end": action.window_end,
    }
    return [values.get(c.field) for c in ACTION_COLUMNS]


def export(session: Session, principal: Principal, kind: Kind, fmt: Format) -> tuple[bytes, str]:
    """The visible register as a file: (content, content type)."""
    rows = export_rows(session, principal, kind)
    if fmt == "xlsx":
        return to_xlsx(rows, kind), XLSX_TYPE
    if fmt == "csv":
        return to_csv(rows), CSV_TYPE
    raise Invalid(N_("format is csv or xlsx"))
