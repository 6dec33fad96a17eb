"""The forms of the risk register pages (`soc.web.risk_pages`): raise a risk (from a case),
move its status, align it with advice, request and decide acceptance, update an action's
progress and upload its evidence, decide deadline changes and improvement proposals.

Each form carries the session's CSRF token, calls the risk service (which checks the role and
the tenant again) in a write transaction of its own and goes back to the page it came from
with `done=` or `error=`. A refusal (403) is audited as the API audits it, in a second
transaction opened once the refused one has rolled back (never two write sessions at once).
The evidence form checks who may update the action before it reads the body, and reads no
more of it than the evidence size limit.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.formparsers import MultiPartException, MultiPartParser

from risk import acceptance, actions, deadline_changes, evidence, proposals, risks, visibility
from risk.schemas import RiskCreate, RiskFromCase
from soc.cases.evidence import TooLarge
from soc.cases.upload import MULTIPART_SLACK, Upload
from soc.core.audit import record
from soc.core.db import Database, utcnow
from soc.core.deps import SESSION_COOKIE, DatabaseDep, SettingsDep
from soc.core.error_texts import domain_text
from soc.core.errors import DomainError, Forbidden, Invalid
from soc.core.i18n import N_
from soc.core.principal import Principal
from soc.core.schemas import parse_id
from soc.web.chrome import form_token, same_token, signed_in
from soc.web.shell import lang_of, said

router = APIRouter(include_in_schema=False)

FORGED = "This form expired or was sent from another site: reload the page and try again."


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


@dataclass(frozen=True)
class Refusal:
    """How a form's refusal is audited: the form's name and what it acted on."""

    form: str
    object_type: str
    ref: str = ""


# The API's names for the refusals it audits; every other form's refusal is "risk.refused".
REFUSED = {
    "acceptance_decision": "risk.acceptance.refused",
    "proposal_decision": "risk.proposal.refused",
    "deadline_change_decision": "risk.deadline_change.refused",
}


def _audit_refusal(db: Database, principal: Principal, refusal: Refusal, reason: str) -> None:
    """Record a refusal in a write transaction of its own: the refused one has ended (rolled
    back, its rows with it), so there are never two write sessions at once."""
    object_id: object = parse_id(refusal.ref) or refusal.ref[:40] or "-"
    with db.session() as session:
        if refusal.form == "proposal_decision" and isinstance(object_id, int):
            proposals.record_refusal(session, principal, object_id, reason)
            return
        detail: dict[str, Any] = {"form": refusal.form, "role": principal.role, "reason": reason}
        if refusal.form == "acceptance_decision":
            detail["attempt"] = "decision"
        record(
            session,
            actor=principal.actor,
            action=REFUSED.get(refusal.form, "risk.refused"),
            object_type=refusal.object_type,
            object_id=object_id,
            detail=detail,
        )


def _signed_in(request: Request, db: Database) -> Principal | None:
    with db.read_session() as session:
        return signed_in(request, session)


def _signed_out() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _forged(request: Request, csrf: str) -> bool:
    return not same_token(form_token(request.cookies.get(SESSION_COOKIE) or ""), csrf)


def _act(
    request: Request,
    csrf: str,
    db: Database,
    refusal: Refusal,
    action: Callable[[Session, Principal], Any],
    back: str,
    done: str,
    target: Callable[[Any], str] | None = None,
) -> Response:
    """Run one form's action for the signed-in user in a write transaction of its own; back
    to `back` with the outcome (or to `target(result)` when it succeeds). A refusal (403) is
    audited once the refused transaction has rolled back."""
    principal = _signed_in(request, db)
    if principal is None:
        return _signed_out()
    if _forged(request, csrf):
        return HTMLResponse(FORGED, status_code=403)
    return _run(db, principal, refusal, action, back, done, target, lang=lang_of(request))


def _run(
    db: Database,
    principal: Principal,
    refusal: Refusal,
    action: Callable[[Session, Principal], Any],
    back: str,
    done: str,
    target: Callable[[Any], str] | None = None,
    lang: str = "en",
) -> Response:
    try:
        with db.session() as session:
            result = action(session, principal)
            goto = target(result) if target else back
    except Forbidden as exc:
        _audit_refusal(db, principal, refusal, exc.message)
        return _to(back, error=domain_text(lang, exc)[:300])
    except DomainError as exc:
        return _to(back, error=domain_text(lang, exc)[:300])
    except ValidationError as exc:
        return _to(back, error=_problem(exc))
    return _to(goto, done=done)


def _id(raw: str, noun: str) -> int:
    found = parse_id(raw)
    if found is None:
        raise visibility.not_found(noun, raw[:40])
    return found


def _level(raw: str, name: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 3:
        raise Invalid(N_("{name} must be a level number"), name=name)
    return int(raw)


def _date(raw: str, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError as exc:
        raise Invalid(N_("{name} must be a date (YYYY-MM-DD)"), name=name) from exc


def _slugs(raw: str) -> list[str]:
    return [s.strip() for s in raw.split(",") if s.strip()][:200]


def _decision(raw: str) -> bool:
    if raw not in ("approve", "reject"):
        raise Invalid(N_("decide with approve or reject"))
    return raw == "approve"


@router.post("/risk/new")
def raise_form(
    request: Request,
    settings: SettingsDep,
    db: DatabaseDep,
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
) -> Response:
    """Raise a risk; from a case: source `soc_case`, the case linked."""

    def create(session: Session, p: Principal) -> Any:
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
    refusal = Refusal("new_risk", "case" if case else "risk", case)
    return _act(
        request, csrf, db, refusal, create, back, "created", lambda r: f"/risk/risks/{r.id}"
    )


@router.post("/risk/risks/{risk_ref}/status")
def status_form(
    risk_ref: str,
    request: Request,
    db: DatabaseDep,
    status: str = Form(default=""),
    note: str = Form(default=""),
    csrf: str = Form(default=""),
) -> Response:
    back = f"/risk/risks/{parse_id(risk_ref) or 0}"
    return _act(
        request,
        csrf,
        db,
        Refusal("status", "risk", risk_ref),
        lambda s, p: risks.transition(s, p, _id(risk_ref, "risk"), status, note[:20_000]),
        back,
        "moved",
    )


@router.post("/risk/risks/{risk_ref}/align")
def align_form(
    risk_ref: str,
    request: Request,
    db: DatabaseDep,
    advice: str = Form(default=""),
    csrf: str = Form(default=""),
) -> Response:
    back = f"/risk/risks/{parse_id(risk_ref) or 0}"
    return _act(
        request,
        csrf,
        db,
        Refusal("align", "risk", risk_ref),
        lambda s, p: risks.align(s, p, _id(risk_ref, "risk"), advice[:20_000], utcnow().date()),
        back,
        "aligned",
    )


@router.post("/risk/risks/{risk_ref}/acceptance")
def request_form(
    risk_ref: str,
    request: Request,
    settings: SettingsDep,
    db: DatabaseDep,
    note: str = Form(default=""),
    csrf: str = Form(default=""),
) -> Response:
    back = f"/risk/risks/{parse_id(risk_ref) or 0}"
    return _act(
        request,
        csrf,
        db,
        Refusal("acceptance_request", "risk", risk_ref),
        lambda s, p: acceptance.request_acceptance(
            s, p, settings, _id(risk_ref, "risk"), note[:20_000]
        ),
        back,
        "requested",
    )


@router.post("/risk/acceptances/{acceptance_ref}/decide")
def decide_form(
    acceptance_ref: str,
    request: Request,
    settings: SettingsDep,
    db: DatabaseDep,
    decision: str = Form(default=""),
    justification: str = Form(default=""),
    expires_on: str = Form(default=""),
    back: str = Form(default=""),
    csrf: str = Form(default=""),
) -> Response:
    """The authority (and, by the setting, the customer) accepts or rejects a risk."""
    approve = decision == "approve"
    return _act(
        request,
        csrf,
        db,
        Refusal("acceptance_decision", "risk_acceptance", acceptance_ref),
        lambda s, p: acceptance.decide(
            s,
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
    db: DatabaseDep,
    text: str = Form(default=""),
    progress_pct: str = Form(default=""),
    status: str = Form(default=""),
    back: str = Form(default=""),
    csrf: str = Form(default=""),
) -> Response:
    """A progress note: the text, the % done and the status."""

    def note(session: Session, p: Principal) -> Any:
        pct = None
        if progress_pct:
            if not progress_pct.isdigit() or int(progress_pct) > 100:
                raise Invalid(N_("progress is a percentage 0..100"))
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

    refusal = Refusal("note", "risk_action", action_ref)
    return _act(request, csrf, db, refusal, note, _back(back, "/risk/mine"), "noted")


async def _evidence_form(request: Request, max_bytes: int) -> tuple[Upload, str, str]:
    """The evidence form's body (file, csrf, back), read as it streams in and refused as soon
    as it passes the evidence limit (never spooled whole first)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise Invalid(N_("send the form as multipart/form-data"))
    limit = max_bytes + MULTIPART_SLACK
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(N_("evidence is at most {bytes} bytes"), bytes=max_bytes)
    parser = MultiPartParser(
        request.headers, _bounded(request.stream(), limit, max_bytes), max_files=1, max_fields=10
    )
    parser.spool_max_size = limit + 1  # the bound keeps it in memory
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Invalid(N_("not a valid multipart body: {text}"), text=exc.message) from exc
    try:
        part = form.get("file")
        if not isinstance(part, StarletteUpload):
            raise Invalid(N_("choose a file to upload"))
        upload = Upload(
            part.filename or "evidence",
            part.content_type or "application/octet-stream",
            await part.read(max_bytes + 1),
        )
        csrf, back = form.get("csrf"), form.get("back")
        return upload, csrf if isinstance(csrf, str) else "", back if isinstance(back, str) else ""
    finally:
        await form.close()


