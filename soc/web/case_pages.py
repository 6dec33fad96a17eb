"""One security case: its rule, alerts, events, timeline, triage, merge, split, evidence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from soc.cases import builtin_rules, evidence, itsm_remote, merging, sla
from soc.cases import service as cases
from soc.cases.itsm_remote import RemoteTicket
from soc.cases.models import Asset
from soc.cases.upload import read_upload
from soc.core.db import utcnow
from soc.core.deps import SESSION_COOKIE, SettingsDep, db_session
from soc.core.error_texts import domain_text
from soc.core.errors import DomainError
from soc.core.i18n import BRUSSELS, N_, gettext
from soc.core.principal import Principal
from soc.core.schemas import parse_id
from soc.core.settings import Settings
from soc.services import Services
from soc.shell_deps import get_services
from soc.web.chrome import form_token, same_token, signed_in
from soc.web.forms import FORGED
from soc.web.matched import matched_fields, rule_values
from soc.web.shell import ERROR_TITLES, error_page, lang_of, render, to_login
from soc.web.timeline_text import attack_link, sentence
from tenants.models import Provider, Tenant, User

router = APIRouter(include_in_schema=False)

NO_CASE = N_("There is no case {ref} that you may see.")
PIVOT_MARGIN = timedelta(hours=1)


def rule_facts(
    services: Services, session: Session, tenant_id: int, rule_id: str, lang: str = "en"
) -> dict[str, Any]:
    """What the case page shows of its Sigma rule (the tenant's own version when it has one):
    description, ATT&CK tags with links, false positives, references; for a built-in check
    (`soc.cases.builtin_rules`, not a Sigma rule) the same from its registry."""
    view = services.detector.views.get(session, tenant_id)
    rule = view.rules.get(rule_id) or next(
        (r for r in services.ruleset.rules if r.id == rule_id), None
    )
    if rule is None:
        builtin = builtin_rules.facts(rule_id, lang)
        if builtin is None:
            return {}
        tags = [(t, attack_link(t)) for t in builtin["tags"]]
        return {**builtin, "tags": tags, "enabled": True}
    sigma = getattr(rule, "sigma_rule", None)
    return {
        "title": rule.title,
        "description": rule.description or (getattr(sigma, "description", None) if sigma else None),
        "status": rule.status,
        "tags": [(t, attack_link(t)) for t in rule.tags],
        "falsepositives": [str(f) for f in (getattr(sigma, "falsepositives", None) or [])],
        "references": [str(r) for r in (getattr(sigma, "references", None) or [])],
        "enabled": view.is_enabled(rule_id),
    }


def _local(moment: datetime) -> str:
    """A moment as the event search's time fields take it: Brussels wall time."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(BRUSSELS).strftime("%Y-%m-%dT%H:%M")


def _error_text(lang: str, status: int, message: str) -> str:
    """An error for the page: the translated kind of failure, then the service's detail."""
    title = gettext(lang, ERROR_TITLES.get(status, ERROR_TITLES[400]))
    return f"{title}: {message}"


def _not_found(request: Request, ref: str) -> Response:
    return error_page(request, 404, gettext(lang_of(request), NO_CASE).format(ref=ref[:40]))


@router.get("/cases/{case_ref}")
def case_detail(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    error: str | None = None,
    session: Session = Depends(db_session, scope="function"),
    services: Services = Depends(get_services),
) -> Response:
    """One case: SLA, rule, asset, alerts, matching events with matched fields, timeline as
    sentences, evidence, triage, merge and split."""
    principal = signed_in(request, session)
    if principal is None:
        return to_login()
    case_id = parse_id(case_ref)
    if case_id is None:  # not a row id (text, or past 64 bits): no such case
        return _not_found(request, case_ref)
    try:
        case = cases.get_case(session, principal, case_id)
    except DomainError as exc:
        if exc.status_code == 404:
            return _not_found(request, case_ref)
        return error_page(request, exc.status_code, exc)
    lang = lang_of(request)
    alerts = cases.case_alerts(session, principal, case_id) if principal.can("alerts.read") else []
    events = []
    if alerts:
        values = rule_values(services.ruleset, case.rule_id)
        stored = services.store.get_many(case.tenant_id, [a.event_id for a in alerts])
        events = [(e, matched_fields(values, e.data)) for e in stored]
    asset = session.scalar(
        select(Asset).where(Asset.tenant_id == case.tenant_id, Asset.host == case.host)
    )
    providers = list(session.scalars(select(Provider).order_by(Provider.slug)))
    names: dict[Any, str] = {p.slug: p.name for p in providers} | {p.id: p.name for p in providers}
    timeline = [
        (e, sentence(lang, e.kind, e.actor, orjson.loads(e.detail), names))
        for e in cases.case_timeline(session, principal, case_id)
    ]
    tenant = session.get(Tenant, case.tenant_id)
    pivot = None
    if principal.can("events.read") and tenant is not None:
        pivot = "/events?" + urlencode(
            {
                "tenant": tenant.slug,
                "host": case.host,
                "start": _local(case.first_seen - PIVOT_MARGIN),
                "end": _local(case.last_seen + PIVOT_MARGIN),
            }
        )
    return render(
        request,
        "case.html",
        {
            "case": case,
            "clocks": sla.clocks(settings, case, utcnow()),
            "tenant": tenant,
            "provider": session.get(Provider, case.provider_id) if case.provider_id else None,
            "assignee": session.get(User, case.assignee_id) if case.assignee_id else None,
            "asset": asset,
            "alerts": alerts,
            "events": events,
            "timeline": timeline,
            "rule": rule_facts(services, session, case.tenant_id, case.rule_id, lang_of(request)),
            "evidence": evidence.list_for_case(session, principal, case_id),
            "remote_tickets": remote_tickets(settings, session, case_id),
            "can_manage": principal.can("cases.manage"),
            "can_assign": principal.can("cases.assign"),
            "can_update": principal.can("cases.update"),
            "can_comment": principal.can("cases.comment"),
            "targets": sorted(cases.TRANSITIONS.get(case.status, ())),
            "providers": providers,
            "pivot": pivot,
            "error": error,
        },
        principal=principal,
    )


def remote_tickets(
    settings: Settings, session: Session, case_id: int
) -> list[tuple[RemoteTicket, str | None]]:
    """The case's ServiceNow / 4me tickets, newest first, with a link into ServiceNow."""
    rows = itsm_remote.for_case(session, case_id)
    return [(t, itsm_remote.link(settings.servicenow_url, t)) for t in reversed(rows)]


def _act(
    request: Request,
    case_ref: str,
    csrf: str,
    session: Session,
    action: Callable[[Principal, int], Any],
) -> Response:
    """Run one action for the signed-in user; back to the case it leads to, with any error
    (translated) on the page."""
    principal = signed_in(request, session)
    if principal is None:
        return to_login()
    lang = lang_of(request)
    if not same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf):
        return error_page(request, 403, gettext(lang, FORGED))
    case_id = parse_id(case_ref)
    if case_id is None:
        return _not_found(request, case_ref)
    target = f"/cases/{case_id}"
    try:
        with session.begin_nested():
            result = action(principal, case_id)
    except DomainError as exc:
        shown = _error_text(lang, exc.status_code, domain_text(lang, exc))
        return RedirectResponse(f"{target}?{urlencode({'error': shown})}", status_code=303)
    if isinstance(result, int):  # the action leads to another case (merge, split)
        target = f"/cases/{result}"
    return RedirectResponse(target, status_code=303)


