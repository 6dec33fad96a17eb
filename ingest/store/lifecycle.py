"""Index lifecycle of the OpenSearch event store: which index an event goes to, and when an
index is full or expired.

An event's index is chosen by its EVENT time, so a replayed event always meets its first copy
(`op_type=create` on the same `_id` refuses it). The span of an index depends on the tenant's
size class: a month for small tenants (12 indices a year, not 365), an ISO week or a day for
large ones. A span that outgrows the primary-size target is closed (write block) and a next
generation opened; an event whose span has more than one index is first looked up in the
others (see OpenSearchEventStore.write), which keeps "stored once" across generations, class
changes and the old daily indices.

Names: `{prefix}-{tenant}-{token}-{generation:06d}` with token `2026.12` (month), `2026w49`
(ISO week) or `2026.12.03` (day); the old daily indices are `{prefix}-{tenant}-2026.12.03`.
Every name matches the tenant pattern `{prefix}-{tenant}-*`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

Period = Literal["month", "week", "day"]
GB = 1024**3
DEFAULT_PRIMARY_GB = 30  # OpenSearch's guidance: a few tens of GB per shard
# Monthly primary bytes (in targets) at which a tenant's span gets shorter: above one target a
# month would need generations, so weeks; above ~17 (about 4 generations a week) days, which
# bounds the older generations a write has to look its ids up in.
WEEK_FROM_MONTH_FACTOR = 1.0
DAY_FROM_MONTH_FACTOR = 30 / 7 * 4
ISM_SPAN_MARGIN_DAYS = 31  # ISM ages from creation: keep a whole span past the retention


@dataclass(frozen=True)
class IndexName:
    """What an event index's name says: tenant, time span [start, end), generation (0 = the
    old daily scheme, which has none)."""

    name: str
    tenant_id: int
    token: str
    generation: int
    start: datetime
    end: datetime

    @property
    def span_key(self) -> str:
        return self.token


def period_for(primary_bytes_per_month: float, primary_gb: float = DEFAULT_PRIMARY_GB) -> Period:
    """The span for a tenant of this volume (primary bytes, replicas not counted)."""
    target = primary_gb * GB
    if primary_bytes_per_month <= target * WEEK_FROM_MONTH_FACTOR:
        return "month"
    if primary_bytes_per_month <= target * DAY_FROM_MONTH_FACTOR:
        return "week"
    return "day"


def token_for(when: datetime, period: Period) -> str:
    day = when.astimezone(UTC)
    if period == "month":
        return day.strftime("%Y.%m")
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}w{week:02d}"
    return day.strftime("%Y.%m.%d")


_MONTH = re.compile(r"^(\d{4})\.(\d{2})$")
_WEEK = re.compile(r"^(\d{4})w(\d{2})$")
_DAY = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})$")


def span_of(token: str) -> tuple[datetime, datetime] | None:
    """[start, end) of a token, None if it is not one."""
    try:
        if m := _MONTH.match(token):
            start = datetime(int(m[1]), int(m[2]), 1, tzinfo=UTC)
            nxt = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
            return start, nxt
        if m := _WEEK.match(token):
            monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
            return start, start + timedelta(days=7)
        if m := _DAY.match(token):
            start = datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
            return start, start + timedelta(days=1)
    except ValueError:
        return None
    return None


def index_name(prefix: str, tenant_id: int, token: str, generation: int) -> str:
    return f"{prefix}-{tenant_id}-{token}-{generation:06d}"


def parse_index(prefix: str, name: str) -> IndexName | None:
    """The parts of an event index's name; None for anything else under the prefix."""
    if not name.startswith(prefix + "-"):
        return None
    tenant, _, rest = name[len(prefix) + 1 :].partition("-")
    if not tenant.isdigit() or not rest:
        return None
    token, generation = rest, 0
    head, _, tail = rest.rpartition("-")
    if head and len(tail) == 6 and tail.isdigit():
        token, generation = head, int(tail)
    span = span_of(token)
    if span is None or (generation == 0 and not _DAY.match(token)):
        return None
    return IndexName(name, int(tenant), token, generation, span[0], span[1])


def replicas_for(setting: int | None, data_nodes: int) -> int:
    """The replica count: the setting, else 0 on one node (a replica could never be assigned)
    and 1 on a cluster."""
    if setting is not None:
        return setting
    return 0 if data_nodes <= 1 else 1


def policy_id(prefix: str, retention_days: int) -> str:
    return f"{prefix}-retention-{retention_days}d"


def ism_policy(retention_days: int, primary_gb: float = DEFAULT_PRIMARY_GB) -> dict[str, Any]:
    """The Index State Management policy for indices kept `retention_days`: a full index
    (primary store at the target) gets a write block, which makes the store open the span's
    next generation, and every index is deleted once its newest event can be past retention
    (ISM counts from index creation, so a span's length is added). The daily beat task enforces
    the exact cut-off (and does it all where ISM is not installed)."""
    delete_after = f"{retention_days + ISM_SPAN_MARGIN_DAYS}d"
    to_delete = {"state_name": "delete", "conditions": {"min_index_age": delete_after}}
    return {
        "policy": {
            "description": f"SOC events: close at {primary_gb:g} GB, delete after "
            f"{retention_days} days",
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "actions": [],
                    "transitions": [
                        to_delete,
                        {"state_name": "full", "conditions": {"min_size": f"{primary_gb:g}gb"}},
                    ],
                },
                {"name": "full", "actions": [{"read_only": {}}], "transitions": [to_delete]},
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
        }
    }


def indices_per_year(primary_bytes_per_month: float, primary_gb: float = DEFAULT_PRIMARY_GB) -> int:
    """How many indices (each one primary) a tenant of this volume has over 12 months: the
    spans of its period, each with as many generations as the target size needs."""
    period = period_for(primary_bytes_per_month, primary_gb)
    spans = {"month": 12, "week": 52, "day": 365}[period]
    per_span = primary_bytes_per_month * 12 / spans
    generations = max(1, math.ceil(per_span / (primary_gb * GB)))
    return spans * generations


def daily_indices_per_year(primary_bytes_per_month: float) -> int:
    """The old scheme: one single-shard index per day with events."""
    return 365 if primary_bytes_per_month > 0 else 0
