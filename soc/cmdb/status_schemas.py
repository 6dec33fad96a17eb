"""API shapes of outage notices and status subscriptions.

Two shapes of a notice: `NoticeOut` for the service desk (tenants, incident, who published),
`ActiveNoticeOut` for what a customer's portal shows (no ids, no other tenant's anything).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from soc.core.schemas import Id, ORMModel

NoticeKind = Literal["outage", "planned"]


class NoticeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    body: str = Field(default="", max_length=20_000)
    kind: NoticeKind = "outage"
    incident_id: Id | None = Field(
        default=None, description="the operational incident: its tenants and applications"
    )
    applications: list[Id] = Field(
        default_factory=list, max_length=1000, description="application CI ids affected"
    )


class NoticeOut(ORMModel):
    id: int
    kind: str
    title: str
    body: str
    incident_id: int | None
    applications: list[int]
    tenants: list[int]
    published_by: str
    published_at: datetime
    closed_at: datetime | None


class ActiveNoticeOut(BaseModel):
    """A banner on a customer's pages: only its own affected applications are named."""

    title: str
    body: str
    kind: str
    published_at: datetime
    applications: list[str] = Field(description="names of the reader's affected applications")


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ci_id: Id = Field(description="the application to follow")
    email: str | None = Field(default=None, max_length=320)
    webhook_url: str | None = Field(default=None, max_length=1000)


class SubscriptionOut(BaseModel):
    id: int
    ci_id: int
    application: str
    user_id: int | None
    email: str | None
    webhook_url: str | None
    created_at: datetime


class SubscriptionCreatedOut(SubscriptionOut):
    webhook_secret: str | None = Field(
        description="HMAC-SHA256 key of the webhook's X-Soc-Signature: shown this once only"
    )
