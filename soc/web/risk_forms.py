"""The forms of the risk register pages (`soc.web.risk_pages`): raise a risk (from a case),
move its status, align it with advice, request and decide acceptance, update an action's
progress and upload its evidence, decide deadline changes and improvement proposals.

Each form carries the session's CSRF token, calls the risk service (which checks the role and
the tenant again) and goes back to the page it came from with `done=` or `error=`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from risk import acceptance, actions, deadline_changes, evidence, proposals, risks
from risk.schemas import RiskCreate, RiskFromCase
from soc.core.db import utcnow
from soc.core.deps import SESSION_COOKIE, SettingsDep, db_session
from soc.core.errors import DomainError, Invalid, NotFound
from soc.core.principal import Principal
from soc.core.schemas import parse_id
from soc.web.chrome import form_token, same_token, signed_in

router = APIRouter(include_in_schema=False)

FORGED = "This form expired or was sent from another site: reload the page and try again."
MAX_UPLOAD = 64 * 1024 * 1024  # read at most this much of an upload (the service checks less)


def _back(raw: str, default: str) -> str:
    """Only back to a page of the register (never another site)."""
    ok = raw.startswith("/risk") and "//" not in raw and "\\" not in raw and len(raw) < 200
    return raw if ok else default


def _to(path: str, **query: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode(query)}", status_code=303)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}"[:300]


def _act(
    request: Request,
    csrf: str,
    session: Session,
    action: Callable[[Principal], Any],
    back: str,
    done: str,
    target: Callable[[Any], str] | None = None,
) -> Response:
    """Run one form's action for the signed-in user; back to `back` with the outcome (or to
    `target(result)` when it succeeds)."""
    principal = signed_in(request, session)
    if principal is None:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response
    if not same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf):
        return HTMLResponse(FORGED, status_code=403)
    try:
        with session.begin_nested():
            result = action(principal)
    except DomainError as exc:
        return _to(back, error=exc.message[:300])
    except ValidationError as exc:
        return _to(back, error=_problem(exc))
    return _to(target(result) if target else back, done=done)


def _id(raw: str, noun: str) -> int:
    found = parse_id(raw)
    if found is None:
        raise NotFound(f"{noun} {raw[:40]} not found")
    return found


def _level(raw: str, name: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 3:
        raise Invalid(f"{name} must be a level number")
    return int(raw)


def _date(raw: str, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError as exc:
        raise Invalid(f"{name} must be a date (YYYY-MM-DD)") from exc


def _slugs(raw: str) -> list[str]:
    return [s.strip() for s in raw.split(",") if s.strip()][:200]


def _decision(raw: str) -> bool:
    if raw not in ("approve", "reject"):
        raise Invalid("decide with approve or reject")
    return raw == "approve"


@router.post("/risk/new")
def raise_form(
    request: Request,
    settings: SettingsDep,
    case: str = Form(default=""),
    title: str = Form(default=""),
    description: str = Form(default=""),
    category: str = Form(default="operational"),
    source: str = Form(default="integrator"),
    scope: str = Form(default="specific"),
    tenants: str = Form(default=""),
    providers: str = Form(default=""),
    owner: str = Form(default=""),
    likelihood: str = Form(default=""),
    impact: str = Form(default=""),
    residual_likelihood: str = Form(default=""),
    residual_impact: str = Form(default=""),
    treatment: str = Form(default=""),
    review_date: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Raise a risk; from a case: source `soc_case`, the case linked."""

    def create(p: Principal) -> Any:
        fields: dict[str, Any] = {
            "title": title.strip() or None,
            "description": description,
            "category": category,
            "scope": scope,
            "tenants": _slugs(tenants) if scope == "specific" else [],
            "providers": _slugs(providers),
            "owner": owner.strip() or None,
            "likelihood": _level(likelihood, "likelihood"),
            "impact": _level(impact, "impact"),
            "residual_likelihood": _level(residual_likelihood, "residual likelihood"),
            "residual_impact": _level(residual_impact, "residual impact"),
            "treatment": treatment or None,
            "review_date": review_date or None,
        }
        fields = {k: v for k, v in fields.items() if v is not None}
        if case:
            data = RiskFromCase.model_validate(fields)
            return risks.raise_from_case(session, p, settings, _id(case, "case"), data)
        fields["source"] = source
        return risks.create_risk(session, p, settings, RiskCreate.model_validate(fields))

    back = f"/risk/new?{urlencode({'case': case})}" if case else "/risk/new"
    return _act(request, csrf, session, create, back, "created", lambda r: f"/risk/risks/{r.id}")


