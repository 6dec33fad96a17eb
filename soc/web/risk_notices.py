"""The notifications of the risk pages in the reader's language.

The services store each notice's text in English (it is also what an e-mail says); a page
writes it again from the notice's `kind`, subject and `late`, with the subject's title and
dates read now (through `risk.visibility`: a subject the reader may not see keeps its stored
text). A kind without words here, or a subject missing a date the sentence needs, shows the
stored text as it is. No web framework here: plain data in, plain data out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk.models import Risk, RiskAcceptance, RiskAction, RiskDeadlineChange, RiskNotification
from risk.notifications import for_principal
from risk.visibility import action_filter, risk_filter
from soc.core.principal import Principal
from soc.web.texts import TEXT

RISK_KINDS = (
    "review_due",
    "risk_aligned",
    "acceptance_requested",
    "risk_accepted",
    "acceptance_rejected",
    "acceptance_review",
)
ACTION_KINDS = ("early_warning", "deadline_change", "proposal_decided")


@dataclass(frozen=True)
class ShownNotice:
    """What the notifications table shows of one notice."""

    at: datetime
    kind: str
    subject_type: str
    subject_id: int
    late: bool
    text: str


@dataclass
class Subjects:
    """The visible subjects of a list of notices, with the dates some sentences need."""

    risks: dict[int, Risk]
    actions: dict[int, RiskAction]
    acceptances: dict[int, list[RiskAcceptance]]
    changes: dict[int, list[RiskDeadlineChange]]


def once_each(session: Session, principal: Principal) -> list[RiskNotification]:
    """The reader's notifications, once each (an owner who is also the customer's user gets
    the same warning as owner and as customer)."""
    seen: set[tuple[str, str, int, str]] = set()
    shown = []
    for notice in for_principal(session, principal):
        key = (notice.kind, notice.subject_type, notice.subject_id, notice.text)
        if key not in seen:
            seen.add(key)
            shown.append(notice)
    return shown


def _subjects(session: Session, principal: Principal, rows: list[RiskNotification]) -> Subjects:
    risk_ids = sorted({n.subject_id for n in rows if n.subject_type == "risk"})
    action_ids = sorted({n.subject_id for n in rows if n.subject_type == "action"})
    found = Subjects({}, {}, {}, {})
    if risk_ids:
        risks = select(Risk).where(Risk.id.in_(risk_ids), risk_filter(principal))
        found.risks = {r.id: r for r in session.scalars(risks)}
        accs = select(RiskAcceptance).where(RiskAcceptance.risk_id.in_(sorted(found.risks)))
        for acc in session.scalars(accs.order_by(RiskAcceptance.id)):
            found.acceptances.setdefault(acc.risk_id, []).append(acc)
    if action_ids:
        actions = select(RiskAction).where(RiskAction.id.in_(action_ids), action_filter(principal))
        found.actions = {a.id: a for a in session.scalars(actions)}
        changes = select(RiskDeadlineChange).where(
            RiskDeadlineChange.action_id.in_(sorted(found.actions))
        )
        for change in session.scalars(changes.order_by(RiskDeadlineChange.id)):
            found.changes.setdefault(change.action_id, []).append(change)
    return found


def _accepted_until(accs: list[RiskAcceptance], at: datetime) -> date | None:
    """The expiry of the acceptance this notice announced: the last one decided by then."""
    held = [
        a
        for a in accs
        if a.status != "rejected" and a.decided_at is not None and a.decided_at <= at
    ]
    return held[-1].expires_on if held else None


def _change_at(changes: list[RiskDeadlineChange], at: datetime) -> RiskDeadlineChange | None:
    """The deadline change this notice announced: the last one requested by then."""
    asked = [c for c in changes if c.requested_at <= at]
    return asked[-1] if asked else None


def _risk_words(n: RiskNotification, risk: Risk, found: Subjects) -> dict[str, str] | None:
    words = {"title": risk.title, "id": str(risk.id)}
    if n.kind == "review_due":
        if risk.review_date is None:
            return None
        words["due"] = risk.review_date.isoformat()
    elif n.kind == "risk_aligned":
        words["advice"] = risk.advice
    elif n.kind == "risk_accepted":
        until = _accepted_until(found.acceptances.get(risk.id, []), n.at)
        if until is None:
            return None
        words["until"] = until.isoformat()
    return words


def _action_words(
    n: RiskNotification, action: RiskAction, found: Subjects, t: dict[str, str]
) -> dict[str, str] | None:
    words = {"title": action.title, "id": str(action.id), "due": action.due.isoformat()}
    if n.kind == "early_warning":
        words["register"] = t.get(f"rk_reg_{action.register}", action.register)
    elif n.kind == "deadline_change":
        change = _change_at(found.changes.get(action.id, []), n.at)
        if change is None:
            return None
        words["old"], words["new"] = change.old_due.isoformat(), change.new_due.isoformat()
    elif n.kind == "proposal_decided":
        if action.decision not in ("approved", "rejected"):
            return None
        words["decision"] = t[f"rk_dec_{action.decision}"]
    return words


def render(n: RiskNotification, found: Subjects, t: dict[str, str]) -> str:
    """One notice in the words of `t`; its stored text when it cannot be written again."""
    words: dict[str, str] | None = None
    if n.subject_type == "risk" and n.kind in RISK_KINDS and n.subject_id in found.risks:
        words = _risk_words(n, found.risks[n.subject_id], found)
    elif n.subject_type == "action" and n.kind in ACTION_KINDS and n.subject_id in found.actions:
        words = _action_words(n, found.actions[n.subject_id], found, t)
    key = f"rk_nt_{n.kind}" + ("_late" if n.late and f"rk_nt_{n.kind}_late" in t else "")
    if words is None or key not in t:
        return n.text
    return t[key].format(**words)


def notices(session: Session, principal: Principal, lang: str) -> list[ShownNotice]:
    """The reader's notifications, once each, in the page's language."""
    rows = once_each(session, principal)
    found = _subjects(session, principal, rows)
    t = TEXT.get(lang, TEXT["en"])
    return [
        ShownNotice(n.at, n.kind, n.subject_type, n.subject_id, n.late, render(n, found, t))
        for n in rows
    ]
