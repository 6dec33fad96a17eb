"""Pydantic in/out models of the risk register endpoints: risks, their status, alignment,
links, reviews, history, acceptances and notifications.

Input is strict (schemathesis fuzzes every route): strict strings and integers, vocabularies
as Literals, dates only as `YYYY-MM-DD` strings, unknown fields refused. Tenants and providers
are named by slug, users by username.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from risk.models import (
    AcceptanceStatus,
    Category,
    LinkKind,
    RiskAcceptance,
    RiskChange,
    RiskNotification,
    RiskSource,
    RiskStatus,
    Scope,
    Treatment,
)
from soc.core.schemas import DB_INT_MAX

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    """A JSON date is a `YYYY-MM-DD` string: numbers and other shapes are refused (a date
    object passes: services build models from validated ones)."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError("a date must be a YYYY-MM-DD string")


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def in_range(value: date) -> date:
    """A register's dates lie in 2000..2099: a year 1 or 9999 would overflow the date
    arithmetic of reviews and working days (and is a typing error anyway)."""
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(
            f"a date must lie between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}"
        )
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(in_range)]
Slug = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Username = Annotated[StrictStr, Field(min_length=1, max_length=120)]
Title = Annotated[StrictStr, Field(min_length=1, max_length=200)]
Text = Annotated[StrictStr, Field(max_length=20_000)]
RequiredText = Annotated[StrictStr, Field(min_length=1, max_length=20_000)]
Name = Annotated[StrictStr, Field(max_length=200)]
Level = Annotated[StrictInt, Field(ge=1, le=10, description="a level of the matrix, 1 = lowest")]
Cadence = Annotated[StrictInt, Field(ge=1, le=3650, description="days between reviews")]
TargetId = Annotated[StrictInt, Field(ge=1, le=DB_INT_MAX)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RiskCreate(_Strict):
    """A new risk. `specific` names one or more tenants, `common` none; residual
    likelihood and impact default to the inherent ones."""

    title: Title
    description: Text = ""
    category: Category
    source: RiskSource
    scope: Scope
    tenants: list[Slug] = Field(default_factory=list, max_length=200)
    providers: list[Slug] = Field(default_factory=list, max_length=200)
    owner: Username | None = Field(default=None, description="the owner's username")
    owner_name: Name = ""
    owning_provider: Slug | None = None
    likelihood: Level
    impact: Level
    residual_likelihood: Level | None = None
    residual_impact: Level | None = None
    treatment: Treatment | None = None
    review_date: IsoDate | None = None
    review_cadence_days: Cadence | None = None


class RiskFromCase(_Strict):
    """A risk raised from a security case: source `soc_case`, the case linked, its tenant
    as the risk's tenant unless others are named; the title defaults to the case's."""

    title: Title | None = None
    description: Text = ""
    category: Category = "operational"
    scope: Scope = "specific"
    tenants: list[Slug] = Field(default_factory=list, max_length=200)
    providers: list[Slug] = Field(default_factory=list, max_length=200)
    owner: Username | None = None
    owner_name: Name = ""
    owning_provider: Slug | None = None
    likelihood: Level
    impact: Level
    residual_likelihood: Level | None = None
    residual_impact: Level | None = None
    treatment: Treatment | None = None
    review_date: IsoDate | None = None
    review_cadence_days: Cadence | None = None


# Fields of a PATCH that may not be null (the others: null clears them).
NOT_NULL = frozenset(
    {
        "title",
        "description",
        "category",
        "source",
        "scope",
        "tenants",
        "providers",
        "owner_name",
        "likelihood",
        "impact",
        "residual_likelihood",
        "residual_impact",
    }
)


class RiskUpdate(_Strict):
    """The fields to change; an absent field keeps its value, lists replace the stored ones,
    `null` clears owner, owning provider, treatment, review date and cadence. Status and
    acceptance are not fields here: `/status` moves the workflow, acceptance is decided."""

    title: Title | None = None
    description: Text | None = None
    category: Category | None = None
    source: RiskSource | None = None
    scope: Scope | None = None
    tenants: list[Slug] | None = Field(default=None, max_length=200)
    providers: list[Slug] | None = Field(default=None, max_length=200)
    owner: Username | None = None
    owner_name: Name | None = None
    owning_provider: Slug | None = None
    likelihood: Level | None = None
    impact: Level | None = None
    residual_likelihood: Level | None = None
    residual_impact: Level | None = None
    treatment: Treatment | None = None
    review_date: IsoDate | None = None
    review_cadence_days: Cadence | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> RiskUpdate:
        nulled = sorted(f for f in self.model_fields_set & NOT_NULL if getattr(self, f) is None)
        if nulled:
            raise ValueError(f"may not be null: {', '.join(nulled)}")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class StatusIn(_Strict):
    status: RiskStatus
    note: Text = Field(default="", description="required to go back a step or to reopen")


class AlignIn(_Strict):
    advice: RequiredText = Field(description="how to bring the risk to an acceptable level")


class LinkIn(_Strict):
    kind: LinkKind
    target_id: TargetId


class ReviewIn(_Strict):
    note: Text = ""


class AcceptanceRequestIn(_Strict):
    note: Text = ""


class DecisionIn(_Strict):
    approve: StrictBool
    justification: RequiredText
    expires_on: IsoDate | None = Field(
        default=None, description="required to approve: after today, within the maximum"
    )


class RevokeIn(_Strict):
    reason: RequiredText


# --- out ----------------------------------------------------------------------------------


class LinkOut(BaseModel):
    kind: str
    target_id: int


class RiskOut(BaseModel):
    id: int
    title: str
    description: str
    category: str
    source: str
    scope: str
    tenants: list[str] = Field(description="the concerned tenants the reader may see")
    providers: list[str]
    owner: str | None
    owner_name: str
    owning_provider: str | None
    likelihood: int
    impact: int
    inherent_score: int
    inherent_band: str
    residual_likelihood: int
    residual_impact: int
    residual_score: int
    residual_band: str
    treatment: str | None
    status: str
    review_date: date | None
    review_cadence_days: int | None
    links: list[LinkOut]
    acceptance_state: str
    aligned: bool
    aligned_at: datetime | None
    aligned_by: str | None
    advice: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class ChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    field: str
    old: Any
    new: Any

    @classmethod
    def of(cls, row: RiskChange) -> ChangeOut:
        return cls.model_validate(row)


class AcceptanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    risk_id: int
    status: AcceptanceStatus
    requested_by: str
    requested_at: datetime
    request_note: str
    residual_score: int
    justification: str
    expires_on: date | None
    authority_by: str | None
    authority_at: datetime | None
    customer_by: str | None
    customer_at: datetime | None
    decided_at: datetime | None
    ended_at: datetime | None
    ended_reason: str | None
    ended_by: str | None

    @classmethod
    def of(cls, row: RiskAcceptance) -> AcceptanceOut:
        return cls.model_validate(row)


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    party: str
    kind: str
    subject_type: str
    subject_id: int
    text: str
    late: bool

    @classmethod
    def of(cls, row: RiskNotification) -> NotificationOut:
        return cls.model_validate(row)


class CellOut(BaseModel):
    likelihood: int
    impact: int
    score: int
    band: str
    count: int


class AxisLabels(BaseModel):
    likelihood: dict[str, list[str]]
    impact: dict[str, list[str]]


class HeatMapOut(BaseModel):
    inherent: list[list[CellOut]]
    residual: list[list[CellOut]]
    labels: AxisLabels
    total: int


class TrendMonthOut(BaseModel):
    month: str
    open: int
    new: int
    closed: int
    by_band: dict[Literal["low", "medium", "high", "critical"], int]
    accepted: int
