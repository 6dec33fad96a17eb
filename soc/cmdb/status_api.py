"""Outage notices (published by the service desk, shown to the affected customers) and status
subscriptions (e-mail and signed webhook, one notification per application status change)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from soc.cmdb import notices, notify
from soc.cmdb.deps import CmdbEngineDep
from soc.cmdb.models import Subscription
from soc.cmdb.status_schemas import (
    ActiveNoticeOut,
    NoticeIn,
    NoticeOut,
    SubscriptionCreatedOut,
    SubscriptionIn,
    SubscriptionOut,
)
from soc.cmdb.visibility import visible_cis
from soc.core.deps import PrincipalDep, SessionDep
from soc.core.schemas import RowId

router = APIRouter(prefix="/api/v1/status", tags=["status"])


@router.get("/notices", response_model=list[NoticeOut])
def list_notices(
    session: SessionDep,
    principal: PrincipalDep,
    include_closed: bool = False,
    limit: int = Query(default=200, ge=1, le=1000),
) -> list[NoticeOut]:
    """Every notice with its tenants (service desk and authority)."""
    rows = notices.list_notices(session, principal, include_closed, limit)
    return [NoticeOut.model_validate(n) for n in rows]


@router.post("/notices", response_model=NoticeOut, status_code=201)
def publish_notice(body: NoticeIn, session: SessionDep, principal: PrincipalDep) -> NoticeOut:
    """Publish an outage or planned unavailability; the affected tenants are computed."""
    notice = notices.publish(
        session,
        principal,
        body.title,
        body.body,
        kind=body.kind,
        incident_id=body.incident_id,
        applications=list(body.applications),
    )
    return NoticeOut.model_validate(notice)


@router.post("/notices/{notice_id}/close", response_model=NoticeOut)
def close_notice(notice_id: RowId, session: SessionDep, principal: PrincipalDep) -> NoticeOut:
    """Close a published status notice. The service desk (admins, analysts); 404 for an unknown
    notice."""
    return NoticeOut.model_validate(notices.close(session, principal, notice_id))


@router.get("/notices/active", response_model=list[ActiveNoticeOut])
def active_notices(session: SessionDep, principal: PrincipalDep) -> list[ActiveNoticeOut]:
    """The banners of the reader's pages: its own affected applications only."""
    return notices.active_notices_for(session, principal)


def _subscription_out(session: Session, rows: list[Subscription]) -> list[SubscriptionOut]:
    names = notify.application_names(session, {r.ci_id for r in rows})
    return [
        SubscriptionOut(
            id=r.id,
            ci_id=r.ci_id,
            application=names.get(r.ci_id, f"CI {r.ci_id}"),
            user_id=r.user_id,
            email=r.email,
            webhook_url=r.webhook_url,
            created_at=r.created_at,
        )
        for r in rows
    ]


@router.get("/subscriptions", response_model=list[SubscriptionOut])
def list_subscriptions(session: SessionDep, principal: PrincipalDep) -> list[SubscriptionOut]:
    """One's own subscriptions (an admin: everyone's); webhook secrets are never listed."""
    return _subscription_out(session, notify.list_subscriptions(session, principal))


@router.post("/subscriptions", response_model=SubscriptionCreatedOut, status_code=201)
def subscribe(
    body: SubscriptionIn, session: SessionDep, principal: PrincipalDep, engine: CmdbEngineDep
) -> SubscriptionCreatedOut:
    """Follow an application the reader can see; the webhook secret is shown this once."""
    engine.catch_up(session)
    visible = visible_cis(session, principal, engine.corr)
    made = notify.subscribe(
        session, principal, body.ci_id, body.email, body.webhook_url, visible=visible
    )
    (out,) = _subscription_out(session, [made.subscription])
    return SubscriptionCreatedOut(**out.model_dump(), webhook_secret=made.webhook_secret)


@router.delete("/subscriptions/{subscription_id}", status_code=204)
def unsubscribe(subscription_id: RowId, session: SessionDep, principal: PrincipalDep) -> Response:
    """Remove one of the caller's status subscriptions. 404 for an unknown subscription or
    another user's."""
    notify.unsubscribe(session, principal, subscription_id)
    return Response(status_code=204)
