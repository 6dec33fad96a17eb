"""Monthly availability and MTTR of one application (A12, TA4): pure rules an auditor can follow
line by line, fed with the application's status intervals (`intervals_from_changes` turns the
stored status changes into them).

The contract leaves these open; what this module does:

- **Overlaps.** The input may overlap; at each instant the worst state wins, in the order the
  correlation uses (down > degraded > maintenance > operational). Time no interval covers is
  operational. So down inside a maintenance window is down, degraded inside it is available.
- **Month length.** The real elapsed minutes from local midnight of the 1st to local midnight of
  the next month's 1st in `rules.tz`: a month with a DST change has 60 minutes fewer (March) or
  more (October) than days x 1440; a 01:00-04:00 window on the spring-forward night is 120 min.
- **Weekends** run from local Saturday 00:00 to Monday 00:00. A weekend spanning two months is one
  weekend for the yearly count; its minutes count in the month they fall in. The yearly count
  starts at local 1 January 00:00, so a weekend straddling New Year counts in each year it holds
  planned minutes in. A weekend takes one of the yearly weekends as soon as it holds planned
  minutes, even when the monthly cap leaves none of them excluded.
- **`as_of`.** What lies after it is not known yet: every interval is cut there. The denominator
  stays the whole month, so a month in progress shows the figure it ends with if nothing else
  happens (`met` then means "not missed yet").
- **MTTR.** An episode is a maximal run of down/degraded; it ends in the month when its end lies
  in (month start, month end] and not after `as_of`; its whole duration counts, also the part
  before the month. An ongoing episode has not ended.
- **Rounding.** Minutes and `pct` are exact (computed on microseconds and fractions); `met`
  compares the exact value with the target; `pct_rounded` (half up, 3 decimals) is for display.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from math import floor
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from soc.core.errors import Invalid
from soc.core.i18n import N_

STATES = ("operational", "maintenance", "degraded", "down")  # the worst last
IMPAIRED = frozenset({"degraded", "down"})
_RANK = {state: rank for rank, state in enumerate(STATES)}
_ONGOING = datetime.max.replace(tzinfo=UTC)
_US = timedelta(microseconds=1)
_US_PER_MINUTE = 60_000_000

Interval = tuple[datetime, datetime | None, str]
"""(start, end or None while ongoing, state): aware datetimes."""
Segment = tuple[datetime, datetime, str]
"""A piece of the normalised timeline: UTC, no overlaps, an ongoing end is `_ONGOING`."""


@dataclass(frozen=True)
class AvailabilityRules:
    """The contract's limits (A12), each a setting: the DML target is 99.5, for example."""

    target_pct: float = 99.9
    max_planned_minutes_per_month: int = 960
    max_planned_weekends_per_year: int = 9
    tz: str = "Europe/Brussels"


@dataclass(frozen=True)
class MonthlyAvailability:
    """One application's month; minutes are exact, `pct_rounded` is for display only."""

    year: int
    month: int
    minutes: int
    down_minutes: float
    planned_minutes: float
    planned_excluded_minutes: float
    planned_unplanned_minutes: float
    unplanned_minutes: float
    pct: float
    pct_rounded: float
    target_pct: float
    met: bool
    mttr_minutes: float | None
    incidents: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Invalid(
            N_("{what} must be an aware datetime, got {moment}"),
            what=what,
            moment=moment.isoformat(),
        )
    return moment.astimezone(UTC)


def _state(state: str) -> str:
    if state not in _RANK:
        raise Invalid(
            N_("unknown state {state!r}; expected one of {states}"),
            state=state,
            states=", ".join(STATES),
        )
    return state


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(N_("unknown time zone {name!r}"), name=name) from exc


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight of `day` as UTC (a midnight skipped by DST takes the earlier offset)."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _first_of_next(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1)


def intervals_from_changes(changes: Sequence[tuple[datetime, str]]) -> list[Interval]:
    """The database stores status changes; each holds until the next, the last is ongoing.
    Changes at the same instant: the later one in the list wins; a repeated state is no change."""
    kept: list[tuple[datetime, str]] = []
    for at, state in changes:
        moment, state = _utc(at, "a change's time"), _state(state)
        if kept and moment < kept[-1][0]:
            raise Invalid(N_("status changes must be sorted by time"))
        if kept and kept[-1][0] == moment:
            kept.pop()
        if kept and kept[-1][1] == state:
            continue
        kept.append((moment, state))
    ends: list[datetime | None] = [at for at, _ in kept[1:]]
    return [(at, end, state) for (at, state), end in zip(kept, [*ends, None], strict=False)]


def normalize(intervals: Iterable[Interval]) -> list[Segment]:
    """The state timeline without overlaps (the worst state wins), sorted, equal neighbours
    merged, gaps left out (operational)."""
    events: list[tuple[datetime, int, str]] = []
    for start, end, state in intervals:
        lo, state = _utc(start, "an interval's start"), _state(state)
        hi = _ONGOING if end is None else _utc(end, "an interval's end")
        if hi < lo:
            raise Invalid(N_("an interval ends before it starts: {start}"), start=start.isoformat())
        if hi > lo:
            events += [(lo, 1, state), (hi, -1, state)]
    events.sort(key=lambda event: event[0])
    active = dict.fromkeys(STATES, 0)
    timeline: list[Segment] = []
    i = 0
    while i < len(events):
        at = events[i][0]
        while i < len(events) and events[i][0] == at:
            active[events[i][2]] += events[i][1]
            i += 1
        worst = next((s for s in reversed(STATES) if active[s] > 0), None)
        if worst is None or i == len(events):
            continue
        until = events[i][0]
        if timeline and timeline[-1][1] == at and timeline[-1][2] == worst:
            timeline[-1] = (timeline[-1][0], until, worst)
        else:
            timeline.append((at, until, worst))
    return timeline


