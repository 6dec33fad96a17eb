"""Rules API: list and read a tenant's rules, enable/disable, tenant rules, exceptions, field
maps, validate, test and retro-hunt. Thin: the logic lives in detections.service/retrohunt."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from detections import service as mgmt
from detections.deps import DetectorDep
from detections.matcher import Detector
from detections.retrohunt import start_hunt_job
from detections.ruletest import pick_rule, test_rule
from detections.schemas import (
    DryRunOut,
    ExceptionIn,
    ExceptionOut,
    ExceptionPatch,
    FieldMapIn,
    FieldMapOut,
    HuntIn,
    RuleDetailOut,
    RuleOut,
    RuleTestIn,
    RuleTestOut,
    StateIn,
    StateOut,
    TenantRuleIn,
    TenantRuleOut,
    ValidationOut,
    YamlIn,
)
from detections.tenant_view import TenantView
from detections.validation import ValidationReport, validate_text
from ingest.deps import StoreDep
from soc.core import jobs
from soc.core.deps import JobHostDep, PrincipalDep, SessionDep, SettingsDep
from soc.core.principal import Principal
from soc.core.schemas import JobOut, Page, RowId

router = APIRouter(prefix="/api/v1/rules", tags=["detection rules"])
TenantQ = Query(default=None, description="tenant slug (required for global users)")


def _view(
    session: Session, detector: Detector, principal: Principal, tenant: str | None
) -> TenantView:
    principal.require("rules.read")
    found = mgmt.resolve_tenant(session, principal, tenant)
    return detector.views.get(session, found.id)


def _validation(report: ValidationReport) -> ValidationOut:
    return ValidationOut.model_validate(
        {
            "summary": report.summary(),
            "skipped_validators": report.skipped_validators,
            "rules": [r.as_dict() for r in report.rules],
        }
    )


def _conditions(items: list[Any]) -> list[dict[str, Any]]:
    return [c.model_dump() for c in items]


@router.get("", response_model=Page[RuleOut])
def list_rules(
    tenant: str | None = TenantQ,
    level: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    product: str | None = None,
    enabled: bool | None = None,
    q: str | None = Query(default=None, max_length=200),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
    *,
    session: SessionDep,
    detector: DetectorDep,
    principal: PrincipalDep,
) -> Page[RuleOut]:
    """The tenant's rules (shipped and its own) with their effective state."""
    view = _view(session, detector, principal, tenant)
    rows = mgmt.list_rules(view, level, status, tag, product, enabled, q)
    items = [RuleOut.model_validate(r) for r in rows[offset : offset + limit]]
    return Page(total=len(rows), limit=limit, offset=offset, items=items)


@router.post("/validate", response_model=ValidationOut)
def validate(body: YamlIn, principal: PrincipalDep) -> ValidationOut:
    """Validation report for Sigma YAML (pySigma validators); stores nothing."""
    principal.require("rules.manage")
    return _validation(validate_text(body.yaml))


@router.post("/state", response_model=StateOut)
def set_state(
    body: StateIn,
    tenant: str | None = TenantQ,
    *,
    session: SessionDep,
    detector: DetectorDep,
    principal: PrincipalDep,
) -> StateOut:
    """Enable or disable one rule, or all rules of a level, status, tag or product."""
    change = mgmt.set_state(
        session, principal, detector.views, tenant, body.selector, body.value, body.enabled
    )
    return StateOut(**change.__dict__)


