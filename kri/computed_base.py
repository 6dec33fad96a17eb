"""What every computed KRI shares: the subject it is computed for (a tenant, a provider, or
end to end), the period's bounds in the feed's time zone, and the shape of a result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from kri.rules import parse_period, period_bounds
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.settings import Settings

# A computation's value and its breakdown (KriValue.detail).
Figure = tuple[Decimal | None, dict[str, Any]]


@dataclass(frozen=True)
class Subject:
    """A tenant (tenant_id), a provider (provider_id) or end to end (neither)."""

    tenant_id: int | None = None
    provider_id: int | None = None

    @property
    def kind(self) -> str:
        if self.tenant_id is not None:
            return "customer"
        return "provider" if self.provider_id is not None else "end_to_end"


END_TO_END = Subject()


@dataclass(frozen=True)
class Window:
    """A period: its first and last local day, and [start, end) as aware UTC instants
    (local midnights in settings.dwh_timezone)."""

    period: str
    first: date
    last: date
    start: datetime
    end: datetime


def window(settings: Settings, period: str) -> Window:
    first, last = period_bounds(period)
    zone = ZoneInfo(settings.dwh_timezone)
    start = datetime.combine(first, time(0), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC)
    return Window(period, first, last, start, end)


def quantize(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def check_period(period: str) -> str:
    """A period 'YYYY-MM' from 1900-01 to 9998-12 (a day past it must exist); else Invalid."""
    try:
        year, _ = parse_period(period)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    if year > 9998:
        raise Invalid(N_("a period is 1900-01 to 9998-12, got {period!r}"), period=period)
    return period
