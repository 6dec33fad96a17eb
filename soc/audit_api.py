"""Signed audit checkpoints over the API: the integrator takes one on demand and lists them;
a customer downloads its tenant's bundle (its own entries and signed statements, nothing of
another tenant's) to check with `soc audit verify --anchor BUNDLE --public-key KEY.pem`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from soc.core import checkpoints
from soc.core.deps import PrincipalDep, SessionDep, SettingsDep
from soc.core.schemas import Id
from tenants.tenancy import get_tenant

router = APIRouter(prefix="/api/v1", tags=["system"])


class CheckpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")

    id: int
    at: datetime
    head_id: int
    head_hash: str
    key_id: str
    taken_by: str
    statement: str
    signature: str


@router.post(
    "/audit/checkpoints",
    response_model=CheckpointOut,
    status_code=201,
    summary="Create (take) a signed audit checkpoint",
)
def post_checkpoint(
    session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> CheckpointOut:
    """Sign the audit chain's head now, with a statement per tenant (the server also does
    this daily). Admins only; 409 when the chain is broken (nothing is signed then)."""
    principal.require("audit.checkpoint")
    return CheckpointOut.model_validate(checkpoints.take(session, settings, principal.actor))


@router.get("/audit/checkpoints", response_model=list[CheckpointOut])
def get_checkpoints(
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CheckpointOut]:
    """The newest checkpoints first (audit.read: admin, authority)."""
    principal.require("audit.read")
    return [CheckpointOut.model_validate(c) for c in checkpoints.listing(session, limit)]


@router.get(
    "/tenants/{tenant}/audit/bundle",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
def get_bundle(
    tenant: str,
    session: SessionDep,
    principal: PrincipalDep,
    checkpoint: Annotated[Id | None, Query(description="default: the newest")] = None,
) -> Response:
    """A tenant's audit bundle as a JSON file: the tenant's own entries up to a checkpoint
    and its signed statements. The tenant's customers, admins and the authority; 404 for
    another tenant's; 409 before the first checkpoint covering the tenant."""
    principal.require("audit.bundle")
    target = get_tenant(session, principal, tenant)
    data = checkpoints.bundle(session, target.id, checkpoint)
    number = orjson.loads(data["checkpoint"]["statement"])["checkpoint"]
    name = f"audit-{target.slug}-checkpoint-{number}.json"
    return Response(
        orjson.dumps(data, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
