"""The analyst's case queue: columns, filters, sorting, cursor paging, saved views, bulk actions.

Reads come from `soc.cases.queries` (built on the service's visibility: a provider sees what is
handed to it, a customer its own tenant), bulk actions from `soc.cases.bulk` (each case through
the single-case service functions). A bulk POST answers 303 back to the queue with a signed
report of what was done and refused per case (PRG: a reload never repeats the action).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from soc.cases import bulk, queries, sla
from soc.cases.models import STATUSES
from soc.core.db import utcnow
from soc.core.deps import SESSION_COOKIE, SettingsDep, db_session
from soc.core.errors import DomainError
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.schemas import parse_id
from soc.services import Services
from soc.shell_deps import get_services
from soc.web.chrome import form_token, same_token
from soc.web.shell import error_page, page_principal, render, said, to_login
from tenants.models import User

router = APIRouter(include_in_schema=False)

FILTER_KEYS = ("tenant", "status", "priority", "assignee", "rule", "host", "sla", "since", "until")
COLUMNS = (
    ("tenant", N_("Tenant")),
    ("assignee", N_("Assignee")),
    ("priority", N_("Priority")),
    ("status", N_("Status")),
    ("sla_due", N_("SLA due")),
    ("activity", N_("Last activity")),
)
REPORT_LIMIT = 6000  # characters of the report in the redirect's query string


def _chosen(request: Request) -> dict[str, str]:
    params = request.query_params
    return {k: (params.get(k) or "").strip()[:200] for k in (*FILTER_KEYS, "q", "sort", "size")}


def _filters(chosen: dict[str, str]) -> queries.QueueFilter:
    return queries.QueueFilter(
        tenant_id=parse_id(chosen["tenant"]) if chosen["tenant"] else None,
        status=chosen["status"] or None,
        priority=chosen["priority"] or None,
        assignee=chosen["assignee"] or None,
        rule=chosen["rule"] or None,
        host=chosen["host"] or None,
        sla=chosen["sla"] or None,
        since=queries.parse_moment(chosen["since"]),
        until=queries.parse_moment(chosen["until"], end=True),
        q=chosen["q"] or None,
    )


def _link(chosen: dict[str, str], **change: str | None) -> str:
    merged = {**chosen, **change}
    return "/cases?" + urlencode([(k, v) for k, v in merged.items() if v])


def _sign(request: Request, payload: str) -> str:
    key = form_token(request.cookies.get(SESSION_COOKIE) or "").encode()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()[:32]


def encode_report(request: Request, result: bulk.BulkResult) -> str:
    """The per-case outcome of a bulk action for the redirect (signed for this session)."""
    rows: list[list[Any]] = [
        [o.case_id, o.ok, o.parts if o.ok else o.message[:200]] for o in result.outcomes
    ]
    data: dict[str, Any] = {"a": result.action, "o": rows}
    raw = orjson.dumps(data)
    if len(raw) > REPORT_LIMIT:  # too long for a URL: shorter texts, then the first ones
        data["o"] = [[i, ok, [] if ok else str(text)[:60]] for i, ok, text in rows]
        while len(orjson.dumps(data)) > REPORT_LIMIT and data["o"]:
            data["o"] = data["o"][: len(data["o"]) // 2]
        data["more"] = len(rows) - len(data["o"])
        raw = orjson.dumps(data)
    payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{payload}.{_sign(request, payload)}"


def decode_report(request: Request, token: str | None) -> dict[str, Any] | None:
    if not token or "." not in token:
        return None
    payload, signature = token.rsplit(".", 1)
    if not hmac.compare_digest(_sign(request, payload), signature):
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("o"), list):
        return None
    done = [r for r in data["o"] if r[1]]
    refused = [r for r in data["o"] if not r[1]]
    return {"action": data.get("a"), "done": done, "refused": refused, "more": data.get("more", 0)}


@router.get("/cases", response_class=HTMLResponse)
def case_queue(
    request: Request,
    settings: SettingsDep,
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The queue: filters, sorting, cursor paging, saved views and bulk actions."""
    principal = page_principal(request, session)
    if principal is None:
        return to_login()
    if not principal.can("cases.read"):
        return error_page(request, 403)
    chosen = _chosen(request)
    size = int(chosen["size"]) if chosen["size"].isdigit() else 50
    now = utcnow()
    page = queries.queue(
        session,
        principal,
        settings,
        _filters(chosen),
        sort=chosen["sort"] or None,
        cursor=request.query_params.get("cursor"),
        size=size,
        now=now,
    )
    me = session.get(User, principal.user_id) if principal.user_id else None
    can_bulk = principal.can("cases.update") or principal.can("cases.assign")
    return render(
        request,
        "queue.html",
        {
            "page": page,
            "rows": [(r, sla.clocks(settings, r.case, now)["resolution"]) for r in page.rows],
            "chosen": chosen,
            "columns": COLUMNS,
            "link": lambda **change: _link(chosen, **change),
            "sort_link": lambda col: _link(
                chosen, sort=("-" + col) if page.sort == col else col, cursor=None
            ),
            "next_link": _link(chosen, cursor=page.next_cursor) if page.next_cursor else None,
            "first_link": _link(chosen) if not page.first else None,
            "back": urlencode(
                [(k, v) for k, v in request.query_params.multi_items() if k != "report"]
            ),
            "view_query": queries.clean_query(list(request.query_params.multi_items())),
            "views": queries.views_of(session, principal),
            "statuses": STATUSES,
            "priorities": queries.PRIORITIES,
            "sla_states": queries.SLA_STATES,
            "tenants": queries.visible_tenants(session, principal),
            "people": queries.assignees(session, principal) if can_bulk else [],
            "me": me.username if me else None,
            "can_assign": principal.can("cases.assign"),
            "can_update": principal.can("cases.update"),
            "can_merge": principal.can("cases.manage"),
            "can_except": principal.can("rules.manage"),
            "can_bulk": can_bulk,
            "report": decode_report(request, request.query_params.get("report")),
            "error": request.query_params.get("error", "")[:300] or None,
        },
        principal=principal,
    )