@router.post("/cases/{case_ref}/assign")
def assign_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    assignee: str = Form(default=""),
    provider: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _act(
        request,
        case_ref,
        csrf,
        session,
        lambda p, case_id: cases.assign(
            session, p, case_id, assignee or None, provider or None, settings=settings
        ),
    )


@router.post("/cases/{case_ref}/status")
def status_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    status: str = Form(...),
    note: str = Form(default=""),
    root_cause: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _act(
        request,
        case_ref,
        csrf,
        session,
        lambda p, case_id: cases.change_status(
            session, p, case_id, status, note or None, root_cause or None, settings=settings
        ),
    )


@router.post("/cases/{case_ref}/comment")
def comment_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    text: str = Form(...),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _act(
        request,
        case_ref,
        csrf,
        session,
        lambda p, case_id: cases.comment(session, p, case_id, text, settings=settings),
    )


@router.post("/cases/{case_ref}/priority")
def priority_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    impact: str = Form(default=""),
    urgency: str = Form(default=""),
    reason: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _act(
        request,
        case_ref,
        csrf,
        session,
        lambda p, case_id: cases.set_priority(
            session, p, case_id, reason, impact or None, urgency or None, settings=settings
        ),
    )


@router.post("/cases/{case_ref}/escalate")
def escalate_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    reason: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    return _act(
        request,
        case_ref,
        csrf,
        session,
        lambda p, case_id: cases.escalate(session, p, case_id, reason, settings=settings),
    )


