"""Improvement proposals: the decision on executing one, and the conflicts between them.

Who decides (B6, B8, TB5): the customer for a proposal specific to its tenant, the authority
for a common one; anyone else (the integrator, a provider, the authority on a specific one,
a customer on a common one) gets 403, and a proposal another tenant's user cannot see is a
404. A decision is final: deciding again is a 409. A refusal (403) is audited
(`risk.proposal.refused`, `record_refusal`) in a transaction of its own.

Conflicts in content and timing (B8): two open (open / in progress), not rejected proposals
conflict when they touch the same service (compared trimmed and case-insensitively, empty
never matches) or the same CI, and

- both have a window and the windows overlap (`overlapping_window`, with the shared days); a
  window with only a start runs on indefinitely, one with only an end has run since always;
- or at least one of them has no window at all (`same_target_no_window`): their timing is not
  known yet, so the clash cannot be ruled out and the pair is flagged for a look.

Two proposals whose windows are both set and do not overlap do not conflict. Only proposals
the reader may see are compared: a customer never learns of another tenant's proposal.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from itertools import combinations
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk.models import RiskAction
from risk.notifications import Notice, notify
from risk.visibility import action_filter, visible_action
from soc.core.audit import record
from soc.core.errors import Conflict, Forbidden, Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal

PROPOSAL = "improvement_proposal"
OPEN_STATUSES = ("open", "in_progress")

ConflictKind = Literal["overlapping_window", "same_target_no_window"]


def decider(scope: str) -> Literal["customer", "authority"]:
    return "customer" if scope == "specific" else "authority"


def may_decide(principal: Principal, action: RiskAction) -> bool:
    if not principal.can("actions.decide"):
        return False
    if action.scope == "specific":
        return principal.role == "customer" and principal.sees_tenant(action.tenant_id)
    return principal.role == "authority"


def decide_proposal(
    session: Session,
    principal: Principal,
    action_id: int,
    approve: bool,
    note: str,
    now: datetime,
) -> RiskAction:
    """Record the customer's (specific) or authority's (common) decision on executing an
    improvement proposal; the owner is told."""
    action = visible_action(session, principal, action_id)
    if action.register != PROPOSAL:
        raise Invalid(
            N_("action {action_id} is a {register}, not an improvement proposal"),
            action_id=action_id,
            register=action.register,
        )
    if not may_decide(principal, action):
        who = decider(action.scope)
        raise Forbidden(
            N_("a {scope} proposal is decided by the {who}, not by role '{role}'"),
            scope=action.scope,
            who=who,
            role=principal.role,
        )
    if action.status == "cancelled":
        raise Invalid(
            N_("proposal {action_id} is cancelled: there is nothing to decide"), action_id=action_id
        )
    if action.decision in ("approved", "rejected"):
        raise Conflict(
            N_("proposal {action_id} was already {decision} by {decided_by}"),
            action_id=action_id,
            decision=action.decision,
            decided_by=action.decided_by,
        )
    decision = "approved" if approve else "rejected"
    action.decision = decision
    action.decided_by = principal.actor
    action.decided_at = now
    action.decision_note = note
    action.updated_at = now
    record(
        session,
        actor=principal.actor,
        action="risk.proposal.decided",
        object_type="risk_action",
        object_id=action.id,
        tenant_id=action.tenant_id,
        detail={"decision": decision, "note": note, "scope": action.scope},
    )
    text = f"Proposal '{action.title}' was {decision} by {principal.actor}."
    notices = []
    if action.owner_user_id is not None:
        notices.append(
            Notice(
                "owner",
                "proposal_decided",
                "action",
                action.id,
                text,
                tenant_id=action.tenant_id,
                user_id=action.owner_user_id,
            )
        )
    if action.owner_provider_id is not None:
        notices.append(
            Notice(
                "provider",
                "proposal_decided",
                "action",
                action.id,
                text,
                tenant_id=action.tenant_id,
                provider_id=action.owner_provider_id,
            )
        )
    if notices:
        notify(session, notices)
    session.flush()
    return action


def record_refusal(session: Session, principal: Principal, action_id: int, reason: str) -> None:
    """Audit a refused decision. The caller runs this in a transaction of its own, after the
    refused one rolled back (its audit row went with it)."""
    action = session.get(RiskAction, action_id)
    record(
        session,
        actor=principal.actor,
        action="risk.proposal.refused",
        object_type="risk_action",
        object_id=action_id,
        tenant_id=action.tenant_id if action is not None else None,
        detail={
            "role": principal.role,
            "scope": action.scope if action is not None else None,
            "reason": reason,
        },
    )


@dataclass(frozen=True)
class ProposalConflict:
    a: int
    b: int
    kind: ConflictKind
    on: tuple[Literal["service", "ci"], ...]
    service: str | None
    ci_id: int | None
    overlap_from: date | None
    overlap_to: date | None

    def involves(self, action_id: int) -> bool:
        return action_id in (self.a, self.b)


def _service_key(action: RiskAction) -> str:
    return (action.service or "").strip().casefold()


def _window(action: RiskAction) -> tuple[date, date] | None:
    if action.window_start is None and action.window_end is None:
        return None
    return (action.window_start or date.min, action.window_end or date.max)


def pair_conflict(x: RiskAction, y: RiskAction) -> ProposalConflict | None:
    """The conflict between two proposals, or None (rules in the module docstring)."""
    a, b = (x, y) if x.id < y.id else (y, x)
    on: list[Literal["service", "ci"]] = []
    if _service_key(a) and _service_key(a) == _service_key(b):
        on.append("service")
    if a.ci_id is not None and a.ci_id == b.ci_id:
        on.append("ci")
    if not on:
        return None
    wa, wb = _window(a), _window(b)
    service = a.service.strip() if "service" in on else None
    ci_id = a.ci_id if "ci" in on else None
    if wa is None or wb is None:
        return ProposalConflict(
            a.id, b.id, "same_target_no_window", tuple(on), service, ci_id, None, None
        )
    start, end = max(wa[0], wb[0]), min(wa[1], wb[1])
    if start > end:
        return None
    return ProposalConflict(
        a.id,
        b.id,
        "overlapping_window",
        tuple(on),
        service,
        ci_id,
        None if start == date.min else start,
        None if end == date.max else end,
    )


def open_proposals(session: Session, principal: Principal) -> list[RiskAction]:
    query = (
        select(RiskAction)
        .where(
            RiskAction.register == PROPOSAL,
            RiskAction.status.in_(OPEN_STATUSES),
            (RiskAction.decision.is_(None)) | (RiskAction.decision != "rejected"),
            action_filter(principal),
        )
        .order_by(RiskAction.id)
    )
    return list(session.scalars(query))


def find_conflicts(proposals: list[RiskAction]) -> list[ProposalConflict]:
    """Every conflicting pair, compared only within the groups of one service or one CI."""
    groups: dict[tuple[str, object], list[RiskAction]] = defaultdict(list)
    for p in proposals:
        if _service_key(p):
            groups[("service", _service_key(p))].append(p)
        if p.ci_id is not None:
            groups[("ci", p.ci_id)].append(p)
    found: dict[tuple[int, int], ProposalConflict] = {}
    for members in groups.values():
        for x, y in combinations(members, 2):
            key = (min(x.id, y.id), max(x.id, y.id))
            if key in found:
                continue
            hit = pair_conflict(x, y)
            if hit is not None:
                found[key] = hit
    return [found[k] for k in sorted(found)]


def conflicts(
    session: Session, principal: Principal, action_id: int | None = None
) -> list[ProposalConflict]:
    """The conflicts among the proposals the principal sees; with `action_id`, those of that
    proposal only (a proposal it cannot see is a 404)."""
    principal.require("actions.read")
    if action_id is not None:
        visible_action(session, principal, action_id)
    found = find_conflicts(open_proposals(session, principal))
    if action_id is None:
        return found
    return [c for c in found if c.involves(action_id)]