@router.post("/risk/risks/{risk_ref}/status")
def status_form(
    risk_ref: str,
    request: Request,
    status: str = Form(default=""),
    note: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    back = f"/risk/risks/{parse_id(risk_ref) or 0}"
    return _act(
        request,
        csrf,
        session,
        lambda p: risks.transition(session, p, _id(risk_ref, "risk"), status, note[:20_000]),
        back,
        "moved",
    )


@router.post("/risk/risks/{risk_ref}/align")
def align_form(
    risk_ref: str,
    request: Request,
    advice: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    back = f"/risk/risks/{parse_id(risk_ref) or 0}"
    return _act(
        request,
        csrf,
        session,
        lambda p: risks.align(session, p, _id(risk_ref, "risk"), advice[:20_000], utcnow().date()),
        back,
        "aligned",
    )


@router.post("/risk/risks/{risk_ref}/acceptance")
def request_form(
    risk_ref: str,
    request: Request,
    settings: SettingsDep,
    note: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    back = f"/risk/risks/{parse_id(risk_ref) or 0}"
    return _act(
        request,
        csrf,
        session,
        lambda p: acceptance.request_acceptance(
            session, p, settings, _id(risk_ref, "risk"), note[:20_000]
        ),
        back,
        "requested",
    )


@router.post("/risk/acceptances/{acceptance_ref}/decide")
def decide_form(
    acceptance_ref: str,
    request: Request,
    settings: SettingsDep,
    decision: str = Form(default=""),
    justification: str = Form(default=""),
    expires_on: str = Form(default=""),
    back: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The authority (and, by the setting, the customer) accepts or rejects a risk."""
    approve = decision == "approve"
    return _act(
        request,
        csrf,
        session,
        lambda p: acceptance.decide(
            session,
            p,
            settings,
            _id(acceptance_ref, "acceptance"),
            _decision(decision),
            justification[:20_000],
            _date(expires_on, "expiry") if approve else None,
            utcnow().date(),
        ),
        _back(back, "/risk/authority"),
        "approved" if approve else "rejected",
    )


@router.post("/risk/actions/{action_ref}/note")
def note_form(
    action_ref: str,
    request: Request,
    text: str = Form(default=""),
    progress_pct: str = Form(default=""),
    status: str = Form(default=""),
    back: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """A progress note: the text, the % done and the status."""

    def note(p: Principal) -> Any:
        pct = None
        if progress_pct:
            if not progress_pct.isdigit() or int(progress_pct) > 100:
                raise Invalid("progress is a percentage 0..100")
            pct = int(progress_pct)
        return actions.add_note(
            session,
            p,
            _id(action_ref, "action"),
            text[:20_000],
            pct,
            status or None,
            today=utcnow().date(),
        )

    return _act(request, csrf, session, note, _back(back, "/risk/mine"), "noted")


@router.post("/risk/actions/{action_ref}/evidence")
async def evidence_form(
    action_ref: str,
    request: Request,
    settings: SettingsDep,
    file: UploadFile = File(...),
    back: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """Upload one evidence file for an action (type and size checked like case evidence)."""
    data = await file.read(MAX_UPLOAD)
    name = (file.filename or "evidence")[:255]
    kind = file.content_type or "application/octet-stream"
    return _act(
        request,
        csrf,
        session,
        lambda p: evidence.add(session, p, settings, _id(action_ref, "action"), name, kind, data),
        _back(back, "/risk/mine"),
        "uploaded",
    )


@router.post("/risk/deadline-changes/{change_ref}/decide")
def change_form(
    change_ref: str,
    request: Request,
    settings: SettingsDep,
    decision: str = Form(default=""),
    back: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The customer (specific) or the authority (common) decides a deadline change."""
    return _act(
        request,
        csrf,
        session,
        lambda p: deadline_changes.decide_change(
            session,
            p,
            settings,
            _id(change_ref, "deadline change"),
            _decision(decision),
            utcnow().date(),
        ),
        _back(back, "/risk"),
        "approved" if decision == "approve" else "rejected",
    )


@router.post("/risk/proposals/{action_ref}/decide")
def proposal_form(
    action_ref: str,
    request: Request,
    decision: str = Form(default=""),
    note: str = Form(default=""),
    back: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = Depends(db_session, scope="function"),
) -> Response:
    """The customer (specific) or the authority (common) decides an improvement proposal."""
    return _act(
        request,
        csrf,
        session,
        lambda p: proposals.decide_proposal(
            session, p, _id(action_ref, "proposal"), _decision(decision), note[:20_000], utcnow()
        ),
        _back(back, "/risk"),
        "approved" if decision == "approve" else "rejected",
    )