NOT_A_CASE = N_("Give the number of the case to merge into.")
NO_ALERTS = N_("Tick the alerts to split off.")


@router.post("/cases/{case_ref}/merge")
def merge_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    into: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Merge this case into another (its alerts move; this one closes as merged)."""
    target_id = parse_id(into.strip().lstrip("#"))
    lang = lang_of(request)

    def run(p: Principal, case_id: int) -> int:
        if target_id is None:
            raise _Refused(gettext(lang, NOT_A_CASE))
        return merging.merge(session, p, target_id, [case_id], settings=settings).id

    return _act(request, case_ref, csrf, session, run)


class _Refused(DomainError):
    status_code = 422
    code = "invalid"


@router.post("/cases/{case_ref}/split")
def split_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    alert: list[str] = Form(default=[]),
    title: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Split the ticked alerts off into a new case (the page then shows the new case)."""
    ids = [i for i in (parse_id(a) for a in alert[:1000]) if i is not None]
    lang = lang_of(request)

    def run(p: Principal, case_id: int) -> int:
        if not ids:
            raise _Refused(gettext(lang, NO_ALERTS))
        new = merging.split(
            session, p, case_id, ids, title.strip()[:300] or None, settings=settings
        )
        return new.id

    return _act(request, case_ref, csrf, session, run)


@router.post("/cases/{case_ref}/evidence")
async def evidence_form(
    case_ref: str,
    request: Request,
    settings: SettingsDep,
    csrf: str = "",
    services: Services = Depends(get_services),
) -> Response:
    """Attach a file from the page (multipart field `file`; the form token rides in the
    query, so the body is checked before it is read and read no further than the limit)."""
    case_id = parse_id(case_ref)
    lang = lang_of(request)

    def allowed() -> Principal | Response:
        with services.db.read_session() as session:
            principal = signed_in(request, session)
            if principal is None:
                return to_login()
            if not same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf):
                return error_page(request, 403, gettext(lang, FORGED))
            if case_id is None:
                return _not_found(request, case_ref)
            evidence.may_add(session, principal, case_id)
            return principal

    target = f"/cases/{case_id}"
    try:
        checked = await run_in_threadpool(allowed)
        if isinstance(checked, Response):
            return checked
        assert case_id is not None
        upload = await read_upload(
            request.headers, request.stream(), settings.case_evidence_max_bytes
        )

        def store() -> None:
            with services.db.session() as session:
                evidence.add(
                    session,
                    checked,
                    case_id,
                    upload.filename,
                    upload.content_type,
                    upload.data,
                    settings=settings,
                )

        await run_in_threadpool(store)
    except DomainError as exc:
        if exc.status_code == 404:
            return _not_found(request, case_ref)
        shown = _error_text(lang, exc.status_code, domain_text(lang, exc))
        return RedirectResponse(f"{target}?{urlencode({'error': shown})}", status_code=303)
    return RedirectResponse(target, status_code=303)
