"""Input and output shapes of the KRI catalogue, submissions, values and the on-time record.

Input is strict (schemathesis fuzzes every route): strict strings, integers and booleans,
vocabularies as Literals, periods as `YYYY-MM`, unknown fields refused. Decimals are given
as strings ("99.8") or JSON numbers, validated to finite values of at most 15 digits before
and 6 after the point, and kept as strings. Tenants and providers are named by slug.

`KriSpec` is one catalogue entry, the same for the YAML file and `POST /catalogue`; its
thresholds must agree with the direction (higher is better: green >= amber; lower is
better: green <= amber) and a quality range must not be empty.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from kri.models import Direction, KriScope, KriSource

_DECIMAL = re.compile(r"-?\d{1,15}(\.\d{1,6})?")
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
KRI_ID_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
COMPUTATION_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
Frequency = Literal["monthly", "quarterly", "half_yearly", "yearly"]
# Months between two reporting periods of a frequency.
FREQUENCY_MONTHS = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12}


def _decimal(value: object) -> object:
    """A decimal as a string, or a JSON number (not a boolean), finite and bounded."""
    if isinstance(value, bool):
        raise ValueError("a decimal is a string such as '99.8' or a number")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValueError("a decimal is a string such as '99.8' or a number")
    if not _DECIMAL.fullmatch(text):
        raise ValueError("a decimal has at most 15 digits before the point and 6 after")
    return str(Decimal(text))


DecimalText = Annotated[str, BeforeValidator(_decimal)]
KriId = Annotated[StrictStr, Field(pattern=KRI_ID_PATTERN, description="lower_snake id")]
Period = Annotated[StrictStr, Field(pattern=PERIOD_PATTERN, description="YYYY-MM")]
Slug = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Label = Annotated[StrictStr, Field(min_length=1, max_length=200)]
Text = Annotated[StrictStr, Field(max_length=20_000)]
Unit = Annotated[StrictStr, Field(max_length=32)]
Domain = Annotated[StrictStr, Field(max_length=64)]
DueDays = Annotated[StrictInt, Field(ge=0, le=60)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KriNameIn(_Strict):
    en: Label
    nl: Label


class QualityIn(_Strict):
    """Checks on a submitted value: the range (either end optional) and whether a value must
    be given at all."""

    min: DecimalText | None = None
    max: DecimalText | None = None
    required: StrictBool = True

    @model_validator(mode="after")
    def _range(self) -> QualityIn:
        if self.min is not None and self.max is not None and Decimal(self.min) > Decimal(self.max):
            raise ValueError("quality.min is above quality.max")
        return self


def check_thresholds(direction: str, green: str, amber: str) -> None:
    """ValueError unless the thresholds agree with the direction."""
    g, a = Decimal(green), Decimal(amber)
    if direction == "higher_better" and g < a:
        raise ValueError("higher_better needs green >= amber")
    if direction == "lower_better" and g > a:
        raise ValueError("lower_better needs green <= amber")


class KriSpec(_Strict):
    """One catalogue entry. `due_working_days` left out: the settings' default for the scope
    (provider input 3, end to end 6). `computation` names the function of `kri.computed`
    for a computed KRI and is empty for a submitted one."""

    id: KriId
    name: KriNameIn
    definition: Text = ""
    unit: Unit = "%"
    direction: Direction
    norm: DecimalText
    green: DecimalText
    amber: DecimalText
    scope: KriScope
    source: KriSource
    owner_provider: Slug | None = None
    frequency: Frequency = "monthly"
    due_working_days: DueDays | None = None
    quality: QualityIn = Field(default_factory=QualityIn)
    domain: Domain = ""
    weight: DecimalText = "0"
    is_sla: StrictBool = True
    enabled: StrictBool = True
    computation: Annotated[StrictStr, Field(max_length=64)] = ""

    @model_validator(mode="after")
    def _consistent(self) -> KriSpec:
        check_thresholds(self.direction, self.green, self.amber)
        if Decimal(self.weight) < 0:
            raise ValueError("weight is never negative")
        if self.source == "computed" and not re.fullmatch(COMPUTATION_PATTERN, self.computation):
            raise ValueError("a computed KRI names its computation")
        if self.source == "submitted" and self.computation:
            raise ValueError("a submitted KRI has no computation")
        return self


class KriPatch(_Strict):
    """The fields to change; a field left out keeps its value (`owner_provider` null clears
    it). Id, scope, source and computation are fixed once created."""

    name: KriNameIn | None = None
    definition: Text | None = None
    unit: Unit | None = None
    direction: Direction | None = None
    norm: DecimalText | None = None
    green: DecimalText | None = None
    amber: DecimalText | None = None
    owner_provider: Slug | None = None
    frequency: Frequency | None = None
    due_working_days: DueDays | None = None
    quality: QualityIn | None = None
    domain: Domain | None = None
    weight: DecimalText | None = None
    is_sla: StrictBool | None = None
    enabled: StrictBool | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class KriNameOut(BaseModel):
    en: str
    nl: str


class QualityOut(BaseModel):
    min: str | None = None
    max: str | None = None
    required: bool = True


class KriOut(BaseModel):
    id: str
    name: KriNameOut
    definition: str
    unit: str
    direction: str
    norm: str
    green: str
    amber: str
    scope: str
    source: str
    owner_provider: str | None
    frequency: str
    due_working_days: int
    quality: QualityOut
    domain: str
    weight: str
    is_sla: bool
    enabled: bool
    computation: str
    updated_at: datetime
    updated_by: str


class SubmissionIn(_Strict):
    """A provider's value of a submitted KRI for a period. `tenant`: the customer of a
    customer-scope KRI (none otherwise); `provider`: only for the integrator submitting on a
    provider's behalf when the KRI names no owner."""

    kri: KriId
    period: Period
    value: DecimalText | None
    tenant: Slug | None = None
    provider: Slug | None = None


class ValueOut(BaseModel):
    id: int
    kri: str
    period: str
    tenant: str | None
    provider: str | None
    value: str | None
    source: str
    submitted_at: datetime | None
    submitted_on: date | None
    submitted_by: str
    due: date
    on_time: bool
    quality_ok: bool
    quality_errors: list[str]
    rag: str | None
    achievement: str | None
    met: bool | None
    repeated: bool
    current: bool
    nc_id: int | None


class UploadRowOut(BaseModel):
    row: int
    status: Literal["ok", "error"]
    message: str
    kri: str | None
    id: int | None


class UploadReportOut(BaseModel):
    """Per row of the file: ok (stored) or error; with any error nothing is stored."""

    applied: bool
    rows: int
    ok: int
    errors: int
    report: list[UploadRowOut]


class OnTimeItemOut(BaseModel):
    kri: str
    tenant: str | None
    provider: str | None
    due: date
    submitted_on: date | None
    status: Literal["on_time", "late", "missing", "pending"]
    on_time: bool | None
    nc_id: int | None


class OnTimeOut(BaseModel):
    """The period's on-time record: one line per KRI per subject (binary on time; `pending`
    lines are not due yet and not counted), the on-time % against the target."""

    period: str
    provider: str | None
    counted: int
    on_time: int
    on_time_pct: str
    target_pct: str
    met: bool
    late: list[OnTimeItemOut]
    missing: list[OnTimeItemOut]
    items: list[OnTimeItemOut]


class MissingRunOut(BaseModel):
    periods: list[str]
    flagged: int
    values: list[ValueOut]
