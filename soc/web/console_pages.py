"""The analyst's dashboard (`/console`, SOC analysts and admins): open cases by priority, tenant
and SLA state, the breaches due in the next hours, alerts per hour over the last day (a small
server-rendered SVG with a table beside it), the noisiest rules of the week and the log sources
that went silent. Every figure links into the queue filtered to it; all figures come from
`soc.cases.queries.dashboard`, within the reader's scope. The silent sources are the declared
ones past their own silence limit (`soc.web.sources_reads`); the meters' view of silent hosts
stays only for tenants that declared no source."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from soc.cases import queries
from soc.core.deps import SettingsDep, db_session
from soc.web import sources_reads
from soc.web.shell import error_page, page_principal, render, to_login

router = APIRouter(include_in_schema=False)
CONSOLE_ROLES = ("soc_analyst", "admin")
CHART_W, CHART_H = 480, 120


def queue_link(**filters: Any) -> str:
    return "/cases?" + urlencode([(k, str(v)) for k, v in filters.items() if v not in (None, "")])


def chart(hours: list[tuple[Any, int]]) -> dict[str, Any]:
    """Bar geometry of the alerts-per-hour chart (drawn by the template as SVG)."""
    top = max((n for _, n in hours), default=0) or 1
    width = CHART_W / max(len(hours), 1)
    bars = []
    for i, (hour, n) in enumerate(hours):
        height = round(n / top * (CHART_H - 20), 1)
        bars.append(
            {
                "x": round(i * width + 1, 1),
                "y": round(CHART_H - 14 - height, 1),
                "w": round(max(width - 2, 1), 1),
                "h": height,
                "n": n,
                "hour": hour,
            }
        )
    return {"bars": bars, "top": top, "width": CHART_W, "height": CHART_H}


@router.get("/console", response_class=HTMLResponse)
def console(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return to_login()
    if principal.role not in CONSOLE_ROLES:
        return error_page(request, 403)
    figures = queries.dashboard(session, principal, settings)
    return render(
        request,
        "console.html",
        {
            "d": figures,
            "chart": chart(figures.alerts_per_hour),
            "alerts_24h": sum(n for _, n in figures.alerts_per_hour),
            "q": queue_link,
            "silent": sources_reads.silent_panel(
                session, principal, figures.now, figures.silent_sources
            ),
        },
        principal=principal,
    )
