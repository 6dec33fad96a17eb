"""Input and output shapes of non-conformities, proposal decisions, conflicts and register
import reports. Inputs are strict (no coercion, unknown fields refused); tenants and
providers are named by slug."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from risk.models import NCKind, NCSource, NCStatus, RiskAction, RiskNonConformity, Scope
from soc.core.schemas import DB_INT_MAX

Title = Annotated[StrictStr, Field(min_length=1, max_length=200)]
Text = Annotated[StrictStr, Field(max_length=20000)]
Slug = Annotated[StrictStr, Field(min_length=1, max_length=64)]
CiId = Annotated[StrictInt, Field(ge=1, le=DB_INT_MAX)]


class NCIn(BaseModel):
    """A new non-conformity: `specific` names one tenant, `common` none."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Text = ""
    kind: NCKind
    source: NCSource
    scope: Scope
    tenant: Slug | None = Field(default=None, description="tenant slug (specific only)")
    provider: Slug | None = Field(default=None, description="provider slug concerned")
    ci_id: CiId | None = Field(default=None, description="the CMDB CI concerned")

    @model_validator(mode="after")
    def _scope_tenant(self) -> NCIn:
        if self.scope == "specific" and self.tenant is None:
            raise ValueError("a specific non-conformity names its tenant")
        if self.scope == "common" and self.tenant is not None:
            raise ValueError("a common non-conformity names no tenant")
        return self


class NCPatch(BaseModel):
    """The fields to change; a field left out keeps its value (`provider`/`ci_id` null
    clears it)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Text | None = None
    kind: NCKind | None = None
    source: NCSource | None = None
    status: NCStatus | None = None
    provider: Slug | None = None
    ci_id: CiId | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class NCOut(BaseModel):
    id: int
    title: str
    description: str
    kind: str
    source: str
    scope: str
    tenant: str | None
    provider: str | None
    ci_id: int | None
    status: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, nc: RiskNonConformity, tenants: dict[int, str], providers: dict[int, str]) -> NCOut:
        return cls(
            id=nc.id,
            title=nc.title,
            description=nc.description,
            kind=nc.kind,
            source=nc.source,
            scope=nc.scope,
            tenant=tenants.get(nc.tenant_id) if nc.tenant_id else None,
            provider=providers.get(nc.provider_id) if nc.provider_id else None,
            ci_id=nc.ci_id,
            status=nc.status,
            created_by=nc.created_by,
            created_at=nc.created_at,
            updated_at=nc.updated_at,
            closed_at=nc.closed_at,
        )


class ConflictOut(BaseModel):
    """Two open improvement proposals touching the same service or CI: `overlapping_window`
    when their windows overlap (`overlap` gives the shared days), `same_target_no_window` when
    one of them has no window yet (timing unknown, content may clash)."""

    a: int
    b: int
    kind: Literal["overlapping_window", "same_target_no_window"]
    on: list[Literal["service", "ci"]]
    service: str | None
    ci_id: int | None
    overlap_from: date | None
    overlap_to: date | None


class NCActionOut(BaseModel):
    """An improvement proposal or corrective action of a non-conformity and how far it is."""

    id: int
    register_: str = Field(alias="register")  # `register` would shadow BaseModel.register
    title: str
    scope: str
    tenant: str | None
    owner_provider: str | None
    owner_name: str
    status: str
    progress_pct: int
    due: date
    decision: str | None
    decided_by: str | None
    decided_at: datetime | None
    service: str
    ci_id: int | None
    window_start: date | None
    window_end: date | None
    conflicts: list[ConflictOut] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        action: RiskAction,
        tenants: dict[int, str],
        providers: dict[int, str],
        conflicts: list[ConflictOut],
    ) -> NCActionOut:
        return cls(
            id=action.id,
            register=action.register,
            title=action.title,
            scope=action.scope,
            tenant=tenants.get(action.tenant_id) if action.tenant_id else None,
            owner_provider=(
                providers.get(action.owner_provider_id) if action.owner_provider_id else None
            ),
            owner_name=action.owner_name,
            status=action.status,
            progress_pct=action.progress_pct,
            due=action.due,
            decision=action.decision,
            decided_by=action.decided_by,
            decided_at=action.decided_at,
            service=action.service,
            ci_id=action.ci_id,
            window_start=action.window_start,
            window_end=action.window_end,
            conflicts=conflicts,
        )


class NCDetailOut(NCOut):
    proposals: list[NCActionOut]
    corrective_actions: list[NCActionOut]


class OverviewOut(BaseModel):
    """Every visible non-conformity with its proposals and corrective actions, as of now."""

    total: int
    by_status: dict[str, int]
    by_kind: dict[str, int]
    actions_by_status: dict[str, int]
    items: list[NCDetailOut]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: StrictBool
    note: Text = ""


class DecisionOut(BaseModel):
    id: int
    decision: str
    decided_by: str
    decided_at: datetime
    decision_note: str


class RowReportOut(BaseModel):
    row: int
    status: Literal["ok", "error", "duplicate"]
    message: str
    external_ref: str | None
    id: int | None


class ImportReportOut(BaseModel):
    """Per row of the file: ok (created, or would be on a dry run), duplicate (its ID is
    already in the register: nothing changed) or error. With any error nothing is written."""

    kind: Literal["risks", "actions"]
    dry_run: bool
    applied: bool
    rows: int
    ok: int
    duplicates: int
    errors: int
    ignored_columns: list[str]
    report: list[RowReportOut]
