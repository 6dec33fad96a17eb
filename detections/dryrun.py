"""Dry-run a new or changed tenant rule over the tenant's recent stored events before it is
stored: a rule that matches a large share of ordinary traffic would open a flood of cases (and
bill them), so above a match-rate limit the upload is refused unless the uploader insists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from detections.engine import CompiledRule
from detections.hunting import HuntRule
from detections.tenant_view import TenantView
from ingest.store.base import EventStore
from soc.core.db import utcnow


@dataclass(frozen=True)
class DryRun:
    """What the rule would have matched among the tenant's newest stored events."""

    days: int
    sampled: int
    matched: int
    limit: float  # the refused match rate, a fraction of the sample
    min_events: int = 1  # a smaller sample says too little to refuse by
    forced: bool = False

    @property
    def rate(self) -> float:
        return self.matched / self.sampled if self.sampled else 0.0

    @property
    def over_limit(self) -> bool:
        return self.sampled >= max(1, self.min_events) and self.rate > self.limit

    def message(self) -> str:
        return (
            f"the rule matches {self.matched} of the tenant's {self.sampled} newest stored "
            f"events of the last {self.days} days ({self.rate:.1%}), above the "
            f"{self.limit:.1%} limit: every match opens or grows a case"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "days": self.days,
            "sampled": self.sampled,
            "matched": self.matched,
            "rate": round(self.rate, 4),
            "limit": self.limit,
            "min_events": self.min_events,
            "over_limit": self.over_limit,
            "forced": self.forced,
        }


def dry_run(
    store: EventStore,
    view: TenantView,
    rule: CompiledRule,
    days: int,
    max_events: int,
    limit: float,
    min_events: int = 1,
    now: datetime | None = None,
) -> DryRun:
    """Match ``rule`` (the tenant's field map and exceptions applied, as at ingest) against the
    tenant's newest ``max_events`` stored events of the last ``days`` days (over the limit only
    with at least ``min_events`` of them). One bounded store read, no writes: the upload's
    transaction holds no lock meanwhile."""
    now = now or utcnow()
    page = store.search(view.tenant_id, start=now - timedelta(days=days), limit=max_events)
    hunt = HuntRule(rule, view.field_map)
    matched = 0
    for event in page.events:
        if (
            hunt.matches(event.data)
            and view.suppressed(rule.id, view.mapped(event.data), now) is None
        ):
            matched += 1
    return DryRun(days, len(page.events), matched, limit, min_events)
