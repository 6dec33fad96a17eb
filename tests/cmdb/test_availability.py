"""Monthly availability and MTTR (A12, TA4): the contract's maintenance rules, minute by minute."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soc.cmdb.availability import (
    AvailabilityRules,
    Interval,
    intervals_from_changes,
    monthly_availability,
    normalize,
)
from soc.core.errors import Invalid

BXL = ZoneInfo("Europe/Brussels")


def at(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Brussels wall-clock time, as UTC (what the database holds)."""
    return datetime(y, m, d, h, mi, tzinfo=BXL).astimezone(UTC)


def span(start: datetime, minutes: int, state: str) -> Interval:
    return (start, start + timedelta(minutes=minutes), state)


DOWN_20 = span(at(2026, 5, 5, 10), 20, "down")  # a Tuesday


# --- TA4 -------------------------------------------------------------------------------------


def test_ta4_may_2026_16h_weekend_maintenance_is_met() -> None:
    result = monthly_availability(
        [DOWN_20, span(at(2026, 5, 9, 8), 16 * 60, "maintenance")], 2026, 5
    )
    assert result.minutes == 44_640
    assert result.down_minutes == 20
    assert result.planned_minutes == 960
    assert result.planned_excluded_minutes == 960
    assert result.planned_unplanned_minutes == 0
    assert result.unplanned_minutes == 20
    assert result.pct_rounded == 99.955
    assert result.met is True


def test_ta4_17h_weekend_maintenance_adds_60_minutes_and_misses() -> None:
    intervals = [
        DOWN_20,
        span(at(2026, 5, 9, 8), 9 * 60, "maintenance"),
        span(at(2026, 5, 16, 8), 8 * 60, "maintenance"),
    ]
    result = monthly_availability(intervals, 2026, 5)
    assert result.planned_minutes == 17 * 60
    assert result.planned_excluded_minutes == 960
    assert result.planned_unplanned_minutes == 60
    assert result.unplanned_minutes == 80
    assert result.pct_rounded == 99.821
    assert result.met is False


def test_ta4_17h_in_one_weekend_is_the_same() -> None:
    result = monthly_availability(
        [DOWN_20, span(at(2026, 5, 9, 6), 17 * 60, "maintenance")], 2026, 5
    )
    assert (result.unplanned_minutes, result.pct_rounded, result.met) == (80, 99.821, False)


def test_ta4_planned_work_on_a_wednesday_counts_fully_as_unplanned() -> None:
    result = monthly_availability([span(at(2026, 5, 13, 22), 60, "maintenance")], 2026, 5)
    assert result.planned_minutes == 60
    assert result.planned_excluded_minutes == 0
    assert result.planned_unplanned_minutes == 60
    assert result.unplanned_minutes == 60
    assert result.pct_rounded == 99.866
    assert result.met is False


def test_weekend_ends_monday_midnight_local() -> None:
    """Sunday 23:00 to Monday 01:00: one hour excluded, one hour unplanned."""
    result = monthly_availability([span(at(2026, 5, 10, 23), 120, "maintenance")], 2026, 5)
    assert (result.planned_excluded_minutes, result.planned_unplanned_minutes) == (60, 60)


# --- month lengths, DST, other months and years ------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "minutes"),
    [
        (2026, 5, 44_640),
        (2026, 2, 40_320),
        (2028, 2, 41_760),  # leap year
        (2026, 4, 43_200),
        (2026, 3, 44_580),  # spring forward: 31 x 1440 - 60
        (2026, 10, 44_700),  # fall back: 31 x 1440 + 60
        (2025, 12, 44_640),
    ],
)
def test_month_minutes_are_real_elapsed_local_minutes(year: int, month: int, minutes: int) -> None:
    assert monthly_availability([], year, month).minutes == minutes


def test_other_time_zone_has_no_dst_shift() -> None:
    assert monthly_availability([], 2026, 3, AvailabilityRules(tz="UTC")).minutes == 44_640


