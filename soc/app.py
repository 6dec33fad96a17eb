"""The FastAPI application factory: routers, error answers, shared services."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from detections.api import router as rules_router
from ingest.api import router as ingest_router
from ingest.es_api import router as es_router
from soc import audit
from soc.cases.api import extra_router as cases_extra_router
from soc.cases.api import router as cases_router
from soc.cases.connector import deliver_until
from soc.deps import SESSION_COOKIE, current_principal, db_session, get_services
from soc.errors import DomainError
from soc.schemas import ErrorOut
from soc.services import Services, build_services
from soc.settings import Settings, get_settings
from soc.web.pages import router as web_router
from tenants.api import router as tenants_router
from tenants.billing.api import router as billing_router
from tenants.principal import Principal

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


@system_router.get("/health")
def health(services: Services = Depends(get_services)) -> dict[str, object]:
    """Liveness and the basics a monitor wants: database reachable, rules loaded."""
    with services.db.session() as session:
        session.execute(text("SELECT 1"))
    return {
        "status": "ok",
        "mode": services.settings.mode,
        "rules_loaded": len(services.ruleset.rules),
        "rules_unusable": len(services.ruleset.errors),
    }


@system_router.get("/audit/verify")
def audit_verify(
    session: Session = Depends(db_session), principal: Principal = Depends(current_principal)
) -> dict[str, object]:
    principal.require("audit.read")
    count, problems = audit.verify(session)
    return {
        "entries": count,
        "ok": not problems,
        "problems": [{"entry_id": p.entry_id, "reason": p.reason} for p in problems],
    }


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


def _same_origin(request: Request) -> bool:
    """True when the Origin (or, without one, the Referer) names this host, or neither is
    sent (not a browser form)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True
    return urlsplit(source).netloc == request.headers.get("host", request.url.netloc)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or build_services(settings)
        stop = threading.Event()
        replayer = threading.Thread(
            target=replay_spool_until,
            daemon=True,
            args=(app.state.services.store, stop),
            name="spool-replay",
        )
        replayer.start()
        outbox = threading.Thread(  # ITSM outbox delivery in process (issue 5)
            target=deliver_until,
            daemon=True,
            args=(app.state.services.db, app.state.services.settings, stop),
            name="itsm-outbox",
        )
        if app.state.services.settings.itsm_url:
            outbox.start()
        yield
        stop.set()
        replayer.join(timeout=10)
        if outbox.is_alive():
            outbox.join(timeout=10)
        if owned:
            app.state.services.close()

    app = FastAPI(
        title="soc",
        version="0.1.0",
        lifespan=lifespan,
        description="Multi-tenant SOC: ingest, Sigma detection, security cases.",
    )
    if services is not None:
        app.state.services = services

    @app.middleware("http")
    async def same_origin_for_cookie_writes(request: Request, call_next):  # type: ignore[no-untyped-def]
        """A change made with the session cookie must come from this site's own pages: a
        browser names the page's origin on every cross-site POST (CSRF defence next to the
        SameSite=Strict cookie, which sibling subdomains would pass)."""
        if (
            request.method in ("POST", "PUT", "PATCH", "DELETE")
            and SESSION_COOKIE in request.cookies
            and "authorization" not in request.headers
            and not _same_origin(request)
        ):
            return JSONResponse(
                {"error": "forbidden", "detail": "cross-site request refused"}, status_code=403
            )
        return await call_next(request)

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"error": exc.code, "detail": exc.message}, status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Framework errors (unparsable body, unknown route, wrong method) in the same shape.
        try:
            code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        except ValueError:
            code = "error"
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return JSONResponse({"error": "invalid", "detail": problems}, status_code=422)

    for router in (
        system_router,
        tenants_router,
        ingest_router,
        es_router,
        cases_router,
        cases_extra_router,
        billing_router,
        rules_router,
    ):
        app.include_router(router, responses=ERROR_RESPONSES)
    app.include_router(web_router)
    return app
