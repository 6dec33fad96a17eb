"""The FastAPI application factory: routers, error answers, shared services."""

from __future__ import annotations

import errno
import json
import logging
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

import psycopg
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from detections.api import router as rules_router
from detections.windows import expire_correlation_windows
from ingest.api import router as ingest_router
from ingest.es_api import router as es_router
from ingest.evtx_api import router as evtx_router
from ingest.sources_api import router as log_sources_router
from kri.api import router as kri_router
from kri.catalogue import seed_catalogue
from kri.dwh_api import router as dwh_router
from kri.reports_api import router as kri_reports_router
from kri.scores_api import router as kri_scores_router
from kri.upkeep import upkeep_until as kri_upkeep_until
from risk.actions_api import router as actions_router
from risk.api import router as risk_router
from risk.nc_api import router as nc_router
from risk.upkeep import upkeep_until as risk_upkeep_until
from soc.audit_api import router as audit_router
from soc.cases.api import extra_router as cases_extra_router
from soc.cases.api import router as cases_router
from soc.cases.bulk_api import router as cases_bulk_router
from soc.cases.connector import deliver_until
from soc.cases.connector import enabled as itsm_enabled
from soc.cases.itsm_api import router as itsm_router
from soc.cases.itsm_inbound import poll_until as itsm_poll_until
from soc.cases.warnings import warn_until
from soc.cmdb.api import router as ops_router
from soc.cmdb.inventory_api import router as cmdb_router
from soc.cmdb.notify import deliver_until as deliver_status_until
from soc.cmdb.status_api import router as status_router
from soc.cmdb.upkeep import upkeep_until
from soc.core import audit
from soc.core.checkpoints import checkpoint_until
from soc.core.deps import PrincipalDep, SessionDep
from soc.core.error_texts import accepted_language, domain_text, error_text, validation_text
from soc.core.errors import DomainError
from soc.core.mail_outbox import deliver_until as deliver_mail_until
from soc.core.schemas import ErrorOut
from soc.core.settings import Settings, get_settings
from soc.docs_routes import OPENAPI_TAGS, install_docs
from soc.edge import EdgeRefusals
from soc.headers import SecurityHeaders
from soc.jobs_api import router as jobs_router
from soc.services import Services, build_services
from soc.shell_deps import ServicesDep
from soc.web.access_pages import router as access_pages_router
from soc.web.admin_pages import router as admin_pages_router
from soc.web.case_pages import router as case_pages_router
from soc.web.console_pages import router as console_pages_router
from soc.web.events_pages import router as events_pages_router
from soc.web.finance_pages import router as finance_pages_router
from soc.web.kri_pages import router as kri_pages_router
from soc.web.oidc_pages import router as oidc_pages_router
from soc.web.pages import router as web_router
from soc.web.portal_pages import router as portal_pages_router
from soc.web.provider_pages import router as provider_pages_router
from soc.web.queue_pages import router as queue_pages_router
from soc.web.risk_forms import router as risk_forms_router
from soc.web.risk_pages import router as risk_pages_router
from soc.web.rules_pages import router as rules_pages_router
from soc.web.shell import error_page, lang_of, wants_html
from soc.web.sources_pages import router as sources_pages_router
from soc.web.status_pages import router as status_pages_router
from soc.web.token_pages import router as token_pages_router
from tenants.access_api import router as access_router
from tenants.api import router as tenants_router
from tenants.api_tokens_api import router as api_tokens_router
from tenants.billing.api import router as billing_router

log = logging.getLogger(__name__)
system_router = APIRouter(prefix="/api/v1", tags=["system"])

# Every API answer other than success is a DomainError or a validation error, both shaped as
# ErrorOut by the handlers in create_app; document that shape (not FastAPI's default 422 body).
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (400, "Bad request"),
        (401, "Not logged in, or an unknown or revoked key"),
        (403, "Not allowed for this role"),
        (404, "Not found (also for another tenant's objects)"),
        (409, "Conflict with the current state"),
        (422, "Invalid input"),
    )
}


def disk_report(settings: Settings) -> dict[str, object]:
    """Free space where the data lives (database, event store, spool): below the setting's
    minimum the service is degraded, and a full disk refuses ingest (507)."""
    path = Path(settings.data_dir).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    usage = shutil.disk_usage(path)
    low = usage.free < settings.disk_min_free_bytes
    return {
        "status": "low" if low else "ok",
        "path": str(path),
        "free_bytes": usage.free,
        "total_bytes": usage.total,
        "min_free_bytes": settings.disk_min_free_bytes,
    }


@system_router.get("/health")
def health(services: ServicesDep) -> dict[str, object]:
    """Liveness and the basics a monitor wants: database reachable (a read: it never waits
    for the write lock), rules loaded, free disk. `degraded` when the disk runs low."""
    with services.db.read_session() as session:
        session.execute(text("SELECT 1"))
    disk = disk_report(services.settings)
    return {
        "status": "degraded" if disk["status"] != "ok" else "ok",
        "mode": services.settings.mode,
        "rules_loaded": len(services.ruleset.rules),
        "rules_unusable": len(services.ruleset.errors),
        "disk": disk,
    }


