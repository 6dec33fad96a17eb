"""Working days: Monday to Friday minus Belgian public holidays and extra closing days.

The ten Belgian public holidays are computed for any year (three of them move with Easter),
so deadlines far ahead or in past years need no calendar upkeep. Counting "n working days
before D" never counts D itself: due Wednesday 2026-04-08, five working days before is
Tuesday 2026-03-31 (Easter Monday 6 April is skipped).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from dateutil.easter import easter

MAX_STEPS = 3660  # ten years of calendar: stop rather than loop on a calendar with no work


@lru_cache(maxsize=256)
def belgian_holidays(year: int) -> frozenset[date]:
    """New Year, Easter Monday, Labour Day, Ascension, Whit Monday, National Day, Assumption,
    All Saints, Armistice, Christmas. A holiday on a weekend is not moved (no working day
    is lost twice)."""
    sunday = easter(year)
    return frozenset(
        {
            date(year, 1, 1),
            sunday + timedelta(days=1),
            date(year, 5, 1),
            sunday + timedelta(days=39),
            sunday + timedelta(days=50),
            date(year, 7, 21),
            date(year, 8, 15),
            date(year, 11, 1),
            date(year, 11, 11),
            date(year, 12, 25),
        }
    )


@dataclass(frozen=True)
class WorkCalendar:
    """Belgian working days, with extra closing days (collective closures) on top."""

    extra_closing_days: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def with_closing_days(cls, days: Iterable[date] = ()) -> WorkCalendar:
        return cls(frozenset(days))

    def works(self, day: date) -> bool:
        return (
            day.weekday() < 5
            and day not in belgian_holidays(day.year)
            and day not in self.extra_closing_days
        )

    def before(self, day: date, n: int) -> date:
        """The n-th working day before `day`, not counting `day` itself (n = 0: `day`)."""
        return self._step(day, n, -1)

    def after(self, day: date, n: int) -> date:
        """The n-th working day after `day`, not counting `day` itself (n = 0: `day`)."""
        return self._step(day, n, 1)

    def between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.works(day)
        return count

    def _step(self, day: date, n: int, direction: int) -> date:
        if n < 0:
            raise ValueError("a number of working days is never negative")
        left, steps = n, 0
        while left:
            try:
                day += timedelta(days=direction)
            except OverflowError:
                raise ValueError("no working day before year 1 or after year 9999") from None
            steps += 1
            if steps > MAX_STEPS:
                raise ValueError("no working day within ten years: check the closing days")
            left -= self.works(day)
        return day