def _overlap_us(timeline: Sequence[Segment], state: str, lo: datetime, hi: datetime) -> int:
    """Microseconds in [lo, hi) that the timeline spends in `state`."""
    total = 0
    if hi <= lo:
        return total
    for start, end, seg_state in timeline:
        if start >= hi:
            break
        if seg_state == state and end > lo:
            total += (min(end, hi) - max(start, lo)) // _US
    return total


def _weekends(zone: ZoneInfo, year: int, until: datetime) -> list[tuple[datetime, datetime]]:
    """The weekends (local Sat 00:00 - Mon 00:00, as UTC) touching the year before `until`."""
    jan1 = date(year, 1, 1)
    saturday = jan1 - timedelta(days=(jan1.weekday() - 5) % 7)
    weekends: list[tuple[datetime, datetime]] = []
    while (start := _midnight(saturday, zone)) < until:
        weekends.append((start, _midnight(saturday + timedelta(days=2), zone)))
        saturday += timedelta(days=7)
    return weekends


def _eligible_weekend_us(
    timeline: Sequence[Segment],
    zone: ZoneInfo,
    year: int,
    month_window: tuple[datetime, datetime],
    max_weekends: int,
) -> int:
    """Planned microseconds of the month that fall in one of the year's first `max_weekends`
    weekends holding planned downtime (counted from local 1 January up to the month's cut)."""
    year_start = _midnight(date(year, 1, 1), zone)
    start, stop = month_window
    used = eligible = 0
    for weekend_start, weekend_end in _weekends(zone, year, stop):
        if used >= max_weekends:
            break
        lo, hi = max(weekend_start, year_start), min(weekend_end, stop)
        if _overlap_us(timeline, "maintenance", lo, hi) == 0:
            continue
        used += 1
        eligible += _overlap_us(timeline, "maintenance", max(lo, start), hi)
    return eligible


def _episodes_us(timeline: Sequence[Segment], start: datetime, stop: datetime) -> list[int]:
    """Durations of the impairment episodes that ended in (start, stop]."""
    durations: list[int] = []
    run_start: datetime | None = None
    for i, (seg_start, seg_end, state) in enumerate(timeline):
        if state not in IMPAIRED:
            continue
        if run_start is None:
            run_start = seg_start
        following = timeline[i + 1] if i + 1 < len(timeline) else None
        if following is not None and following[0] == seg_end and following[2] in IMPAIRED:
            continue
        if seg_end != _ONGOING and start < seg_end <= stop:
            durations.append((seg_end - run_start) // _US)
        run_start = None
    return durations


def _minutes(us: int | Fraction) -> float:
    return float(Fraction(us) / _US_PER_MINUTE)


def monthly_availability(
    intervals: Iterable[Interval],
    year: int,
    month: int,
    rules: AvailabilityRules | None = None,
    as_of: datetime | None = None,
) -> MonthlyAvailability:
    """Availability of (year, month) under A12. Pass the year's intervals from 1 January (the
    weekend budget is yearly) and earlier ones if an episode may have started before. Unplanned =
    down + planned minutes not excluded; excluded planned minutes stay in the denominator."""
    rules = rules or AvailabilityRules()
    if not 1 <= month <= 12:
        raise Invalid(N_("month must be 1-12, got {month}"), month=month)
    zone = _zone(rules.tz)
    start = _midnight(date(year, month, 1), zone)
    end = _midnight(_first_of_next(year, month), zone)
    stop = end if as_of is None else max(start, min(end, _utc(as_of, "as_of")))
    timeline = normalize(intervals)

    down = _overlap_us(timeline, "down", start, stop)
    planned = _overlap_us(timeline, "maintenance", start, stop)
    eligible = _eligible_weekend_us(
        timeline, zone, year, (start, stop), rules.max_planned_weekends_per_year
    )
    excluded = min(eligible, rules.max_planned_minutes_per_month * _US_PER_MINUTE)
    unplanned = down + planned - excluded
    total = (end - start) // _US
    pct = Fraction(total - unplanned, total) * 100
    episodes = _episodes_us(timeline, start, stop)
    mttr = _minutes(Fraction(sum(episodes), len(episodes))) if episodes else None
    return MonthlyAvailability(
        year=year,
        month=month,
        minutes=total // _US_PER_MINUTE,
        down_minutes=_minutes(down),
        planned_minutes=_minutes(planned),
        planned_excluded_minutes=_minutes(excluded),
        planned_unplanned_minutes=_minutes(planned - excluded),
        unplanned_minutes=_minutes(unplanned),
        pct=float(pct),
        pct_rounded=floor(pct * 1000 + Fraction(1, 2)) / 1000,
        target_pct=rules.target_pct,
        met=pct >= Fraction(str(rules.target_pct)),
        mttr_minutes=mttr,
        incidents=len(episodes),
    )
