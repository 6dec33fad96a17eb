"""Demo KRIs: the shipped catalogue, last month's and this month's computed KRIs from the
demo's own data, and the demo provider's submitted service-desk and change KRIs for last
month (one late, so the on-time record and its non-conformity show). Loaded once."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from kri import rules
from kri.catalogue import seed_catalogue
from kri.computed import compute_due
from kri.models import KriValue
from kri.submissions import submit
from risk.workdays import WorkCalendar
from soc.core.db import utcnow
from soc.core.settings import Settings
from tenants.login import principal_for
from tenants.models import User

# (KRI, value) the demo provider reported for last month; the last one arrived late.
SUBMITTED = (
    ("sd_reachability_pct", "82.5"),
    ("sd_first_contact_resolution_pct", "68"),
    ("sd_handoff_pct", "98"),
    ("change_standard_on_time_pct", "96.1"),
    ("cmdb_accuracy_pct", "97.2"),
)


def load_demo_kri(session: Session, settings: Settings, provider: str) -> int:
    """Returns the number of KRI values written (0 when some exist already)."""
    seed_catalogue(session, settings)
    if session.scalar(select(KriValue.id).limit(1)) is not None:
        return 0
    now = utcnow()
    compute_due(session, settings, now)
    user = session.scalar(select(User).where(User.username == "provider"))
    if user is not None:
        who = principal_for(session, user)
        period = rules.previous_period(f"{now:%Y-%m}")
        calendar = WorkCalendar.with_closing_days(settings.risk_extra_closing_days)
        due = rules.due_after_period(calendar, period, settings.kri_due_working_days_provider)
        on_time = datetime.combine(due - timedelta(days=1), time(9), UTC)
        for n, (kri_id, value) in enumerate(SUBMITTED):
            when = on_time if n < len(SUBMITTED) - 1 else on_time + timedelta(days=3)
            submit(session, who, settings, kri_id, period, Decimal(value), provider=provider,
                   now=when)  # fmt: skip
    return len(list(session.scalars(select(KriValue.id))))