@router.post("/tenant-rules", response_model=TenantRuleOut)
def put_tenant_rule(
    body: TenantRuleIn,
    tenant: str | None = TenantQ,
    *,
    session: SessionDep,
    detector: DetectorDep,
    store: StoreDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> TenantRuleOut:
    """Upload (or replace) one Sigma rule of the tenant; refused (422) if it does not load, if
    a regular expression cannot run in linear time, or if its dry-run over the tenant's recent
    events matches more than the limit (unless `force`, then stored with a warning)."""
    upload = mgmt.upload_tenant_rule(
        session,
        principal,
        tenant,
        body.yaml,
        store=store,
        views=detector.views,
        settings=settings,
        force=body.force,
    )
    report = validate_text(body.yaml)
    return TenantRuleOut(
        rule_id=upload.row.rule_id,
        title=upload.row.title,
        changed=upload.changed,
        validation=_validation(report),
        dry_run=DryRunOut.model_validate(upload.dry_run.as_dict()) if upload.dry_run else None,
        warnings=upload.warnings,
    )


@router.delete("/tenant-rules/{rule_id}", status_code=204)
def delete_tenant_rule(
    rule_id: str,
    tenant: str | None = TenantQ,
    *,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """Delete one of a tenant's own rules; it stops matching at once. Analysts and admins; 404
    for an unknown rule."""
    mgmt.delete_tenant_rule(session, principal, tenant, rule_id)
    return Response(status_code=204)


@router.post("/test", response_model=RuleTestOut)
def test(
    body: RuleTestIn,
    tenant: str | None = TenantQ,
    *,
    session: SessionDep,
    detector: DetectorDep,
    principal: PrincipalDep,
) -> RuleTestOut:
    """Which sample events the rule matches, and which the tenant's exceptions suppress."""
    principal.require("rules.manage")
    view = _view(session, detector, principal, tenant)
    rule = pick_rule(view, body.rule_id, body.yaml)
    results = test_rule(rule, body.events, view)
    return RuleTestOut.model_validate(
        {
            "rule_id": rule.id,
            "matched": sum(r.matched and r.suppressed_by is None for r in results),
            "suppressed": sum(r.suppressed_by is not None for r in results),
            "results": [r.__dict__ for r in results],
        }
    )


@router.post(
    "/hunt",
    response_model=JobOut,
    status_code=202,
    responses={202: {"description": "Started: poll the job (also in the Location header)"}},
)
def hunt(
    body: HuntIn,
    response: Response,
    tenant: str | None = TenantQ,
    *,
    session: SessionDep,
    detector: DetectorDep,
    host: JobHostDep,
    principal: PrincipalDep,
) -> JobOut:
    """Start a retro-hunt of a rule (by id, or as YAML) over the tenant's last N days, as a
    background job: 202 with the job; `GET /api/v1/jobs/{id}` shows events scanned of the
    total, then the result (matches, new alerts, cases). New alerts are grouped into cases as
    at ingest."""
    job = start_hunt_job(
        session, principal, detector.views, tenant, body.days, body.rule_id, body.yaml
    )
    session.commit()  # the runner reads the job from its own transaction
    jobs.submit(host, job.id)
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return JobOut.model_validate(jobs.job_view(job))


@router.get("/exceptions", response_model=list[ExceptionOut])
def list_exceptions(
    tenant: str | None = TenantQ,
    rule_id: str | None = None,
    *,
    session: SessionDep,
    principal: PrincipalDep,
) -> list[ExceptionOut]:
    """List the rule exceptions (suppressions) of a tenant, optionally of one rule. 404 for a
    tenant outside the caller's scope."""
    rows = mgmt.list_exceptions(session, principal, tenant, rule_id)
    return [ExceptionOut.model_validate(mgmt.exception_row(r)) for r in rows]


@router.post("/exceptions", response_model=ExceptionOut, status_code=201)
def create_exception(
    body: ExceptionIn,
    tenant: str | None = TenantQ,
    *,
    session: SessionDep,
    detector: DetectorDep,
    principal: PrincipalDep,
) -> ExceptionOut:
    """Suppress a rule's matches for the tenant when every condition holds (audited)."""
    row = mgmt.create_exception(
        session,
        principal,
        detector.views,
        tenant,
        body.rule_id,
        _conditions(body.conditions),
        body.reason,
        body.expires_at,
    )
    return ExceptionOut.model_validate(mgmt.exception_row(row))


@router.patch("/exceptions/{exception_id}", response_model=ExceptionOut)
def update_exception(
    exception_id: RowId,
    body: ExceptionPatch,
    session: SessionDep,
    principal: PrincipalDep,
) -> ExceptionOut:
    """Change a rule exception's conditions, reason or expiry. Analysts; 404 for an unknown
    exception, 422 for an expiry in the past."""
    row = mgmt.update_exception(
        session,
        principal,
        exception_id,
        _conditions(body.conditions) if body.conditions is not None else None,
        body.reason,
        body.expires_at,
        body.clear_expiry,
    )
    return ExceptionOut.model_validate(mgmt.exception_row(row))


@router.delete("/exceptions/{exception_id}", status_code=204)
def delete_exception(
    exception_id: RowId,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """Delete a rule exception: the rule matches those events again. Analysts; 404 for an
    unknown exception."""
    mgmt.delete_exception(session, principal, exception_id)
    return Response(status_code=204)


@router.get("/field-maps", response_model=list[FieldMapOut])
def list_field_maps(
    tenant: str | None = TenantQ,
    *,
    session: SessionDep,
    principal: PrincipalDep,
) -> list[FieldMapOut]:
    """The tenant's field map: its own field names and the Sigma fields they hold."""
    rows = mgmt.list_field_maps(session, principal, tenant)
    return [FieldMapOut.model_validate(r) for r in rows]


@router.put("/field-maps/{source_field}", response_model=FieldMapOut)
def put_field_map(
    source_field: str,
    body: FieldMapIn,
    tenant: str | None = TenantQ,
    *,
    session: SessionDep,
    principal: PrincipalDep,
) -> FieldMapOut:
    """Map the tenant's field (a dotted path allowed) to a Sigma field: before matching, its
    value is copied to the Sigma name when the event has no such field (audited)."""
    row, _ = mgmt.put_field_map(session, principal, tenant, source_field, body.sigma_field)
    return FieldMapOut.model_validate(row)


@router.delete("/field-maps/{source_field}", status_code=204)
def delete_field_map(
    source_field: str,
    tenant: str | None = TenantQ,
    *,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """Delete a tenant's field mapping (its field name to the Sigma field). Analysts; 404 for
    an unknown mapping."""
    mgmt.delete_field_map(session, principal, tenant, source_field)
    return Response(status_code=204)


@router.get("/{rule_id}", response_model=RuleDetailOut)
def get_rule(
    rule_id: str,
    tenant: str | None = TenantQ,
    *,
    session: SessionDep,
    detector: DetectorDep,
    principal: PrincipalDep,
) -> RuleDetailOut:
    """One detection rule with its description, state and (for a tenant rule) its YAML. 404 for
    an unknown rule."""
    view = _view(session, detector, principal, tenant)
    rule = mgmt.get_rule(view, rule_id)
    own = mgmt.get_tenant_rule(session, principal, tenant, rule_id)
    return RuleDetailOut.model_validate(
        mgmt.rule_row(view, rule)
        | {"description": rule.description, "yaml": own.yaml if own else None}
    )
