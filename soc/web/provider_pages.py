"""The provider workspace (`/provider`, where a provider's users land): what is assigned to the
provider, each slot with a link to its full page. The integrator opens any provider's with
`?provider=<slug>`; everyone else without a provider gets the 403 page. What each slot holds
is built by `soc.web.provider_reads`, cut to the provider."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from kri.deps import local_day
from soc.cmdb.deps import CmdbEngineDep
from soc.core.db import utcnow
from soc.core.deps import SettingsDep, db_session
from soc.core.errors import DomainError
from soc.core.i18n import N_, gettext
from soc.web import kri_reads
from soc.web import provider_reads as reads
from soc.web.shell import error_page, lang_of, page_principal, render, to_login

router = APIRouter(include_in_schema=False)

ONLY_PROVIDERS = N_(
    "The workspace is for providers. The integrator opens one with ?provider=<name>."
)
NO_PROVIDER = N_("There is no provider {ref} that you may see.")


@router.get("/provider", response_class=HTMLResponse)
def provider_workspace(
    request: Request,
    settings: SettingsDep,
    engine: CmdbEngineDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The provider's cases, impaired CIs and events, actions and KRIs, with their deadlines."""
    principal = page_principal(request, session)
    if principal is None:
        return to_login()
    lang = lang_of(request)
    integrator = principal.is_global and principal.role in reads.INTEGRATOR_ROLES
    if principal.provider_id is None and not integrator:
        return error_page(request, 403, gettext(lang, ONLY_PROVIDERS))
    ref = (request.query_params.get("provider") or "")[:64]
    try:
        provider = kri_reads.chosen_provider(session, principal, ref if integrator else "")
    except DomainError:
        return error_page(request, 404, gettext(lang, NO_PROVIDER).format(ref=ref[:40]))
    if provider is None:
        return error_page(request, 404, gettext(lang, NO_PROVIDER).format(ref=ref[:40]))
    reader = reads.as_provider(session, principal, provider)
    today = local_day(settings, utcnow())
    context = reads.workspace(session, reader, settings, engine, provider, lang, today)
    return render(
        request,
        "provider.html",
        {
            **context,
            "provider": provider,
            "providers": kri_reads.provider_choices(session, principal) if integrator else [],
            "suffix": f"?provider={provider.slug}" if integrator else "",
            "today": today,
        },
        principal=principal,
    )
