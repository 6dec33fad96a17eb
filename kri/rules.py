"""The KRI rules as pure functions (what an auditor checks line by line): due dates in
working days after a period, RAG, achievement against the norm, the domain score and its
penalty tier (seed 004-G), on-time reporting (binary per KRI per period), repeated SLA failure.

Decimals throughout; rounding is half up. "The Nth working day after the period" counts from
the first day of the next month: March 2026 → the 3rd working day is 2026-04-03, the 6th
2026-04-09 (Easter Monday 6 April skipped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from risk.workdays import WorkCalendar

Direction = Literal["higher_better", "lower_better"]
Rag = Literal["green", "amber", "red"]
HUNDRED = Decimal(100)
TENTH = Decimal("0.1")
CENT = Decimal("0.01")
# (lowest domain score of the tier, penalty %), best tier first (seed 004-G).
DEFAULT_PENALTY_TIERS: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal(95), Decimal(0)),
    (Decimal(90), Decimal("0.5")),
    (Decimal(80), Decimal(1)),
    (Decimal(0), Decimal(2)),
)
DEFAULT_REPEATED_AFTER = 3
DEFAULT_REPEATED_TARGET_PCT = Decimal(5)


def round_half_up(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)


def parse_period(period: str) -> tuple[int, int]:
    """'YYYY-MM' → (year, month); ValueError otherwise."""
    if len(period) != 7 or period[4] != "-":
        raise ValueError(f"a period is 'YYYY-MM', got {period!r}")
    year, month = int(period[:4]), int(period[5:])
    if not 1 <= month <= 12 or year < 1900:
        raise ValueError(f"a period is 'YYYY-MM', got {period!r}")
    return year, month


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of the period."""
    year, month = parse_period(period)
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def previous_period(period: str, back: int = 1) -> str:
    year, month = parse_period(period)
    index = year * 12 + month - 1 - back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def due_after_period(calendar: WorkCalendar, period: str, working_days: int) -> date:
    """The `working_days`-th working day of the month after the period (its 1st counts)."""
    _, last = period_bounds(period)
    return calendar.after(last, working_days)


def on_time(submitted: date | None, due: date) -> bool:
    """Binary: a value is on time when it arrived on or before the due date; a missing value
    never is."""
    return submitted is not None and submitted <= due


def achievement(value: Decimal, norm: Decimal, direction: Direction) -> Decimal:
    """measured ÷ norm (norm ÷ measured when lower is better) in %, capped at 100 %, rounded
    to 0.1 % half up (seed 004-G rounds before weighting). A lower-is-better value of 0 meets
    any norm (100 %); a norm of 0 for higher-is-better is met by anything."""
    if direction == "higher_better":
        ratio = HUNDRED if norm == 0 else value / norm * HUNDRED
    else:
        ratio = HUNDRED if value == 0 else norm / value * HUNDRED
    return round_half_up(min(max(ratio, Decimal(0)), HUNDRED), TENTH)


def rag(value: Decimal, green: Decimal, amber: Decimal, direction: Direction) -> Rag:
    """Green at or past the green threshold, amber at or past amber, else red ("past" means
    above for higher-is-better, below for lower-is-better)."""
    if direction == "higher_better":
        return "green" if value >= green else "amber" if value >= amber else "red"
    return "green" if value <= green else "amber" if value <= amber else "red"


def met(value: Decimal, norm: Decimal, direction: Direction) -> bool:
    return value >= norm if direction == "higher_better" else value <= norm


@dataclass(frozen=True)
class DomainScore:
    domain: str
    score: Decimal
    penalty_pct: Decimal


def penalty(score: Decimal, tiers: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    for lowest, pct in tiers:
        if score >= lowest:
            return pct
    return tiers[-1][1]


def domain_scores(
    achievements: Iterable[tuple[str, Decimal, Decimal]],
    tiers: Sequence[tuple[Decimal, Decimal]] = DEFAULT_PENALTY_TIERS,
) -> list[DomainScore]:
    """(domain, achievement %, weight) → per domain Σ achievement × weight ÷ Σ weights, to 2
    decimals, with its penalty tier. Domains whose weights sum to 0 (e.g. "Other") have no
    score and are left out. Sorted by domain."""
    sums: dict[str, tuple[Decimal, Decimal]] = {}
    for domain, achieved, weight in achievements:
        total, weights = sums.get(domain, (Decimal(0), Decimal(0)))
        sums[domain] = (total + achieved * weight, weights + weight)
    out = []
    for domain in sorted(sums):
        total, weights = sums[domain]
        if weights == 0:
            continue
        score = round_half_up(total / weights, CENT)
        out.append(DomainScore(domain, score, penalty(score, tiers)))
    return out


def percentage(part: int, whole: int) -> Decimal:
    """part ÷ whole in %, 2 decimals half up; 100.00 when there is nothing to count."""
    if whole == 0:
        return Decimal("100.00")
    return round_half_up(Decimal(part) * HUNDRED / Decimal(whole), CENT)


def repeated_in(
    history: Mapping[str, bool], period: str, after: int = DEFAULT_REPEATED_AFTER
) -> bool:
    """An SLA is *repeated* in `period` when it missed there and in the `after - 1` periods
    before it, or missed there and was already repeated in the period before (from the 3rd
    consecutive miss until met again). `history`: period → met."""
    if history.get(period, True):
        return False
    streak = 0
    current = period
    while history.get(current) is False:
        streak += 1
        if streak >= after:
            return True
        current = previous_period(current)
    return False


def plan_due(calendar: WorkCalendar, found: date, working_days: int = 10) -> date:
    """A corrective-action plan (or the corrective actions after a miss) is due this many
    working days after the day the miss was found, not counting that day."""
    return calendar.after(found, working_days)
