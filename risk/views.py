"""What the register looks like as a whole, for the API and the pages: the heat map
(likelihood × impact, inherent beside residual) and the trend by month.

Both count the risks the principal sees (`risk.visibility`); the heat map counts open risks
(not closed).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from risk.matrix import BANDS, Matrix, heat_map, matrix_from
from risk.models import Risk, RiskAcceptance
from risk.visibility import risk_filter
from soc.core.principal import Principal
from soc.core.settings import Settings

LANGUAGES = ("en", "nl")


def _visible_risks(session: Session, principal: Principal) -> list[Risk]:
    principal.require("risk.read")
    return list(session.scalars(select(Risk).where(risk_filter(principal)).order_by(Risk.id)))


def heat_map_for(session: Session, principal: Principal, settings: Settings) -> dict[str, Any]:
    """`inherent` and `residual`: rows from the highest likelihood down, cells from the
    lowest impact up, each {likelihood, impact, score, band, count} over the open risks the
    principal sees; `labels`: the axis labels per language; `total`: the risks counted."""
    matrix = matrix_from(settings)
    risks = [r for r in _visible_risks(session, principal) if r.status != "closed"]
    inherent = heat_map(matrix, ((r.likelihood, r.impact) for r in risks))
    residual = heat_map(matrix, ((r.residual_likelihood, r.residual_impact) for r in risks))
    return {
        "inherent": [[asdict(c) for c in row] for row in inherent],
        "residual": [[asdict(c) for c in row] for row in residual],
        "labels": {
            "likelihood": {
                lang: [
                    matrix.label("likelihood", n, lang)
                    for n in range(1, len(matrix.likelihood) + 1)
                ]
                for lang in LANGUAGES
            },
            "impact": {
                lang: [matrix.label("impact", n, lang) for n in range(1, len(matrix.impact) + 1)]
                for lang in LANGUAGES
            },
        },
        "total": len(risks),
    }


def _month_starts(months: int, today: date) -> list[date]:
    first = today.replace(day=1)
    starts = [first]
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
        starts.append(first)
    return starts[::-1]


def _next_month(start: date) -> date:
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _default_bands() -> Matrix:
    bands = Settings.model_fields["risk_matrix_bands"].get_default(call_default_factory=True)
    medium, high, critical = bands
    return Matrix(likelihood=(), impact=(), bands=(medium, high, critical))


def trend(
    session: Session,
    principal: Principal,
    months: int,
    today: date,
    *,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """One entry per month, oldest first, the last one being today's month (counted up to
    the month's end): `open` (created by then and not closed at the month's end), `new`
    (created in the month), `closed` (closed in the month), `by_band` (the open ones by
    residual band) and `accepted` (risks whose acceptance held at the month's end).

    The register keeps no history of scores by date, so `by_band` uses each risk's current
    residual score; a reopened risk no longer counts as closed in the month it was closed.
    The bands are those of `settings` (default: the default bands)."""
    months = max(1, min(months, 120))
    matrix = matrix_from(settings) if settings is not None else _default_bands()
    risks = _visible_risks(session, principal)
    ids = [r.id for r in risks]
    accepted = (
        list(
            session.execute(
                select(
                    RiskAcceptance.risk_id, RiskAcceptance.decided_at, RiskAcceptance.ended_at
                ).where(
                    RiskAcceptance.risk_id.in_(ids),
                    RiskAcceptance.status.in_(("accepted", "ended")),
                    RiskAcceptance.decided_at.is_not(None),
                )
            )
        )
        if ids
        else []
    )
    out = []
    for start in _month_starts(months, today):
        end = _next_month(start) - timedelta(days=1)
        by_band = dict.fromkeys(BANDS, 0)
        opened = new = closed = 0
        for risk in risks:
            created, closed_on = risk.created_at.date(), _day(risk.closed_at)
            if start <= created <= end:
                new += 1
            if closed_on is not None and start <= closed_on <= end:
                closed += 1
            if created <= end and (closed_on is None or closed_on > end):
                opened += 1
                score = risk.residual_likelihood * risk.residual_impact
                by_band[matrix.band(score)] += 1
        holding = {
            risk_id
            for risk_id, decided, ended in accepted
            if decided is not None
            and decided.date() <= end
            and (ended is None or ended.date() > end)
        }
        out.append(
            {
                "month": start.strftime("%Y-%m"),
                "open": opened,
                "new": new,
                "closed": closed,
                "by_band": by_band,
                "accepted": len(holding),
            }
        )
    return out
