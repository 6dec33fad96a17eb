"""Event search over the store: time range, field filters, full text.

Readers with `events.read` (analysts, admins) search one tenant or every tenant they see;
each search goes through the event store's interface (`services.store.search`, SQLite or
OpenSearch) with one of the reader's visible tenants, never around them. An event that raised
an alert links to its case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from detections.models import Alert
from ingest.events import Event
from soc.core.deps import db_session
from soc.core.i18n import BRUSSELS, N_, gettext
from soc.services import Services
from soc.shell_deps import get_services
from soc.web.chrome import signed_in
from soc.web.shell import error_page, lang_of, render, to_login
from tenants.models import Tenant
from tenants.tenancy import list_tenants

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_PAGE = 40  # deeper than 2,000 events: narrow the search instead
FIELD_ROWS = 3  # empty field-filter rows on the form
MAX_FIELDS = 10
NO_RIGHT = N_("The event search is for analysts and administrators.")
BAD_TIME = N_("Give times as YYYY-MM-DD HH:MM (Brussels time).")
BAD_RANGE = N_("The end of the time range is before its start.")
NO_TENANT = N_("There is no tenant {ref} that you may see.")
STORE_DOWN = N_("The event store did not answer: try again in a moment.")


@dataclass
class Search:
    tenant: str
    start: str
    end: str
    q: str
    host: str
    fields: list[tuple[str, str]]
    page: int


def _parse_time(text: str) -> datetime | None:
    """A datetime-local value (Brussels wall time) as an aware moment; ValueError if not."""
    text = text.strip()
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace(" ", "T"))
    return moment if moment.tzinfo else moment.replace(tzinfo=BRUSSELS)


def _chosen(request: Request) -> Search:
    params = request.query_params
    names, values = params.getlist("field"), params.getlist("value")
    fields = [
        (n.strip()[:200], v.strip()[:500])
        for n, v in zip(names, values, strict=False)
        if n.strip() and v.strip()
    ][:MAX_FIELDS]
    try:
        page = max(1, min(MAX_PAGE, int(params.get("page") or 1)))
    except ValueError:
        page = 1
    return Search(
        tenant=(params.get("tenant") or "")[:100],
        start=(params.get("start") or "")[:40],
        end=(params.get("end") or "")[:40],
        q=(params.get("q") or "").strip()[:500],
        host=(params.get("host") or "").strip()[:255],
        fields=fields,
        page=page,
    )


def _merge_newest(pages: list[list[Event]], offset: int, limit: int) -> list[Event]:
    merged = sorted(
        (e for page in pages for e in page), key=lambda e: (e.event_time, e.id), reverse=True
    )
    return merged[offset : offset + limit]


def _cases_of(session: Session, tenants: list[int], events: list[Event]) -> dict[str, int]:
    """event id -> the case of an alert it raised (only among the searched tenants)."""
    if not events:
        return {}
    rows = session.execute(
        select(Alert.event_id, Alert.case_id).where(
            Alert.tenant_id.in_(tenants),
            Alert.event_id.in_([e.id for e in events]),
            Alert.case_id.is_not(None),
        )
    )
    return {event_id: case_id for event_id, case_id in rows if case_id is not None}


@router.get("/events")
def event_search(
    request: Request,
    session: Session = Depends(db_session, scope="function"),
    services: Services = Depends(get_services),
) -> Response:
    """Search the events of one tenant, or of every tenant the reader sees."""
    principal = signed_in(request, session)
    if principal is None:
        return to_login()
    lang = lang_of(request)
    if not principal.can("events.read"):
        return error_page(request, 403, gettext(lang, NO_RIGHT))
    visible = list_tenants(session, principal)
    chosen = _chosen(request)
    context: dict[str, Any] = {
        "tenants": visible,
        "chosen": chosen,
        "field_rows": chosen.fields + [("", "")] * FIELD_ROWS,
        "events": [],
        "total": None,
        "error": None,
        "names": {t.id: t.name for t in visible},
        "cases": {},
    }
    searched: list[Tenant] = visible
    if chosen.tenant:
        searched = [t for t in visible if t.slug == chosen.tenant]
        if not searched:
            return error_page(request, 404, gettext(lang, NO_TENANT).format(ref=chosen.tenant))
    try:
        start, end = _parse_time(chosen.start), _parse_time(chosen.end)
    except ValueError:
        context["error"] = gettext(lang, BAD_TIME)
        return render(request, "events.html", context, status=422, principal=principal)
    if start and end and end < start:
        context["error"] = gettext(lang, BAD_RANGE)
        return render(request, "events.html", context, status=422, principal=principal)
    offset = (chosen.page - 1) * PAGE_SIZE
    fields = dict(chosen.fields)
    total, pages = 0, []
    try:
        for tenant in searched:
            found = services.store.search(
                tenant.id,
                start,
                end,
                chosen.q or None,
                # One tenant: the page itself; several: enough of each to merge the page.
                PAGE_SIZE if len(searched) == 1 else offset + PAGE_SIZE,
                offset if len(searched) == 1 else 0,
                host=chosen.host or None,
                fields=fields or None,
            )
            total += found.total
            pages.append(found.events)
    except Exception:  # a store outage (OpenSearch down): say so, do not fail the page
        context["error"] = gettext(lang, STORE_DOWN)
        return render(request, "events.html", context, status=503, principal=principal)
    events = pages[0] if len(searched) == 1 else _merge_newest(pages, offset, PAGE_SIZE)
    base = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    last = min(MAX_PAGE, max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE))
    context |= {
        "events": events,
        "total": total,
        "cases": _cases_of(session, [t.id for t in searched], events),
        "first_shown": offset + 1 if events else 0,
        "last_shown": offset + len(events),
        "prev_url": "/events?" + urlencode([*base, ("page", chosen.page - 1)])
        if chosen.page > 1
        else None,
        "next_url": "/events?" + urlencode([*base, ("page", chosen.page + 1)])
        if chosen.page < last
        else None,
    }
    return render(request, "events.html", context, principal=principal)
