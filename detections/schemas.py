"""Pydantic shapes of the rules API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from soc.core.schemas import ORMModel

Selector = Literal["rule", "level", "status", "tag", "product"]
Modifier = Literal["equals", "contains", "startswith", "endswith", "re"]
MAX_YAML = 200_000


class RuleOut(BaseModel):
    id: str
    title: str
    level: str | None
    status: str | None
    tags: list[str]
    product: str | None
    category: str | None
    service: str | None
    origin: Literal["shipped", "tenant"]
    enabled: bool
    exceptions: int


class RuleDetailOut(RuleOut):
    description: str | None = None
    yaml: str | None = Field(None, description="the tenant rule's YAML (tenant rules only)")


class YamlIn(BaseModel):
    yaml: str = Field(min_length=1, max_length=MAX_YAML)


class FindingOut(BaseModel):
    validator: str
    severity: str
    description: str


class RuleReportOut(BaseModel):
    path: str | None
    rule_id: str | None
    title: str | None
    status: Literal["loaded", "unusable"]
    kind: str
    reason: str | None
    findings: list[FindingOut]


class ValidationOut(BaseModel):
    summary: dict[str, int]
    skipped_validators: dict[str, str]
    rules: list[RuleReportOut]


class StateIn(BaseModel):
    selector: Selector
    value: str = Field(min_length=1, max_length=200)
    enabled: bool


class StateOut(BaseModel):
    selector: str
    value: str
    enabled: bool
    rules_selected: int


class TenantRuleIn(YamlIn):
    force: bool = Field(
        False, description="store the rule even if its dry-run match rate is above the limit"
    )


class DryRunOut(BaseModel):
    """The rule over the tenant's newest stored events (at most rule_dryrun_max_events of the
    last rule_dryrun_days days)."""

    days: int
    sampled: int
    matched: int
    rate: float = Field(description="matched / sampled")
    limit: float = Field(description="refused above this rate unless forced")
    min_events: int = Field(description="a smaller sample never refuses")
    over_limit: bool
    forced: bool


class TenantRuleOut(BaseModel):
    rule_id: str
    title: str
    changed: bool
    validation: ValidationOut
    dry_run: DryRunOut | None = Field(None, description="absent when nothing changed")
    warnings: list[str] = Field(default_factory=list)


class ConditionIn(BaseModel):
    field: str = Field(min_length=1, max_length=200)
    modifier: Modifier = "equals"
    value: str | list[str]


class ExceptionIn(BaseModel):
    rule_id: str = Field(min_length=1, max_length=64)
    conditions: list[ConditionIn] = Field(min_length=1, max_length=50)
    reason: str = Field(min_length=1, max_length=2000)
    expires_at: datetime | None = None


class ExceptionPatch(BaseModel):
    conditions: list[ConditionIn] | None = Field(None, min_length=1, max_length=50)
    reason: str | None = Field(None, min_length=1, max_length=2000)
    expires_at: datetime | None = None
    clear_expiry: bool = False


class ExceptionOut(ORMModel):
    id: int
    tenant_id: int
    rule_id: str
    conditions: list[dict[str, Any]]
    reason: str
    author: str
    expires_at: datetime | None
    created_at: datetime
    changed_at: datetime
    active: bool


class FieldMapIn(BaseModel):
    sigma_field: str = Field(min_length=1, max_length=200, description="the Sigma field name")


class FieldMapOut(ORMModel):
    tenant_id: int
    source_field: str = Field(description="the tenant's field name (a dotted path allowed)")
    sigma_field: str
    author: str
    created_at: datetime


class RuleTestIn(BaseModel):
    rule_id: str | None = Field(None, max_length=64)
    yaml: str | None = Field(None, max_length=MAX_YAML)
    events: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class SampleOut(BaseModel):
    index: int
    matched: bool
    suppressed_by: int | None


class RuleTestOut(BaseModel):
    rule_id: str
    matched: int
    suppressed: int
    results: list[SampleOut]


class HuntIn(BaseModel):
    rule_id: str | None = Field(None, max_length=64)
    yaml: str | None = Field(None, max_length=MAX_YAML)
    days: int = Field(ge=1, le=365)


class HuntOut(BaseModel):
    rule_id: str
    tenant_id: int
    start: datetime
    end: datetime
    windows: int
    matched: int
    suppressed: int
    new_alerts: int
    existing_alerts: int