def test_dst_month_availability_and_a_window_over_the_switch() -> None:
    """Sun 29 March 2026 01:00-04:00 Brussels wall clock is 2 real hours."""
    window = (at(2026, 3, 29, 1), at(2026, 3, 29, 4), "maintenance")
    result = monthly_availability([window, span(at(2026, 3, 10, 9), 20, "down")], 2026, 3)
    assert result.planned_minutes == 120
    assert result.planned_excluded_minutes == 120
    assert result.pct == pytest.approx((44_580 - 20) / 44_580 * 100)
    assert result.pct_rounded == 99.955


def test_february_and_a_lower_target() -> None:
    down = span(at(2027, 2, 3, 9), 200, "down")
    assert monthly_availability([down], 2027, 2).met is False
    lenient = monthly_availability([down], 2027, 2, AvailabilityRules(target_pct=99.5))
    assert (lenient.pct_rounded, lenient.met) == (99.504, True)


def test_exactly_the_target_is_met() -> None:
    """44,640 x 0.1 % = 44.64 min: exactly on target is met (no float slip)."""
    down = (at(2026, 5, 5, 10), at(2026, 5, 5, 10) + timedelta(seconds=44.64 * 60), "down")
    result = monthly_availability([down], 2026, 5)
    assert (result.pct_rounded, result.met) == (99.9, True)


# --- weekends per year ----------------------------------------------------------------------------


def saturdays(first: date, count: int) -> list[date]:
    return [first + timedelta(weeks=i) for i in range(count)]


def hour_on(day: date, h: int = 10) -> Interval:
    return span(at(day.year, day.month, day.day, h), 60, "maintenance")


def test_tenth_weekend_of_the_year_counts_as_unplanned() -> None:
    """2026: weekends Jan 3 ... Feb 28 are the first nine; Mar 7 is the tenth."""
    intervals = [hour_on(day) for day in saturdays(date(2026, 1, 3), 11)]
    february = monthly_availability(intervals, 2026, 2)
    assert (february.planned_excluded_minutes, february.planned_unplanned_minutes) == (240, 0)
    march = monthly_availability(intervals, 2026, 3)
    assert (march.planned_minutes, march.planned_excluded_minutes) == (120, 0)
    assert march.planned_unplanned_minutes == 120
    generous = monthly_availability(
        intervals, 2026, 3, AvailabilityRules(max_planned_weekends_per_year=10)
    )
    assert (generous.planned_excluded_minutes, generous.planned_unplanned_minutes) == (60, 60)


def test_weekends_without_planned_work_do_not_use_the_budget() -> None:
    intervals = [hour_on(day) for day in saturdays(date(2026, 1, 3), 30)[::3]]  # 10 weekends
    assert monthly_availability(intervals, 2026, 7).planned_excluded_minutes == 0
    assert monthly_availability(intervals, 2026, 6).planned_excluded_minutes == 60


def test_weekend_across_two_months_is_one_weekend_counted_in_each_month() -> None:
    """Sat 31 Jan 20:00 - Sun 1 Feb 04:00, then 8 more weekends up to Mar 28 (9 in all)."""
    cross = (at(2026, 1, 31, 20), at(2026, 2, 1, 4), "maintenance")
    intervals = [cross, *[hour_on(day) for day in saturdays(date(2026, 2, 7), 9)]]
    january = monthly_availability(intervals, 2026, 1)
    assert (january.planned_minutes, january.planned_excluded_minutes) == (240, 240)
    february = monthly_availability(intervals, 2026, 2)
    assert (february.planned_minutes, february.planned_excluded_minutes) == (240 + 240, 480)
    march = monthly_availability(intervals, 2026, 3)
    assert (march.planned_excluded_minutes, march.planned_unplanned_minutes) == (240, 0)
    april = monthly_availability(intervals, 2026, 4)  # Apr 4 is the 10th weekend
    assert (april.planned_excluded_minutes, april.planned_unplanned_minutes) == (0, 60)


