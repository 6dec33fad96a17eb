"""Billing months and the price table in force: month of a day, first and last day, today
(UTC), the closed months, and the price table from the settings."""

from __future__ import annotations

import calendar
import json
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.core.db import utcnow
from soc.core.errors import Invalid
from soc.core.i18n import N_
from soc.core.settings import Settings, get_settings
from tenants.billing import rules
from tenants.billing.models import ClosedMonth
from tenants.billing.rules import PriceTable


def load_prices(settings: Settings | None = None) -> PriceTable:
    """The price table from SOC_BILLING_PRICES (JSON) or SOC_BILLING_PRICES_FILE."""
    settings = settings or get_settings()
    if settings.billing_prices is not None:
        return PriceTable.parse(settings.billing_prices, "SOC_BILLING_PRICES")
    if settings.billing_prices_file is not None:
        path = settings.billing_prices_file
        try:
            data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
        except OSError as exc:
            raise Invalid(
                N_("price table file {path} cannot be read: {strerror}"),
                path=path,
                strerror=exc.strerror,
            ) from None
        except ValueError as exc:
            raise Invalid(
                N_("price table file {path} is not valid JSON: {exc}"), path=path, exc=exc
            ) from None
        return PriceTable.parse(data, f"price table file {path}")
    raise Invalid(N_("no price table: set SOC_BILLING_PRICES or SOC_BILLING_PRICES_FILE"))


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_days(month: str) -> tuple[date, date]:
    """First and last day of a month."""
    rules.check_month(month)
    year, mon = int(month[:4]), int(month[5:7])
    return date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])


def today_utc() -> date:
    """Today in UTC (callers look it up through this module, so tests can move the clock)."""
    return utcnow().date()


def closed_months(session: Session) -> set[str]:
    return set(session.scalars(select(ClosedMonth.month)))


def is_closed(session: Session, month: str) -> bool:
    return session.get(ClosedMonth, month) is not None
