"""The API documentation, offline: Swagger UI at /docs and ReDoc at /redoc with their assets
from the `fastapi-offline` package (no CDN), and the OpenAPI document with its security
schemes (the bearer token of a session or API login, the tenant's ingest key).

The pages carry no inline script: Swagger UI starts from `/docs/assets/swagger-init.js`, and
ReDoc reads its `<redoc spec-url>` element itself, so the documentation's Content-Security-Policy
(soc.headers.DOCS_CSP) allows scripts from this server only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from html import escape
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts

from soc.core.deps import current_principal, ingest_principal
from soc.core.errors import NotFound
from soc.core.i18n import N_
from soc.core.principal import TOKEN_SCOPES, token_scopes_for

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
ASSET_URL = "/docs/assets/"

# Swagger UI's start-up, which FastAPI inlines in the page: a file of its own here (CSP).
SWAGGER_INIT = """\
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    persistAuthorization: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
  });
})();
"""

BEARER = "bearerAuth"
INGEST_KEY = "ingestKey"
API_TOKEN = "apiToken"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "The token of `POST /api/v1/auth/login` (a user's session; the web "
        "pages use the session cookie instead): `Authorization: Bearer <token>`.",
    },
    API_TOKEN: {
        "type": "http",
        "scheme": "bearer",
        "description": "An integration's API token (`POST /api/v1/auth/api-tokens`, `soc tokens "
        "create`): `Authorization: Bearer soct_...`. It acts as its user cut to its scopes; "
        "each operation lists the scopes that open it (any one of them), and one that lists "
        "none is closed to tokens (403). Scopes: "
        + "; ".join(f"`{name}`: {scope.description}" for name, scope in TOKEN_SCOPES.items())
        + ".",
    },
    INGEST_KEY: {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A tenant's ingest key (`POST /api/v1/tenants/{tenant}/api-keys`), for "
        "`/api/v1/ingest` and the Elasticsearch-compatible `/es` routes. Also accepted as "
        "`Authorization: Bearer <key>`, `ApiKey <key>` or basic auth with the key as password.",
    },
}

# One tag per domain, in the order the documentation lists them.
OPENAPI_TAGS: list[dict[str, str]] = [
    {"name": "system", "description": "Health and the audit chain."},
    {"name": "identity and tenants", "description": "Login, users, tenants, providers, keys."},
    {"name": "ingest and events", "description": "Sending events and searching the store."},
    {"name": "Elasticsearch-compatible ingest", "description": "The bulk API of log shippers."},
    {"name": "detection rules", "description": "Sigma rules, tenant rules and exceptions."},
    {"name": "cases", "description": "Security cases, evidence, problems and ITSM."},
    {"name": "billing", "description": "Usage, plans, invoices and month closes."},
    {"name": "jobs", "description": "Long-running work started by other routes."},
    {"name": "cmdb", "description": "Configuration items, relations and imports."},
    {"name": "operations", "description": "Operational events, incidents and maintenance."},
    {"name": "status", "description": "The status dashboard, notices and subscriptions."},
    {"name": "risk", "description": "The risk register, acceptances and the heat map."},
    {"name": "actions", "description": "Risk actions, evidence and deadline changes."},
    {"name": "nonconformities", "description": "Non-conformities, proposals, register I/O."},
    {"name": "kri", "description": "Key risk indicators: catalogue, values and scores."},
    {"name": "kri reports", "description": "Published KRI reports."},
    {"name": "dwh", "description": "Data-warehouse exports of the KRI data."},
]

# Summaries that name what a POST does where the function's name does not ("Post Plan"): a
# POST that makes something new is a "Create …". Paths stay as they are (clients use them).
SUMMARIES: dict[str, str] = {
    "POST /api/v1/billing/tenants/{tenant}/plans": "Create a plan decision",
    "POST /api/v1/billing/tenants/{tenant}/corrections": "Create a correction",
    "POST /api/v1/billing/months/{month}/close": "Close a month",
    "POST /api/v1/billing/simulate": "Simulate invoices",
    "POST /api/v1/billing/ceilings/check": "Check the spending ceilings",
    "POST /api/v1/cases/{case_id}/comments": "Create a comment",
    "POST /api/v1/cases/{case_id}/evidence": "Create evidence (upload)",
    "POST /api/v1/cases/{case_id}/split": "Create a case split off from this one",
    "POST /api/v1/rules/tenant-rules": "Create or replace a tenant rule",
    "POST /api/v1/cmdb/relations": "Create a relation",
    "POST /api/v1/cmdb/maintenance": "Create a maintenance window",
    "POST /api/v1/ops/events": "Create operational events",
    "POST /api/v1/status/notices": "Create (publish) a notice",
    "POST /api/v1/status/subscriptions": "Create a subscription",
    "POST /api/v1/risk/risks/{risk_id}/links": "Create a risk link",
    "POST /api/v1/risk/risks/{risk_id}/acceptance": "Create an acceptance request",
    "POST /api/v1/risk/from-case/{case_id}": "Create a risk from a case",
    "POST /api/v1/risk/actions/{action_id}/notes": "Create a note",
    "POST /api/v1/risk/actions/{action_id}/evidence": "Create evidence (upload)",
    "POST /api/v1/risk/actions/{action_id}/deadline-changes": "Create a deadline change request",
    "POST /api/v1/risk/followups": "Create the month's follow-ups",
    "POST /api/v1/kri/submissions": "Create a KRI value (submit)",
    "POST /api/v1/kri/submissions/upload": "Create KRI values from a file",
    "POST /api/v1/kri/dwh/exports": "Create a DWH export",
    "POST /api/v1/kri/reports": "Create (publish) a report",
    "POST /api/v1/kri/reports/{report_id}/correction": "Create a corrected report version",
    "POST /api/v1/kri/compute": "Compute the KRIs",
    "POST /api/v1/auth/totp/enroll": "Start TOTP enrolment",
    "POST /api/v1/auth/totp/verify": "Confirm TOTP enrolment",
    "POST /api/v1/rules/test": "Test a rule on events",
    "POST /api/v1/rules/hunt": "Hunt with a rule over stored events",
    "POST /api/v1/rules/state": "Enable or disable rules",
    "POST /es/_bulk": "Bulk ingest (Elasticsearch API)",
    "POST /es/{index}/_bulk": "Bulk ingest into an index (Elasticsearch API)",
    "POST /es/{index}/_doc": "Create a document (Elasticsearch API)",
    "POST /es/{index}/_doc/{doc_id}": "Create a document with its id (Elasticsearch API)",
    "POST /api/v1/tenants/onboard": "Create a tenant in one step (onboarding)",
    "POST /api/v1/itsm/webhook": "Receive an ITSM update (signed webhook)",
}

router = APIRouter(include_in_schema=False)


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" type="image/png" href="{ASSET_URL}favicon.png">{head}</head>'
        f"<body>{body}</body></html>"
    )


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    spec = escape(request.app.openapi_url or "/openapi.json")
    return _page(
        f"{request.app.title} API",
        f'<link rel="stylesheet" href="{ASSET_URL}swagger-ui.css">',
        f'<div id="swagger-ui" data-spec-url="{spec}"></div>'
        f'<script src="{ASSET_URL}swagger-ui-bundle.js"></script>'
        f'<script src="{ASSET_URL}swagger-init.js"></script>',
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    spec = escape(request.app.openapi_url or "/openapi.json")
    return _page(
        f"{request.app.title} API",
        "",
        f'<redoc spec-url="{spec}"></redoc><script src="{ASSET_URL}redoc.standalone.js"></script>',
    )


@router.get("/docs/assets/{name}")
def asset(name: str) -> Response:
    if name == "swagger-init.js":
        return Response(SWAGGER_INIT, media_type="text/javascript")
    media_type = ASSET_TYPES.get(name)
    if media_type is None:
        raise NotFound(N_("not found"))
    return FileResponse(
        ASSETS / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
    )


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def security_of(dependant: Dependant) -> list[dict[str, list[str]]] | None:
    """The security requirement of a route, from what it depends on: the ingest key, or a
    logged-in user's bearer token; None for a route anyone may call."""
    calls = set(_calls(dependant))
    if ingest_principal in calls:
        return [{INGEST_KEY: []}]
    if current_principal in calls:
        return [{BEARER: []}]
    return None


def token_security(security: list[dict[str, list[str]]], route: Any, method: str) -> list[Any]:
    """The API-token alternative of a bearer route: the scopes that open it (the same table
    `Principal.require_token_route` enforces), or nothing when no scope does."""
    if security != [{BEARER: []}]:
        return []
    scopes = token_scopes_for(route.original_route.tags or (), method)
    return [{API_TOKEN: scopes}] if scopes else []


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every documented API route as FastAPI resolves it (prefixes of included routers
    applied): with `path_format`, `methods` and `dependant`."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            yield context


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the security schemes and each operation's requirement."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    paths = schema.get("paths", {})
    for key, summary in SUMMARIES.items():
        method, _, path = key.partition(" ")
        operation = paths.get(path, {}).get(method.lower())
        if operation is not None:
            operation["summary"] = summary
    for route in _api_routes(app):
        security = security_of(route.dependant)
        if security is None:
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is not None:
                operation["security"] = security + token_security(security, route, method)
    return schema


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc offline and publish the OpenAPI document with its security."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(router)