def test_weekend_across_new_year_counts_in_both_years() -> None:
    """Sat 31 Dec 2022 - Sun 1 Jan 2023; each year's budget starts on 1 January."""
    cross = (at(2022, 12, 31, 20), at(2023, 1, 1, 4), "maintenance")
    december = monthly_availability([cross], 2022, 12)
    january = monthly_availability([cross], 2023, 1)
    assert (december.planned_excluded_minutes, january.planned_excluded_minutes) == (240, 240)
    tight = AvailabilityRules(max_planned_weekends_per_year=1)
    later = [cross, hour_on(date(2023, 1, 7))]
    assert monthly_availability(later, 2023, 1, tight).planned_unplanned_minutes == 60
    # Planned work only on the Saturday (in 2022) leaves 2023's budget untouched.
    saturday_only = [hour_on(date(2022, 12, 31)), hour_on(date(2023, 1, 7))]
    assert monthly_availability(saturday_only, 2023, 1, tight).planned_excluded_minutes == 60


# --- overlaps, cuts, month boundaries ---------------------------------------------------------


def test_overlaps_worst_state_wins() -> None:
    window = span(at(2026, 5, 9, 8), 240, "maintenance")
    down_inside = span(at(2026, 5, 9, 9), 30, "down")
    degraded_inside = span(at(2026, 5, 9, 10), 30, "degraded")
    result = monthly_availability([window, down_inside, degraded_inside], 2026, 5)
    assert result.down_minutes == 30
    assert result.planned_minutes == 180
    assert result.unplanned_minutes == 30
    assert normalize([window, down_inside])[1][2] == "down"


def test_overlapping_down_intervals_count_once() -> None:
    a, b = span(at(2026, 5, 5, 10), 60, "down"), span(at(2026, 5, 5, 10, 30), 60, "down")
    result = monthly_availability([a, b, span(at(2026, 5, 5, 9), 300, "operational")], 2026, 5)
    assert (result.down_minutes, result.incidents, result.mttr_minutes) == (90, 1, 90)


def test_ongoing_interval_is_cut_at_as_of() -> None:
    ongoing: Interval = (at(2026, 5, 20, 10), None, "down")
    result = monthly_availability([ongoing], 2026, 5, as_of=at(2026, 5, 20, 12))
    assert result.down_minutes == 120
    assert result.minutes == 44_640
    assert (result.incidents, result.mttr_minutes) == (0, None)


def test_closed_intervals_after_as_of_are_not_known_yet() -> None:
    down = span(at(2026, 5, 20, 10), 180, "down")
    result = monthly_availability([down], 2026, 5, as_of=at(2026, 5, 20, 11))
    assert (result.down_minutes, result.incidents) == (60, 0)
    before = monthly_availability([down], 2026, 5, as_of=at(2026, 4, 1))
    assert (before.down_minutes, before.unplanned_minutes, before.pct) == (0, 0, 100)


def test_ongoing_interval_without_as_of_is_cut_at_month_end() -> None:
    ongoing: Interval = (at(2026, 5, 31, 23), None, "down")
    may = monthly_availability([ongoing], 2026, 5)
    assert (may.down_minutes, may.incidents) == (60, 0)
    june = monthly_availability([ongoing], 2026, 6)
    assert june.down_minutes == 43_200
    assert june.pct == 0


def test_interval_across_the_month_boundary_counts_its_part_inside() -> None:
    down = (at(2026, 4, 30, 23), at(2026, 5, 1, 1), "down")
    april, may = monthly_availability([down], 2026, 4), monthly_availability([down], 2026, 5)
    assert (april.down_minutes, may.down_minutes) == (60, 60)
    assert (april.incidents, may.incidents, may.mttr_minutes) == (0, 1, 120)


# --- MTTR ---------------------------------------------------------------------------------------


def test_mttr_joins_down_and_degraded_into_one_episode() -> None:
    intervals = intervals_from_changes(
        [
            (at(2026, 5, 4, 9), "operational"),
            (at(2026, 5, 5, 10), "down"),
            (at(2026, 5, 5, 10, 30), "degraded"),
            (at(2026, 5, 5, 11), "operational"),
            (at(2026, 5, 6, 8), "degraded"),
            (at(2026, 5, 6, 8, 20), "maintenance"),
            (at(2026, 5, 6, 9), "down"),
            (at(2026, 5, 6, 9, 10), "operational"),
        ]
    )
    result = monthly_availability(intervals, 2026, 5)
    assert result.incidents == 3
    assert result.mttr_minutes == pytest.approx((60 + 20 + 10) / 3)
    assert result.down_minutes == 40


