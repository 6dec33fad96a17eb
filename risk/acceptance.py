"""Accepting a risk: the request, the authority's decision (and the customer's co-approval
when the setting asks both), revocation, and the end of an acceptance on a material change
or at its expiry.

An acceptance is bound to the state the risk was assessed in: its residual score and its
scope key (the sorted ids of its tenants and providers). When the residual score goes up or
the scope changes, or the acceptance expires, it ends: the risk returns to review (status
`assessed`, acceptance state `review`) and its owner and the authority are notified.

Who may write a risk, its scope key and its field history are `risk.writing`'s.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from risk.matrix import matrix_from
from risk.models import RISK_STATUSES, Risk, RiskAcceptance
from risk.notifications import Notice, notify
from risk.visibility import risk_filter, visible_risk
from risk.writing import check_writer, record_change, scope_key, tenant_ids_of
from soc.core import audit
from soc.core.db import utcnow
from soc.core.errors import Conflict, Forbidden, Invalid, NotFound
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings


def residual_score(risk: Risk) -> int:
    return risk.residual_likelihood * risk.residual_impact


def _set(session: Session, risk: Risk, actor: str, field: str, value: str) -> None:
    """Set a text field of the risk and record its history."""
    old = getattr(risk, field)
    if old == value:
        return
    setattr(risk, field, value)
    record_change(session, risk, actor, field, old, value)


def _owner_notices(risk: Risk, kind: str, text: str) -> list[Notice]:
    if risk.owner_user_id is not None:
        return [Notice("owner", kind, "risk", risk.id, text, user_id=risk.owner_user_id)]
    if risk.owning_provider_id is not None:
        return [
            Notice("provider", kind, "risk", risk.id, text, provider_id=risk.owning_provider_id)
        ]
    return []


def _audit(session: Session, actor: str, action: str, acc: RiskAcceptance, **detail: Any) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="risk_acceptance",
        object_id=acc.id,
        detail={"risk_id": acc.risk_id, **detail},
    )


# --- requests and decisions ---------------------------------------------------------------


def request_acceptance(
    session: Session, principal: Principal, settings: Settings, risk_id: int, note: str = ""
) -> RiskAcceptance:
    """Ask the authority to accept the risk as assessed now (its residual score and scope)."""
    principal.require("risk.write")
    risk = visible_risk(session, principal, risk_id)
    check_writer(session, principal, risk)
    if risk.status == "closed" or RISK_STATUSES.index(risk.status) < RISK_STATUSES.index(
        "assessed"
    ):
        raise Invalid(N_("a risk is accepted as assessed: assess it first (status 'assessed')"))
    if risk.acceptance_state == "accepted":
        raise Conflict(N_("risk {risk_id} is accepted already"), risk_id=risk_id)
    pending = session.scalar(
        select(RiskAcceptance.id).where(
            RiskAcceptance.risk_id == risk.id, RiskAcceptance.status == "requested"
        )
    )
    if pending is not None:
        raise Conflict(
            N_("acceptance {pending} of risk {risk_id} is waiting for a decision"),
            pending=pending,
            risk_id=risk_id,
        )
    score = matrix_from(settings).score(risk.residual_likelihood, risk.residual_impact)
    acc = RiskAcceptance(
        risk_id=risk.id,
        status="requested",
        requested_by=principal.actor,
        requested_at=utcnow(),
        request_note=note,
        residual_score=score,
        scope_key=scope_key(session, risk.id),
    )
    session.add(acc)
    session.flush()
    notify(
        session,
        [
            Notice(
                "authority",
                "acceptance_requested",
                "risk",
                risk.id,
                f"Acceptance of risk {risk.id} '{risk.title}' requested by {principal.actor}",
            )
        ],
    )
    _audit(session, principal.actor, "risk.acceptance.requested", acc, residual_score=score)
    return acc


def _pending(session: Session, principal: Principal, acceptance_id: int) -> RiskAcceptance:
    acc = session.get(RiskAcceptance, acceptance_id)
    if acc is None:
        raise NotFound(N_("acceptance {acceptance_id} not found"), acceptance_id=acceptance_id)
    visible_risk(session, principal, acc.risk_id)  # NotFound for a risk out of sight
    return acc


def needs_customer(settings: Settings, risk: Risk) -> bool:
    return settings.risk_acceptance_by == "authority_and_customer" and risk.scope == "specific"


def decide(
    session: Session,
    principal: Principal,
    settings: Settings,
    acceptance_id: int,
    approve: bool,
    justification: str,
    expires_on: date | None,
    today: date,
) -> RiskAcceptance:
    """The authority accepts or rejects; with the setting `authority_and_customer` a
    specific risk's customer co-approves, and the acceptance holds once both approved.
    Everyone else (the integrator, providers, risk owners) gets a Forbidden."""
    principal.require("risk.accept")
    acc = _pending(session, principal, acceptance_id)
    risk = session.get(Risk, acc.risk_id)
    assert risk is not None
    _check_decider(session, principal, settings, acc, risk)
    justification = justification.strip()
    if not justification:
        raise Invalid(N_("a decision needs a justification"))
    party = "customer" if principal.role == "customer" else "authority"
    if (party == "customer" and acc.customer_by) or (party == "authority" and acc.authority_by):
        approved = (
            N_("the customer approved acceptance {acceptance_id} already")
            if party == "customer"
            else N_("the authority approved acceptance {acceptance_id} already")
        )
        raise Conflict(approved, acceptance_id=acceptance_id)
    if residual_score(risk) != acc.residual_score or scope_key(session, risk.id) != acc.scope_key:
        raise Conflict(N_("the risk changed since the request: request the acceptance again"))
    now = utcnow()
    if not approve:
        _reject(session, acc, risk, party, principal.actor, justification, now)
        return acc
    if expires_on is None:
        raise Invalid(N_("an acceptance needs an expiry date (expires_on)"))
    latest = today + timedelta(days=settings.risk_acceptance_max_days)
    if not today < expires_on <= latest:
        raise Invalid(
            N_("expires_on must be after {today} and at the latest {latest}"),
            today=today,
            latest=latest,
        )
    _mark(acc, party, principal.actor, now)
    acc.justification = _joined(acc.justification, party, justification)
    acc.expires_on = expires_on if acc.expires_on is None else min(acc.expires_on, expires_on)
    holds = acc.authority_by is not None and (
        acc.customer_by is not None or not needs_customer(settings, risk)
    )
    if not holds:
        _audit(session, principal.actor, "risk.acceptance.approved", acc, by=party)
        return acc
    acc.status, acc.decided_at = "accepted", now
    _set(session, risk, principal.actor, "acceptance_state", "accepted")
    _set(session, risk, principal.actor, "treatment", "accept")
    risk.updated_at = now
    _audit(
        session,
        principal.actor,
        "risk.acceptance.accepted",
        acc,
        by=party,
        expires_on=acc.expires_on.isoformat() if acc.expires_on else None,
    )
    notify(
        session,
        _owner_notices(
            risk,
            "risk_accepted",
            f"Risk '{risk.title}' accepted until {acc.expires_on}: {justification}",
        ),
    )
    return acc


def _check_decider(
    session: Session, principal: Principal, settings: Settings, acc: RiskAcceptance, risk: Risk
) -> None:
    """Only the authority decides (a specific risk's customer co-approves when the setting
    says so), never the requester, and only a request waiting for a decision."""
    if principal.role == "customer":
        if not needs_customer(settings, risk):
            raise Forbidden(N_("only the authority accepts this risk"))
        if not any(principal.sees_tenant(t) for t in tenant_ids_of(session, risk.id)):
            raise Forbidden(N_("a customer co-approves only risks of its own tenant"))
    elif principal.role != "authority":
        raise Forbidden(N_("only the authority accepts risks"))
    if acc.requested_by == principal.actor:
        raise Forbidden(N_("the requester of an acceptance may not decide it"))
    if acc.status != "requested":
        raise Conflict(
            N_("acceptance {id} is {status}, not waiting for a decision"),
            id=acc.id,
            status=acc.status,
        )


def _reject(
    session: Session,
    acc: RiskAcceptance,
    risk: Risk,
    party: str,
    actor: str,
    justification: str,
    now: Any,
) -> None:
    acc.status, acc.decided_at = "rejected", now
    acc.justification = _joined(acc.justification, party, justification)
    _mark(acc, party, actor, now)
    _audit(session, actor, "risk.acceptance.rejected", acc, by=party)
    notify(
        session,
        _owner_notices(risk, "acceptance_rejected", f"Acceptance of risk '{risk.title}' rejected"),
    )


def _mark(acc: RiskAcceptance, party: str, actor: str, now: Any) -> None:
    if party == "customer":
        acc.customer_by, acc.customer_at = actor, now
    else:
        acc.authority_by, acc.authority_at = actor, now


def _joined(old: str, party: str, text: str) -> str:
    line = f"{party}: {text}" if old else text
    return f"{old}\n{line}" if old else line


# --- ending -------------------------------------------------------------------------------


def holding(session: Session, risk_id: int) -> RiskAcceptance | None:
    return session.scalar(
        select(RiskAcceptance).where(
            RiskAcceptance.risk_id == risk_id, RiskAcceptance.status == "accepted"
        )
    )


def material_change(session: Session, risk: Risk) -> bool:
    """The holding acceptance no longer covers the risk: residual score up, scope changed."""
    acc = holding(session, risk.id)
    if acc is None:
        return False
    return residual_score(risk) > acc.residual_score or scope_key(session, risk.id) != (
        acc.scope_key
    )


def _end(
    session: Session, acc: RiskAcceptance, risk: Risk, reason: str, actor: str, text: str
) -> None:
    now = utcnow()
    acc.status, acc.ended_at, acc.ended_reason, acc.ended_by = "ended", now, reason, actor
    _set(session, risk, actor, "acceptance_state", "review")
    if risk.status != "closed" and RISK_STATUSES.index(risk.status) > RISK_STATUSES.index(
        "assessed"
    ):
        _set(session, risk, actor, "status", "assessed")
    risk.updated_at = now
    _audit(session, actor, "risk.acceptance.ended", acc, reason=reason)
    notices = _owner_notices(risk, "acceptance_review", text)
    notices.append(Notice("authority", "acceptance_review", "risk", risk.id, text))
    notify(session, notices)


def end_on_material_change(session: Session, risk: Risk, actor: str) -> RiskAcceptance | None:
    """End the acceptance holding for this risk (its residual score went up or its scope
    changed): back to review, owner and authority notified."""
    acc = holding(session, risk.id)
    if acc is None:
        return None
    _end(
        session,
        acc,
        risk,
        "material_change",
        actor,
        f"Risk '{risk.title}' changed materially: its acceptance ended, review it again",
    )
    return acc


def revoke(
    session: Session, principal: Principal, acceptance_id: int, reason: str
) -> RiskAcceptance:
    """The authority withdraws an acceptance that holds."""
    principal.require("risk.accept")
    if principal.role != "authority":
        raise Forbidden(N_("only the authority revokes an acceptance"))
    acc = _pending(session, principal, acceptance_id)
    if acc.status != "accepted":
        raise Conflict(
            N_("acceptance {acceptance_id} is {status}: only a holding one is revoked"),
            acceptance_id=acceptance_id,
            status=acc.status,
        )
    if not reason.strip():
        raise Invalid(N_("a revocation needs a reason"))
    risk = session.get(Risk, acc.risk_id)
    assert risk is not None
    _end(
        session,
        acc,
        risk,
        "revoked",
        principal.actor,
        f"Acceptance of risk '{risk.title}' revoked: {reason.strip()}",
    )
    return acc


def expire_acceptances(session: Session, today: date) -> int:
    """End every acceptance whose expiry date has come (it holds up to the day before)."""
    due = list(
        session.scalars(
            select(RiskAcceptance).where(
                RiskAcceptance.status == "accepted", RiskAcceptance.expires_on <= today
            )
        )
    )
    for acc in due:
        risk = session.get(Risk, acc.risk_id)
        assert risk is not None
        _end(
            session,
            acc,
            risk,
            "expired",
            "system",
            f"Acceptance of risk '{risk.title}' expired on {acc.expires_on}: review it again",
        )
    return len(due)


# --- reading ------------------------------------------------------------------------------


def list_acceptances(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    risk_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[RiskAcceptance]]:
    """Acceptances of the risks the principal sees, newest first."""
    principal.require("risk.read")
    query = select(RiskAcceptance).where(
        RiskAcceptance.risk_id.in_(select(Risk.id).where(risk_filter(principal)))
    )
    if status is not None:
        query = query.where(RiskAcceptance.status == status)
    if risk_id is not None:
        query = query.where(RiskAcceptance.risk_id == risk_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(RiskAcceptance.id.desc()).limit(limit).offset(offset))
    return total, list(rows)


def queue(session: Session, principal: Principal) -> list[RiskAcceptance]:
    """The requests waiting for a decision (the authority's queue)."""
    return list_acceptances(session, principal, status="requested", limit=500)[1]