@system_router.get("/audit/verify")
def audit_verify(session: SessionDep, principal: PrincipalDep) -> dict[str, object]:
    """Check the audit log's hash chain end to end and list the entries that break it. Needs the
    audit.read permission (admin, authority); 403 otherwise."""
    principal.require("audit.read")
    count, problems = audit.verify(session)
    return {
        "entries": count,
        "ok": not problems,
        "problems": [{"entry_id": p.entry_id, "reason": p.reason} for p in problems],
    }


def recover_ingest_until(services: Services, stop: threading.Event) -> None:
    """Recover ingest batches whose request died between storing and recording: once at
    startup (after a crash), then every `ingest_recovery_every_seconds` until the app stops;
    stale correlation windows are swept on the same beat (the workers' beat does it too)."""
    while True:
        try:
            services.recover_ingest()
        except Exception:  # the database may be down for now; the batches stay pending
            log.exception("ingest recovery failed")
        try:
            expire_correlation_windows(services.detector.windows)
        except Exception:  # the next pass sweeps them
            log.exception("correlation window sweep failed")
        if stop.wait(services.settings.ingest_recovery_every_seconds):
            return


def replay_spool_until(store: object, stop: threading.Event, every: float = 5.0) -> None:
    """Replay events spooled while the event store was down, until the app stops."""
    replay = getattr(store, "replay", None)
    if replay is None:
        return
    while not stop.wait(every):
        try:
            replay()
        except Exception:  # keep trying; the spool stays on disk
            log.exception("spool replay failed")


BUSY_TEXTS = ("database is locked", "database is busy", "database table is locked")
FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")


