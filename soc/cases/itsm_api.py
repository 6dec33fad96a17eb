"""ServiceNow and 4me: inbound state-change webhooks and a case's remote tickets."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field

from soc.cases import itsm_inbound, itsm_remote
from soc.cases import service as svc
from soc.core.deps import PrincipalDep, SessionDep, SettingsDep
from soc.core.errors import Unauthorized
from soc.core.i18n import N_
from soc.core.schemas import ORMModel, RowId
from soc.core.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["cases"])
TOKEN_HEADER = "X-SOC-Token"


class ServiceNowChangeIn(BaseModel):
    """What the ServiceNow business rule posts when one of our tickets changes state."""

    model_config = ConfigDict(extra="forbid")
    sys_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    state: str = Field(pattern=r"^[0-9]{1,4}$")
    number: str | None = Field(default=None, max_length=40)
    sys_updated_on: str | None = Field(
        default=None, pattern=r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", description="UTC"
    )


class FourMeChangeIn(BaseModel):
    """What a 4me automation rule or webhook relay posts when a request changes status."""

    model_config = ConfigDict(extra="forbid")
    id: int = Field(ge=1, le=2**53)
    status: str = Field(pattern=r"^[a-z_]{1,32}$")
    updated_at: str | None = Field(default=None, max_length=32)


class AppliedOut(BaseModel):
    case_id: int
    status: str
    changed: bool


class RemoteTicketOut(ORMModel):
    id: int
    case_id: int
    system: str
    table_name: str
    sys_id: str
    number: str
    state: str
    opened_at: datetime
    closed_at: datetime | None
    previous_id: int | None


def _check(settings: Settings, token: str | None) -> None:
    secret = settings.itsm_inbound_token
    if not secret:
        raise Unauthorized(N_("the ITSM webhook is not configured (SOC_ITSM_INBOUND_TOKEN)"))
    if not token or not hmac.compare_digest(token.encode(), secret.encode()):
        raise Unauthorized(
            N_("send the shared secret in {token_header}"), token_header=TOKEN_HEADER
        )


Token = Annotated[str | None, Header(alias=TOKEN_HEADER, max_length=256)]


@router.post("/itsm/servicenow/webhook", response_model=AppliedOut)
def servicenow_webhook(
    body: ServiceNowChangeIn, session: SessionDep, settings: SettingsDep, token: Token = None
) -> AppliedOut:
    """A ServiceNow ticket of ours changed state (see README, ServiceNow and 4me). 401 without
    the shared secret; 404 for a ticket no case has."""
    _check(settings, token)
    applied = itsm_inbound.apply_state(
        session, settings, "servicenow", body.sys_id, body.state, body.sys_updated_on
    )
    return AppliedOut(**applied._asdict())


@router.post("/itsm/4me/webhook", response_model=AppliedOut)
def fourme_webhook(
    body: FourMeChangeIn, session: SessionDep, settings: SettingsDep, token: Token = None
) -> AppliedOut:
    """A 4me request of ours changed status. 401 without the shared secret; 404 for a request
    no case has."""
    _check(settings, token)
    applied = itsm_inbound.apply_state(
        session, settings, "4me", str(body.id), body.status, body.updated_at
    )
    return AppliedOut(**applied._asdict())


@router.get("/cases/{case_id}/itsm-tickets", response_model=list[RemoteTicketOut])
def case_tickets(
    case_id: RowId, session: SessionDep, principal: PrincipalDep
) -> list[RemoteTicketOut]:
    """The case's ServiceNow / 4me tickets, oldest first (a reopened case can have several).
    404 for a case outside the caller's scope."""
    case = svc.get_case(session, principal, case_id)
    return [RemoteTicketOut.model_validate(t) for t in itsm_remote.for_case(session, case.id)]