async def _bounded(
    stream: AsyncIterator[bytes], limit: int, max_bytes: int
) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise TooLarge(N_("evidence is at most {bytes} bytes"), bytes=max_bytes)
        yield chunk


@router.post("/risk/actions/{action_ref}/evidence")
async def evidence_form(
    action_ref: str, request: Request, settings: SettingsDep, db: DatabaseDep
) -> Response:
    """Upload one evidence file for an action (type and size checked like case evidence).
    Who may update the action is checked before the body is read, which is read no further
    than the evidence size limit (like the API's evidence route)."""
    back = _back(request.query_params.get("back") or "", "/risk/mine")
    refusal = Refusal("evidence", "risk_action", action_ref)

    def allowed() -> Principal | Response:
        principal = _signed_in(request, db)
        if principal is None:
            return _signed_out()
        try:
            with db.read_session() as session:
                evidence.may_add(session, principal, _id(action_ref, "action"))
        except Forbidden as exc:
            _audit_refusal(db, principal, refusal, exc.message)
            return _to(back, error=said(request, exc)[:300])
        except DomainError as exc:
            return _to(back, error=said(request, exc)[:300])
        return principal

    checked = await run_in_threadpool(allowed)
    if isinstance(checked, Response):
        return checked
    principal = checked
    try:
        upload, csrf, raw_back = await _evidence_form(request, settings.case_evidence_max_bytes)
    except DomainError as exc:
        return _to(back, error=said(request, exc)[:300])
    if _forged(request, csrf):
        return HTMLResponse(FORGED, status_code=403)
    back = _back(raw_back, back)

    def store(session: Session, p: Principal) -> Any:
        return evidence.add(
            session,
            p,
            settings,
            _id(action_ref, "action"),
            upload.filename[:255],
            upload.content_type,
            upload.data,
        )

    return await run_in_threadpool(_run, db, principal, refusal, store, back, "uploaded")


@router.post("/risk/deadline-changes/{change_ref}/decide")
def change_form(
    change_ref: str,
    request: Request,
    settings: SettingsDep,
    db: DatabaseDep,
    decision: str = Form(default=""),
    back: str = Form(default=""),
    csrf: str = Form(default=""),
) -> Response:
    """The customer (specific) or the authority (common) decides a deadline change."""
    return _act(
        request,
        csrf,
        db,
        Refusal("deadline_change_decision", "risk_deadline_change", change_ref),
        lambda s, p: deadline_changes.decide_change(
            s,
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
    db: DatabaseDep,
    decision: str = Form(default=""),
    note: str = Form(default=""),
    back: str = Form(default=""),
    csrf: str = Form(default=""),
) -> Response:
    """The customer (specific) or the authority (common) decides an improvement proposal."""
    return _act(
        request,
        csrf,
        db,
        Refusal("proposal_decision", "risk_action", action_ref),
        lambda s, p: proposals.decide_proposal(
            s, p, _id(action_ref, "proposal"), _decision(decision), note[:20_000], utcnow()
        ),
        _back(back, "/risk"),
        "approved" if decision == "approve" else "rejected",
    )