def _causes(exc: BaseException) -> list[BaseException]:
    """The error and what it wraps or interrupted: a failed rollback ("cannot rollback")
    must not hide the disk-full error that caused it."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 20:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [getattr(item, "orig", None), item.__cause__, item.__context__]
    return seen


def _is_disk_full(cause: BaseException) -> bool:
    if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(t in str(cause).lower() for t in FULL_TEXTS)


def _is_busy(cause: BaseException) -> bool:
    return isinstance(cause, PoolTimeout) or any(t in str(cause).lower() for t in BUSY_TEXTS)


def _is_unreachable(cause: BaseException) -> bool:
    """PostgreSQL is down, restarting or dropped the connection: every psycopg operational
    error (refused, shutting down, admin shutdown) is transient; the pool pings its
    connections before use, so the same process serves again once the server is back."""
    if isinstance(cause, DBAPIError) and cause.connection_invalidated:
        return True
    return isinstance(cause, DisconnectionError | psycopg.OperationalError)


def overload_answer(exc: BaseException, settings: Settings) -> JSONResponse | None:
    """507 disk full or 503 busy (JSON, with Retry-After) for the error, else None. A retry
    is safe: stored events keep their ids, so a re-sent batch never doubles."""
    causes = _causes(exc)
    if any(_is_disk_full(c) for c in causes):
        detail = "the server's disk is full; retry later"
        status, code, retry = 507, "disk_full", settings.disk_full_retry_after_seconds
    elif any(_is_busy(c) for c in causes):
        detail = "the database is busy; retry shortly"
        status, code, retry = 503, "busy", settings.busy_retry_after_seconds
    elif any(_is_unreachable(c) for c in causes):
        detail = "the database is unavailable; retry shortly"
        status, code, retry = 503, "unavailable", settings.busy_retry_after_seconds
    else:
        return None
    return JSONResponse(
        {"error": code, "detail": detail},
        status_code=status,
        headers={"Retry-After": str(retry)},
    )


def background_threads(services: Services, stop: threading.Event) -> list[threading.Thread]:
    """The server's own background work until `stop`: spool replay, ingest recovery, the
    upkeep loops, the notice and mail outboxes; SLA warnings in embedded mode (Celery beat
    runs them in production); the ITSM outbox and poller when an ITSM tool is configured."""
    db, settings = services.db, services.settings
    loops: list[tuple[str, Callable[..., None], tuple[Any, ...]]] = [
        ("spool-replay", replay_spool_until, (services.store, stop)),
        ("ingest-recovery", recover_ingest_until, (services, stop)),
        ("status-upkeep", upkeep_until, (db, settings, services.cmdb_engine, stop)),
        ("kri-upkeep", kri_upkeep_until, (db, settings, stop)),
        ("risk-upkeep", risk_upkeep_until, (db, settings, stop)),
        ("status-notify", deliver_status_until, (db, settings, stop)),
        ("mail-outbox", deliver_mail_until, (db, settings, stop)),
    ]
    if settings.mode == "embedded":
        loops.append(("sla-warnings", warn_until, (db, settings, stop)))
        loops.append(("audit-checkpoints", checkpoint_until, (db, settings, stop)))
    if itsm_enabled(settings):
        loops.append(("itsm-outbox", deliver_until, (db, settings, stop)))
    if settings.itsm_kind == "servicenow" and settings.servicenow_poll_seconds:
        loops.append(("itsm-poll", itsm_poll_until, (db, settings, stop)))
    return [
        threading.Thread(target=target, args=args, daemon=True, name=name)
        for name, target, args in loops
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Every answer other than success in the ErrorOut shape: domain errors, overload (503
    busy, 507 disk full), framework errors and validation errors."""

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        retry_after = getattr(exc, "retry_after", None)
        if wants_html(request):
            return error_page(request, exc.status_code, domain_text(lang_of(request), exc))
        detail = domain_text(accepted_language(request.headers.get("accept-language")), exc)
        return JSONResponse(
            {"error": exc.code, "detail": detail},
            status_code=exc.status_code,
            headers={"Retry-After": str(retry_after)} if retry_after else None,
        )

    async def resource_error(request: Request, exc: Exception) -> JSONResponse:
        """A busy database (lock or pool wait past its short timeout) is a 503, a full disk a
        507, both with Retry-After: clients back off and retry; nothing was half-kept, as
        the transaction rolled back. Anything else stays a server error."""
        served = request.app.state.services.settings
        answer = overload_answer(exc, served)
        if answer is None:
            raise exc
        log.warning("%s answered %s: %s", request.url.path, answer.status_code, exc)
        lang = accepted_language(request.headers.get("accept-language"))
        if lang != "en":
            body = json.loads(bytes(answer.body))
            body["detail"] = error_text(lang, body["detail"])
            answer = JSONResponse(body, status_code=answer.status_code, headers=answer.headers)
        return answer

    resources = (OperationalError, DisconnectionError, PoolTimeout, sqlite3.OperationalError)
    for exc_type in (*resources, OSError):
        app.add_exception_handler(exc_type, resource_error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Framework errors (unparsable body, unknown route, wrong method) in the same shape.
        if wants_html(request):
            return error_page(request, exc.status_code)
        try:
            code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        except ValueError:
            code = "error"
        lang = accepted_language(request.headers.get("accept-language"))
        return JSONResponse(
            {"error": code, "detail": error_text(lang, str(exc.detail))},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        html = wants_html(request)
        header = request.headers.get("accept-language")
        lang = lang_of(request) if html else accepted_language(header)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {validation_text(lang, e['msg'])}"
            for e in exc.errors()
        )
        if html:
            return error_page(request, 422, problems)
        return JSONResponse({"error": "invalid", "detail": problems}, status_code=422)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        running = services or build_services(settings)
        with running.db.session() as session:  # the shipped KRI catalogue, never overwriting edits
            seed_catalogue(session, running.settings)
        running.publish(app.state)
        stop = threading.Event()
        threads = background_threads(running, stop)
        for thread in threads:
            thread.start()
        yield
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        if owned:
            running.close()

    app = FastAPI(
        title="soc",
        version="0.1.0",
        lifespan=lifespan,
        description="Multi-tenant SOC: ingest, Sigma detection, security cases.",
        docs_url=None,  # /docs and /redoc come from soc.docs_routes: offline, no CDN
        redoc_url=None,
        openapi_tags=OPENAPI_TAGS,
    )
    install_docs(app)
    if services is not None:
        services.publish(app.state)

    app.add_middleware(EdgeRefusals)  # CSRF and login-flood refusals, before routing
    served = services.settings if services is not None else settings
    app.add_middleware(  # outermost: refusals and error answers carry the headers too
        SecurityHeaders,
        hsts_max_age=served.hsts_max_age_seconds if served.session_cookie_secure else None,
    )

    install_error_handlers(app)

    for router in (
        system_router,
        audit_router,
        tenants_router,
        api_tokens_router,
        access_router,
        ingest_router,
        evtx_router,
        es_router,
        log_sources_router,
        cases_router,
        cases_extra_router,
        itsm_router,
        cases_bulk_router,
        billing_router,
        rules_router,
        jobs_router,
        cmdb_router,
        ops_router,
        status_router,
        risk_router,
        actions_router,
        nc_router,
        kri_router,
        dwh_router,
        kri_reports_router,
        kri_scores_router,
    ):
        app.include_router(router, responses=ERROR_RESPONSES)
    app.include_router(web_router)
    app.include_router(status_pages_router)
    app.include_router(risk_pages_router)
    app.include_router(risk_forms_router)
    app.include_router(kri_pages_router)
    app.include_router(queue_pages_router)
    app.include_router(case_pages_router)
    app.include_router(console_pages_router)
    app.include_router(events_pages_router)
    app.include_router(rules_pages_router)
    app.include_router(finance_pages_router)
    app.include_router(admin_pages_router)
    app.include_router(access_pages_router)
    app.include_router(portal_pages_router)
    app.include_router(provider_pages_router)
    app.include_router(sources_pages_router)
    app.include_router(token_pages_router)
    app.include_router(oidc_pages_router)
    return app
