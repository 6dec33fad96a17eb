"""The KRI pages (issue 13, item 9): the customer's KRI and compliance status (RAG tiles, a
trend line per KRI, drill-down to the cases or actions behind a figure, domain scores with
their penalty tier, the report archive), the provider's submission page with its deadlines
(a form per KRI and a CSV upload), and the authority's end-to-end view with every provider's
on-time record, the repeated SLAs and the end-to-end reports. Dutch and English.

Server-rendered like `soc.web.risk_pages`, with the same session cookie and CSRF token. The
routes check who reads; what each page shows is built by `soc.web.kri_reads` and
`soc.web.kri_records` (cut by the principal: another tenant named in the query is the same 404
as a missing one). The forms call `kri.submissions`, which checks the role and the KRI's owner
again, and go back to the page with `done=` or `error=`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from kri import submissions
from kri.deps import local_day
from kri.schemas import SubmissionIn
from soc.core.db import utcnow
from soc.core.deps import SESSION_COOKIE, SettingsDep, db_session
from soc.core.errors import DomainError, Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.settings import Settings
from soc.web import kri_reads as reads
from soc.web import kri_records as records
from soc.web.chrome import form_token, lang_of, same_token, signed_in
from soc.web.shell import base_context, remember_lang, said, templates
from soc.web.texts import TEXT

router = APIRouter(include_in_schema=False)
STYLE = Path(__file__).parent / "static" / "kri.css"
FORGED = "This form expired or was sent from another site: reload the page and try again."
DONE = ("submitted", "uploaded")
MAX_UPLOAD = submissions.MAX_UPLOAD_BYTES


def today(settings: Settings) -> date:
    """Today in the KRIs' time zone (Europe/Brussels, settings.dwh_timezone)."""
    return local_day(settings, utcnow())


def _page(
    request: Request, name: str, principal: Principal, context: dict[str, Any], status: int = 200
) -> Response:
    done = request.query_params.get("done")
    response = templates.TemplateResponse(
        request,
        name,
        {
            **base_context(request, principal),
            "is_provider": principal.provider_id is not None,
            "may_submit": principal.can("kri.submit"),
            "sees_authority": _is_authority(principal),
            "done": done if done in DONE else None,
            "error": (request.query_params.get("error") or "")[:300] or None,
            **context,
        },
        status_code=status,
    )
    remember_lang(request, response)
    return response


def _to_login() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _refused(request: Request, principal: Principal, status: int, key: str) -> Response:
    message = TEXT[lang_of(request)][key]
    return _page(request, "kri_refused.html", principal, {"message": message}, status)


def _is_authority(principal: Principal) -> bool:
    """The end-to-end view: the authority and the unscoped integrator."""
    return principal.is_global and principal.role in ("authority", "admin", "soc_analyst")


def _may_provide(principal: Principal) -> bool:
    """The submission page: a provider's users, and the unscoped integrator for any one."""
    return principal.can("kri.submit") and (
        principal.provider_id is not None or principal.is_global
    )


@router.get("/kri/static/kri.css")
def style() -> Response:
    return FileResponse(STYLE, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/kri", response_class=HTMLResponse)
def customer_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """A customer's KRI and compliance status (global users and providers pick a tenant)."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not principal.can("kri.read"):
        return _refused(request, principal, 403, "kri_no_rights")
    query = request.query_params
    try:
        tenant = reads.chosen_tenant(session, principal, (query.get("tenant") or "")[:64])
    except DomainError:
        return _refused(request, principal, 404, "kri_not_found")
    context = reads.customer_view(
        session, principal, settings, tenant, query.get("period"), lang_of(request), today(settings)
    )
    return _page(request, "kri_customer.html", principal, context)


@router.get("/kri/provider", response_class=HTMLResponse)
def provider_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """A provider's KRIs to submit with their due dates and statuses, and the forms."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not _may_provide(principal):
        return _refused(request, principal, 403, "kri_only_provider")
    query = request.query_params
    try:
        provider = reads.chosen_provider(session, principal, (query.get("provider") or "")[:64])
    except DomainError:
        return _refused(request, principal, 404, "kri_not_found")
    context = records.provider_view(
        session,
        principal,
        settings,
        provider,
        query.get("period"),
        lang_of(request),
        today(settings),
    )
    return _page(request, "kri_provider.html", principal, context)


@router.get("/kri/authority", response_class=HTMLResponse)
def authority_page(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """End to end: every provider's on-time record, repeated SLAs, domain scores, reports."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not _is_authority(principal):
        return _refused(request, principal, 403, "kri_only_authority")
    period = request.query_params.get("period")
    context = records.authority_view(
        session, principal, settings, period, lang_of(request), today(settings)
    )
    return _page(request, "kri_authority.html", principal, context)


def _back(provider: str, period: str, **outcome: str) -> Response:
    query = {k: v for k, v in (("provider", provider), ("period", period)) if v}
    return RedirectResponse(f"/kri/provider?{urlencode(query | outcome)}", status_code=303)


def _act(
    request: Request,
    session: Session,
    csrf: str,
    action: Callable[[Principal], Any],
    back: Callable[..., Response],
    done: str,
) -> Response:
    """Run one form's action for the signed-in user; back to the page with the outcome."""
    principal = signed_in(request, session)
    if principal is None:
        return _to_login()
    if not same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf):
        return HTMLResponse(FORGED, status_code=403)
    try:
        with session.begin_nested():
            action(principal)
    except DomainError as exc:
        return back(error=said(request, exc)[:300])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return back(error=f"{where}: {first.get('msg', 'invalid')}"[:300])
    return back(done=done)


@router.post("/kri/provider/submit")
def submit_form(
    request: Request,
    settings: SettingsDep,
    kri: str = Form(default="", max_length=64),
    period: str = Form(default="", max_length=7),
    value: str = Form(default="", max_length=32),
    tenant: str = Form(default="", max_length=64),
    provider: str = Form(default="", max_length=64),
    csrf: str = Form(default="", max_length=200),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """One value of one submitted KRI for the period (and tenant, for per-customer KRIs)."""

    def run(principal: Principal) -> Any:
        data = SubmissionIn.model_validate(
            {"kri": kri, "period": period, "value": value.strip() or None}
            | {"tenant": tenant or None, "provider": provider or None}
        )
        return submissions.submit(
            session, principal, settings, data.kri, data.period, data.value,
            data.tenant, data.provider,
        )  # fmt: skip

    def back(**outcome: str) -> Response:
        return _back(provider, reads.period_of(period, ""), **outcome)

    return _act(request, session, csrf, run, back, "submitted")


@router.post("/kri/provider/upload")
async def upload_form(
    request: Request,
    settings: SettingsDep,
    file: UploadFile = File(...),
    provider: str = Form(default="", max_length=64),
    period: str = Form(default="", max_length=7),
    csrf: str = Form(default="", max_length=200),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """A CSV of values (columns kri, period, value, tenant, provider): all rows or none."""
    content = await file.read(MAX_UPLOAD + 1)

    def run(principal: Principal) -> Any:
        if len(content) > MAX_UPLOAD:
            raise Invalid(N_("the file is at most {max_upload} bytes"), max_upload=MAX_UPLOAD)
        report = submissions.upload(session, principal, settings, content)
        if not report.applied:
            wrong = [f"row {r.row}: {r.message}" for r in report.report if r.status == "error"]
            raise Invalid("; ".join(wrong[:5]) or "the file holds no values")
        return report

    def back(**outcome: str) -> Response:
        return _back(provider, reads.period_of(period, ""), **outcome)

    return _act(request, session, csrf, run, back, "uploaded")