def test_mttr_is_none_without_an_ended_episode() -> None:
    result = monthly_availability([span(at(2026, 5, 5, 10), 60, "operational")], 2026, 5)
    assert (result.mttr_minutes, result.incidents) == (None, 0)


def test_episode_ending_at_midnight_of_the_next_month_ends_in_this_month() -> None:
    down = (at(2026, 5, 31, 23), at(2026, 6, 1), "down")
    may, june = monthly_availability([down], 2026, 5), monthly_availability([down], 2026, 6)
    assert (may.incidents, june.incidents) == (1, 0)


# --- status changes, validation, output -------------------------------------------------------


def test_intervals_from_changes() -> None:
    t0, t1, t2 = at(2026, 5, 1), at(2026, 5, 2), at(2026, 5, 3)
    changes = [(t0, "operational"), (t1, "operational"), (t1, "down"), (t2, "down")]
    assert intervals_from_changes(changes) == [(t0, t1, "operational"), (t1, None, "down")]
    assert intervals_from_changes([]) == []
    with pytest.raises(Invalid):
        intervals_from_changes([(t1, "down"), (t0, "operational")])


@pytest.mark.parametrize(
    "intervals",
    [
        [(at(2026, 5, 1), None, "broken")],
        [(datetime(2026, 5, 1), None, "down")],
        [(at(2026, 5, 2), at(2026, 5, 1), "down")],
    ],
)
def test_bad_intervals_are_invalid(intervals: list[Interval]) -> None:
    with pytest.raises(Invalid):
        monthly_availability(intervals, 2026, 5)


def test_bad_month_or_zone_is_invalid() -> None:
    with pytest.raises(Invalid):
        monthly_availability([], 2026, 13)
    with pytest.raises(Invalid):
        monthly_availability([], 2026, 5, AvailabilityRules(tz="Mars/Olympus"))


def test_to_dict_is_json() -> None:
    result = monthly_availability([DOWN_20], 2026, 5).to_dict()
    assert json.loads(json.dumps(result)) == result
    assert result["pct_rounded"] == 99.955 and result["mttr_minutes"] == 20


# --- properties -----------------------------------------------------------------------------------

YEAR_START = at(2026, 1, 1)
STATE = st.sampled_from(["operational", "degraded", "down", "maintenance"])
INTERVAL = st.tuples(
    st.integers(0, 200 * 1440), st.integers(1, 4 * 1440), STATE, st.booleans()
).map(
    lambda t: (
        YEAR_START + timedelta(minutes=t[0]),
        None if t[3] else YEAR_START + timedelta(minutes=t[0] + t[1]),
        t[2],
    )
)


@settings(max_examples=150, deadline=None)
@given(st.lists(INTERVAL, max_size=25), st.integers(1, 7))
def test_properties(intervals: list[Interval], month: int) -> None:
    result = monthly_availability(intervals, 2026, month)
    assert 0 <= result.pct <= 100
    assert result.unplanned_minutes >= result.down_minutes
    assert 0 <= result.planned_excluded_minutes <= 960
    assert result.planned_excluded_minutes <= result.planned_minutes
    assert result.down_minutes + result.planned_minutes <= result.minutes
    assert result.met == (result.pct >= 99.9)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(INTERVAL, max_size=25),
    st.integers(1, 7),
    st.integers(0, 30),
    st.integers(0, 23 * 60),
    st.integers(1, 60 * 24),
)
def test_weekday_maintenance_never_raises_pct(
    intervals: list[Interval], month: int, day_offset: int, start_min: int, length: int
) -> None:
    days = [date(2026, month, 1) + timedelta(days=i) for i in range(31)]
    weekdays = [d for d in days if d.month == month and d.weekday() < 5]
    day = weekdays[day_offset % len(weekdays)]
    start = at(day.year, day.month, day.day) + timedelta(minutes=start_min)
    end = min(
        start + timedelta(minutes=length), at(day.year, day.month, day.day) + timedelta(days=1)
    )
    before = monthly_availability(intervals, 2026, month)
    after = monthly_availability([*intervals, (start, end, "maintenance")], 2026, month)
    assert after.pct <= before.pct
    assert after.planned_excluded_minutes == before.planned_excluded_minutes
