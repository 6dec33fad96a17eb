"""Periodic review of risks: reminders before the review date, and recording a review (the
next review date is today plus the risk's cadence)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk.models import Risk
from risk.notifications import Notice, notify
from risk.visibility import visible_risk
from risk.writing import check_writer, record_change
from soc.core import audit
from soc.core.db import utcnow
from soc.core.principal import Principal
from soc.core.settings import Settings


def _reminded(risk: Risk, days: int) -> bool:
    """Reminded for the current review date already: the last reminder (the day it was
    sent) falls in this date's reminder window."""
    if risk.review_reminded_on is None or risk.review_date is None:
        return False
    # reminded_on + days, not review_date - days: a review date near year 1 does not
    # overflow (the reminder day is a recent day).
    return risk.review_reminded_on + timedelta(days=days) >= risk.review_date


def remind_reviews(session: Session, settings: Settings, today: date) -> int:
    """Remind the owner (the person, else the owning provider, else the authority) of every
    open risk whose review date is at most `risk_review_reminder_days` away (or past), once
    per review date. Returns how many were reminded."""
    days = settings.risk_review_reminder_days
    due = session.scalars(
        select(Risk)
        .where(
            Risk.status != "closed",
            Risk.review_date.is_not(None),
            Risk.review_date <= today + timedelta(days=days),
        )
        .order_by(Risk.id)
    )
    count = 0
    for risk in due:
        if _reminded(risk, days):
            continue
        assert risk.review_date is not None
        late = risk.review_date < today
        text = f"Risk '{risk.title}' is due for review on {risk.review_date.isoformat()}"
        if risk.owner_user_id is not None:
            notice = Notice(
                "owner", "review_due", "risk", risk.id, text, user_id=risk.owner_user_id, late=late
            )
        elif risk.owning_provider_id is not None:
            notice = Notice(
                "provider",
                "review_due",
                "risk",
                risk.id,
                text,
                provider_id=risk.owning_provider_id,
                late=late,
            )
        else:
            notice = Notice("authority", "review_due", "risk", risk.id, text, late=late)
        notify(session, [notice])
        risk.review_reminded_on = today
        count += 1
    return count


def record_review(
    session: Session, principal: Principal, risk_id: int, today: date, note: str = ""
) -> Risk:
    """The risk was reviewed today: the next review is today + its cadence (no cadence: no
    next date)."""
    principal.require("risk.write")
    risk = visible_risk(session, principal, risk_id)
    check_writer(session, principal, risk)
    old = risk.review_date
    new = today + timedelta(days=risk.review_cadence_days) if risk.review_cadence_days else None
    risk.review_date = new
    risk.updated_at = utcnow()
    record_change(
        session,
        risk,
        principal.actor,
        "review_date",
        old.isoformat() if old else None,
        new.isoformat() if new else None,
    )
    audit.record(
        session,
        actor=principal.actor,
        action="risk.reviewed",
        object_type="risk",
        object_id=risk.id,
        detail={"on": today.isoformat(), "next": new.isoformat() if new else None, "note": note},
    )
    return risk
