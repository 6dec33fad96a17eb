"""The deadline rules of the action registers, as pure functions (what an auditor checks).

An item (corrective action, improvement proposal, complaint, audit finding, mitigation) has a
due date. Its *early warning* must go out at least N working days before (to the owner and to
the customer for a specific item, the authority for a common one); a warning sent after that
day is late. Its *status* is on time or late once handled, open or overdue until then. Its
deadline may only be changed with the approval of the customer (specific) or the authority
(common). A period's on-time share counts the items handled in it, outside-ecosystem items
excluded, against a target (>= 90 %).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from risk.workdays import WorkCalendar

ItemScope = Literal["specific", "common"]
WarningState = Literal["on_time", "late", "missing", "not_yet"]
ItemStatus = Literal["on_time", "late", "open", "overdue"]
Approver = Literal["customer", "authority"]

DEFAULT_EARLY_WARNING_WORKING_DAYS = 5
DEFAULT_TARGET_PCT = Decimal("90")


@dataclass(frozen=True)
class Item:
    id: str
    scope: ItemScope
    due: date
    handled: date | None = None
    warned: date | None = None
    outside_ecosystem: bool = False


@dataclass(frozen=True)
class Verdict:
    id: str
    warning_due: date
    warning: WarningState
    status: ItemStatus
    deadline_approver: Approver


@dataclass(frozen=True)
class PeriodResult:
    """`handled`: every item handled in the period; `excluded`: those outside the ecosystem;
    the share is `on_time` / (`handled` - `excluded`)."""

    handled: int
    excluded: int
    on_time: int
    on_time_pct: Decimal
    target_met: bool
    late_ids: tuple[str, ...]


def warning_due(calendar: WorkCalendar, due: date, working_days: int) -> date:
    """The last day the early warning may go out: `working_days` working days before `due`."""
    return calendar.before(due, working_days)


def warning_state(warning_by: date, warned: date | None, as_of: date) -> WarningState:
    if warned is not None:
        return "on_time" if warned <= warning_by else "late"
    return "missing" if as_of > warning_by else "not_yet"


def item_status(due: date, handled: date | None, as_of: date) -> ItemStatus:
    if handled is not None:
        return "on_time" if handled <= due else "late"
    return "overdue" if as_of > due else "open"


def deadline_approver(scope: ItemScope) -> Approver:
    """Who approves a change of the item's deadline."""
    return "customer" if scope == "specific" else "authority"


def judge(calendar: WorkCalendar, item: Item, as_of: date, working_days: int) -> Verdict:
    by = warning_due(calendar, item.due, working_days)
    return Verdict(
        id=item.id,
        warning_due=by,
        warning=warning_state(by, item.warned, as_of),
        status=item_status(item.due, item.handled, as_of),
        deadline_approver=deadline_approver(item.scope),
    )


def on_time_share(
    items: Iterable[Item], start: date, end: date, target_pct: Decimal = DEFAULT_TARGET_PCT
) -> PeriodResult:
    """Of the items handled from `start` to `end` (both included), the share handled on or
    before their due date; outside-ecosystem items are excluded. No item handled: 100 %, met
    (nothing was late)."""
    handled = [i for i in items if i.handled is not None and start <= i.handled <= end]
    counted = [i for i in handled if not i.outside_ecosystem]
    late = tuple(i.id for i in counted if i.handled is not None and i.handled > i.due)
    on_time = len(counted) - len(late)
    pct = (
        (Decimal(on_time) * 100 / Decimal(len(counted))).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        if counted
        else Decimal("100.00")
    )
    return PeriodResult(
        handled=len(handled),
        excluded=len(handled) - len(counted),
        on_time=on_time,
        on_time_pct=pct,
        target_met=pct >= target_pct,
        late_ids=late,
    )
