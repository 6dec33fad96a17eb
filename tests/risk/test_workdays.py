"""Working days and the deadline rules: TB1 and TB4 of the domain text, and the same rules on
other dates (year ends, Easter in March and in April, Ascension, 11 Nov on a weekend)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from risk.deadlines import (
    Item,
    deadline_approver,
    item_status,
    judge,
    on_time_share,
    warning_due,
    warning_state,
)
from risk.workdays import WorkCalendar, belgian_holidays

CAL = WorkCalendar()


def d(text: str) -> date:
    return date.fromisoformat(text)


def test_tb1_early_warning_deadlines() -> None:
    assert warning_due(CAL, d("2026-04-08"), 5) == d("2026-03-31")  # Easter Monday 6 Apr
    assert warning_due(CAL, d("2026-05-18"), 5) == d("2026-05-08")  # Ascension 14 May
    assert warning_state(d("2026-03-31"), d("2026-04-01"), d("2026-04-01")) == "late"
    assert warning_state(d("2026-03-31"), d("2026-03-31"), d("2026-04-01")) == "on_time"


@pytest.mark.parametrize(
    ("year", "easter_monday", "ascension", "whit_monday"),
    [
        (2016, "2016-03-28", "2016-05-05", "2016-05-16"),  # Easter in March
        (2024, "2024-04-01", "2024-05-09", "2024-05-20"),
        (2025, "2025-04-21", "2025-05-29", "2025-06-09"),
        (2026, "2026-04-06", "2026-05-14", "2026-05-25"),
        (2027, "2027-03-29", "2027-05-06", "2027-05-17"),  # Easter in March
        (2038, "2038-04-26", "2038-06-03", "2038-06-14"),  # latest Easter of the century
    ],
)
def test_moving_holidays_for_any_year(
    year: int, easter_monday: str, ascension: str, whit_monday: str
) -> None:
    days = belgian_holidays(year)
    assert {d(easter_monday), d(ascension), d(whit_monday)} <= days
    fixed = {date(year, m, day) for m, day in ((1, 1), (5, 1), (7, 21), (8, 15), (11, 1))}
    assert fixed | {date(year, 11, 11), date(year, 12, 25)} <= days
    assert len(days) == 10


def test_the_default_case_calendar_agrees_for_2026_and_2027() -> None:
    from soc.core.settings import Settings

    listed = set(Settings().case_holidays)
    assert listed == belgian_holidays(2026) | belgian_holidays(2027)


def test_year_end_skips_christmas_new_year_and_the_weekend() -> None:
    # Due Monday 4 Jan 2027: Fri 1 Jan is New Year, so the days before are 31, 30, 29, 28 Dec
    # and 24 Dec (25 Dec is Christmas, 26-27 a weekend).
    assert warning_due(CAL, d("2027-01-04"), 5) == d("2026-12-24")


def test_march_easter_2027() -> None:
    # Due Thu 1 Apr 2027: 31, 30 Mar, (29 Mar Easter Monday), 26, 25, 24 Mar.
    assert warning_due(CAL, d("2027-04-01"), 5) == d("2027-03-24")


def test_armistice_on_a_weekend_costs_no_working_day() -> None:
    # 11 Nov 2023 is a Saturday, not moved: due Wed 15 Nov -> 14, 13, 10, 9, 8 Nov.
    assert date(2023, 11, 11).weekday() == 5
    assert warning_due(CAL, d("2023-11-15"), 5) == d("2023-11-08")
    # 11 Nov 2026 is a Wednesday: skipped.
    assert warning_due(CAL, d("2026-11-13"), 5) == d("2026-11-05")


def test_extra_closing_days() -> None:
    closed = WorkCalendar.with_closing_days([d("2026-03-31")])
    assert warning_due(closed, d("2026-04-08"), 5) == d("2026-03-30")


def test_due_date_itself_is_never_counted() -> None:
    assert CAL.before(d("2026-04-08"), 1) == d("2026-04-07")
    assert CAL.before(d("2026-04-08"), 0) == d("2026-04-08")
    # A due date on a weekend: the first working day before is Friday.
    assert CAL.before(d("2026-04-12"), 1) == d("2026-04-10")


@given(st.dates(date(1990, 1, 1), date(2090, 12, 31)), st.integers(1, 40))
def test_before_after_and_between_agree(day: date, n: int) -> None:
    start = CAL.before(day, n)
    assert start < day and CAL.works(start)
    # Between `start` and `day`, both excluded, lie the other n - 1 working days ...
    assert CAL.between(start, day - timedelta(days=1)) == n - 1
    # ... so n working days after `start` is the first working day on or after `day`.
    back = CAL.after(start, n)
    assert back >= day and CAL.works(back)
    assert all(not CAL.works(day + timedelta(days=k)) for k in range((back - day).days))


def test_status_and_approver() -> None:
    assert item_status(d("2026-04-08"), None, d("2026-04-08")) == "open"
    assert item_status(d("2026-04-08"), None, d("2026-04-09")) == "overdue"
    assert item_status(d("2026-04-08"), d("2026-04-08"), d("2026-05-01")) == "on_time"
    assert item_status(d("2026-04-08"), d("2026-04-09"), d("2026-05-01")) == "late"
    assert deadline_approver("specific") == "customer"
    assert deadline_approver("common") == "authority"
    verdict = judge(CAL, Item("x", "common", d("2026-04-08")), d("2026-04-01"), 5)
    assert (verdict.warning, verdict.status) == ("missing", "open")


def _april(on_time: int) -> list[Item]:
    """TB4: 11 actions handled in April 2026, one outside the ecosystem (and late)."""
    items = [
        Item(f"a{n}", "specific", d("2026-04-20"), d("2026-04-15" if n < on_time else "2026-04-24"))
        for n in range(10)
    ]
    items.append(Item("out", "common", d("2026-04-01"), d("2026-04-28"), outside_ecosystem=True))
    items.append(Item("may", "common", d("2026-05-01"), d("2026-05-04")))  # not in April
    items.append(Item("open", "common", d("2026-04-10")))  # not handled
    return items


def test_tb4_on_time_share() -> None:
    met = on_time_share(_april(9), d("2026-04-01"), d("2026-04-30"))
    assert (met.handled, met.excluded, met.on_time) == (11, 1, 9)
    assert met.on_time_pct == Decimal("90.00") and met.target_met
    missed = on_time_share(_april(8), d("2026-04-01"), d("2026-04-30"))
    assert missed.on_time_pct == Decimal("80.00") and not missed.target_met
    assert set(missed.late_ids) == {"a8", "a9"}
