"""Clock calendars for SLA targets: office hours in a time zone with holidays, or 24/7.

Both answer the same two questions in aware UTC datetimes: how many clock seconds run between
two instants (`elapsed`), and when a number of clock seconds has run from an instant (`add`).
Arithmetic is done in UTC, so daylight-saving switches are counted as they happen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from soc.core.settings import Settings

MAX_DAYS = 3660  # a target never spans ten years of calendar: stop rather than loop forever


class Calendar(Protocol):
    def elapsed(self, start: datetime, end: datetime) -> float: ...

    def add(self, start: datetime, seconds: float) -> datetime: ...

    def is_open(self, at: datetime) -> bool: ...


class AlwaysOpen:
    """24/7: every second counts."""

    def elapsed(self, start: datetime, end: datetime) -> float:
        return max(0.0, (end - start).total_seconds())

    def add(self, start: datetime, seconds: float) -> datetime:
        return start + timedelta(seconds=seconds)

    def is_open(self, at: datetime) -> bool:
        return True


@dataclass(frozen=True)
class OfficeHours:
    """Working days from `opens` to `closes` local time, except holidays."""

    tz: ZoneInfo
    opens: time
    closes: time
    working_days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    holidays: frozenset[date] = field(default_factory=frozenset)

    def _windows(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open windows (UTC) from the local day of `start` onwards."""
        day = start.astimezone(self.tz).date()
        for _ in range(MAX_DAYS):
            if self.works(day):
                begin = datetime.combine(day, self.opens, self.tz).astimezone(UTC)
                end = datetime.combine(day, self.closes, self.tz).astimezone(UTC)
                yield begin, end
            day += timedelta(days=1)
        raise ValueError("no office hours within ten years: check the calendar settings")

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        return (
            local.weekday() in self.working_days
            and local.date() not in self.holidays
            and self.opens <= local.time() < self.closes
        )

    def elapsed(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        first, last = start.astimezone(self.tz).date(), end.astimezone(self.tz).date()
        if (last - first).days <= 2:
            return self._elapsed_windows(start, end)
        # Long spans: the first and last local days by their windows, the days between by
        # counting (office hours never straddle a daylight-saving switch, made at night).
        head_end = datetime.combine(first + timedelta(days=1), time(0), self.tz).astimezone(UTC)
        tail_start = datetime.combine(last, time(0), self.tz).astimezone(UTC)
        daily = (
            datetime.combine(first, self.closes) - datetime.combine(first, self.opens)
        ).total_seconds()
        middle = sum(
            daily for n in range(1, (last - first).days) if self.works(first + timedelta(days=n))
        )
        return (
            self._elapsed_windows(start, head_end) + middle + self._elapsed_windows(tail_start, end)
        )

    def works(self, day: date) -> bool:
        """A working day (weekday in the calendar, not a holiday)."""
        return day.weekday() in self.working_days and day not in self.holidays

    def _elapsed_windows(self, start: datetime, end: datetime) -> float:
        total = 0.0
        if end <= start:
            return total
        for begin, close in self._windows(start):
            if begin >= end:
                break
            lo, hi = max(begin, start), min(close, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        return total

    def add(self, start: datetime, seconds: float) -> datetime:
        left = max(0.0, seconds)
        for begin, close in self._windows(start):
            lo = max(begin, start)
            if close <= lo:
                continue
            room = (close - lo).total_seconds()
            if left <= room:
                return lo + timedelta(seconds=left)
            left -= room
        raise AssertionError("unreachable")  # _windows raises first


def office_hours(settings: Settings) -> OfficeHours:
    return OfficeHours(
        tz=ZoneInfo(settings.case_timezone),
        opens=time.fromisoformat(settings.case_office_start),
        closes=time.fromisoformat(settings.case_office_end),
        working_days=frozenset(settings.case_working_days),
        holidays=frozenset(settings.case_holidays),
    )


def runs_24x7(
    settings: Settings, tenant_slug: str, priority: str, calendar: str = "business_hours"
) -> bool:
    """Whether the tenant's contract has the clock of this priority run day and night: its
    calendar is '24x7', or the setting `case_24x7` (slug or '*' -> priorities) overrides the
    business-hours calendar for this priority (kept from before the tenant field)."""
    if calendar == "24x7":
        return True
    chosen: Iterable[str] = settings.case_24x7.get(tenant_slug, settings.case_24x7.get("*", []))
    return priority in set(chosen)


def calendar_for(settings: Settings, always: bool) -> Calendar:
    return AlwaysOpen() if always else office_hours(settings)