def _back(back: str, **extra: str) -> str:
    pairs = [(k, v) for k, v in parse_qsl(back) if k not in ("report", "error")][:30]
    return "/cases?" + urlencode(pairs + list(extra.items()))


def _checked(request: Request, session: Session, csrf: str) -> Principal | Response:
    principal = page_principal(request, session)
    if principal is None:
        return to_login()
    if not same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf):
        return error_page(
            request,
            403,
            "This form expired or was sent from another site: reload the page and try again.",
        )
    return principal


@router.post("/cases/bulk")
def bulk_form(
    request: Request,
    settings: SettingsDep,
    case: list[str] = Form(default=[]),
    csrf: str = Form(default=""),
    back: str = Form(default=""),
    action: str = Form(default=""),
    assign_me: str = Form(default=""),
    assignee: str = Form(default=""),
    provider: str = Form(default=""),
    status: str = Form(default=""),
    note: str = Form(default=""),
    target: str = Form(default=""),
    reason: str = Form(default=""),
    add_exception: str = Form(default=""),
    exception_field: str = Form(default=""),
    exception_value: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
    services: Services = Depends(get_services),
) -> Response:
    """One bulk action on the selected rows (or "assign to me" on one row)."""
    given = {
        "csrf": csrf, "back": back, "action": action, "assign_me": assign_me,
        "assignee": assignee, "provider": provider, "status": status, "note": note,
        "target": target, "reason": reason, "add_exception": add_exception,
        "exception_field": exception_field, "exception_value": exception_value,
    }  # fmt: skip

    def field(name: str) -> str:
        return given[name].strip()[:500]

    checked = _checked(request, session, field("csrf"))
    if isinstance(checked, Response):
        return checked
    principal = checked
    back = given["back"][:3000]
    ids = [i for i in (parse_id(v) for v in case[: bulk.MAX_CASES + 1]) if i is not None]
    action = field("action")
    assignee = field("assignee")
    if field("assign_me"):
        me = session.get(User, principal.user_id) if principal.user_id else None
        ids = [i for i in [parse_id(field("assign_me"))] if i is not None]
        action, assignee = "assign", me.username if me else ""
    target_id = parse_id(field("target")) if field("target") else None
    order = ids if target_id is None else [target_id, *[i for i in ids if i != target_id]]
    wanted = bulk.BulkRequest(
        action=action,
        case_ids=order,
        assignee=assignee or None,
        provider=field("provider") or None,
        status=field("status") or None,
        note=field("note") or None,
        target_id=target_id,
        reason=field("reason") or None,
        add_exception=bool(field("add_exception")),
        exception_field=field("exception_field") or None,
        exception_value=field("exception_value") or None,
    )
    try:
        result = bulk.run(
            session, principal, wanted, settings=settings, views=services.detector.views
        )
    except DomainError as exc:
        return RedirectResponse(_back(back, error=said(request, exc)), status_code=303)
    return RedirectResponse(_back(back, report=encode_report(request, result)), status_code=303)


@router.post("/cases/views")
def save_view_form(
    request: Request,
    name: str = Form(default=""),
    query: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    checked = _checked(request, session, csrf)
    if isinstance(checked, Response):
        return checked
    try:
        with session.begin_nested():
            view = queries.save_view(session, checked, name, query)
    except DomainError as exc:
        return RedirectResponse(_back(query, error=said(request, exc)), status_code=303)
    return RedirectResponse("/cases?" + view.query, status_code=303)


@router.post("/cases/views/delete")
def delete_view_form(
    request: Request,
    view: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    checked = _checked(request, session, csrf)
    if isinstance(checked, Response):
        return checked
    try:
        queries.delete_view(session, checked, parse_id(view) or 0)
    except DomainError as exc:
        return error_page(request, exc.status_code, exc)
    return RedirectResponse("/cases", status_code=303)
