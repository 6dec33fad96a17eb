"""The customer's log sources (`/sources`): the sources its tenant declared with kind, host
pattern, expected daily volume, first and last event and state (sending, silent for N hours,
never seen), and the hosts that send events but no declared source covers (to onboard). The
same reads as `/api/v1/log-sources` (`ingest.sources`); an admin looks over a customer's
shoulder with `?tenant=<slug>`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from soc.core.db import utcnow
from soc.core.deps import db_session
from soc.core.errors import DomainError
from soc.core.i18n import N_, gettext
from soc.web import portal_reads, sources_reads
from soc.web.shell import error_page, lang_of, page_principal, render, to_login

router = APIRouter(include_in_schema=False)

ONLY_CUSTOMERS = N_(
    "This page shows a customer's log sources. An administrator opens it with ?tenant=<name>."
)


@router.get("/sources", response_class=HTMLResponse)
def sources_page(
    request: Request, session: Session = Depends(db_session, scope="function")
) -> Response:
    principal = page_principal(request, session)
    if principal is None:
        return to_login()
    try:
        tenant = portal_reads.customer_tenant(
            session, principal, request.query_params.get("tenant")
        )
    except DomainError as exc:
        return error_page(request, exc.status_code, exc)
    if tenant is None:
        return error_page(request, 403, gettext(lang_of(request), ONLY_CUSTOMERS))
    now = utcnow()
    return render(
        request,
        "sources.html",
        {
            "tenant": tenant,
            "now": now,
            **sources_reads.tenant_sources(session, principal, tenant, now),
        },
        principal=principal,
    )
