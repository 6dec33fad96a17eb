"""The API documentation: /docs and /redoc served offline (assets from fastapi-offline, no
inline script), the OpenAPI document with its security schemes, and every operation with a
summary, a description and a domain tag. The browser test renders /docs in Chromium with every
request off the server aborted: it works without internet."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient

from soc.docs_routes import ASSET_TYPES, SUMMARIES
from tests.web.demo_server import DemoSite

METHODS = ("get", "post", "put", "patch", "delete")


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def test_docs_pages_use_local_assets_and_no_inline_script(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        answer = client.get(page)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
        html = answer.text
        assert "http://" not in html and "https://" not in html, html  # no CDN, no fonts
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        assert scripts and all(
            'src="/docs/assets/' in attrs and not body for attrs, body in scripts
        )
        csp = answer.headers["content-security-policy"]
        script_src = re.search(r"script-src ([^;]*)", csp)
        assert script_src and script_src.group(1).strip() == "'self'", csp
        assert "https:" not in csp and "cdn" not in csp
    assert 'data-spec-url="/openapi.json"' in client.get("/docs").text
    assert '<redoc spec-url="/openapi.json">' in client.get("/redoc").text
    for name, media_type in [*ASSET_TYPES.items(), ("swagger-init.js", "text/javascript")]:
        asset = client.get(f"/docs/assets/{name}")
        assert asset.status_code == 200, name
        assert asset.headers["content-type"].startswith(media_type)
        assert len(asset.content) > (1000 if name != "swagger-init.js" else 100)
    assert "SwaggerUIBundle(" in client.get("/docs/assets/swagger-init.js").text
    missing = client.get("/docs/assets/../app.py")
    assert missing.status_code == 404
    assert client.get("/docs/assets/nothing.js").json()["error"] == "not_found"


def test_openapi_declares_the_bearer_token_and_the_ingest_key(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http" and schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["ingestKey"] == {**schemes["ingestKey"], "type": "apiKey", "in": "header"}
    assert schemes["ingestKey"]["name"] == "X-API-Key"
    by_key = {f"{m.upper()} {p}": op for m, p, op in operations(spec)}
    assert by_key["POST /api/v1/ingest"]["security"] == [{"ingestKey": []}]
    assert by_key["POST /es/_bulk"]["security"] == [{"ingestKey": []}]
    # A route an API token may call lists the scopes that open it beside the user's bearer.
    cases_read = [{"bearerAuth": []}, {"apiToken": ["cases:read", "cases:write"]}]
    assert by_key["GET /api/v1/cases"]["security"] == cases_read
    assert by_key["POST /api/v1/tenants"]["security"] == [{"bearerAuth": []}]
    assert schemes["apiToken"]["type"] == "http" and schemes["apiToken"]["scheme"] == "bearer"
    for open_route in ("GET /api/v1/health", "POST /api/v1/auth/login"):
        assert "security" not in by_key[open_route]
    secured = [op for op in by_key.values() if "security" in op]
    assert len(secured) > 150


def test_the_declared_security_matches_what_the_routes_enforce(client: TestClient) -> None:
    """Every GET without path parameters that declares the bearer token refuses a caller
    without one (401), and every one that declares nothing answers without it."""
    spec = client.get("/openapi.json").json()
    checked = 0
    for method, path, op in operations(spec):
        if method != "get" or "{" in path or not path.startswith("/api/"):
            continue
        answer = client.get(path)
        if {"bearerAuth": []} in op.get("security", []):
            assert answer.status_code == 401, (path, answer.text)
            assert answer.json()["error"] == "unauthorized"
            checked += 1
        elif "security" not in op:
            assert answer.status_code != 401, path
    assert checked > 30


def test_every_operation_has_a_summary_a_description_and_a_domain_tag(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    tags = {tag["name"] for tag in spec["tags"]}
    assert all(tag.get("description") for tag in spec["tags"])
    problems = []
    for method, path, op in operations(spec):
        where = f"{method.upper()} {path}"
        if not op.get("summary", "").strip():
            problems.append(f"{where}: no summary")
        if not op.get("description", "").strip():
            problems.append(f"{where}: no description (add a docstring)")
        if len(op.get("tags", [])) != 1 or op["tags"][0] not in tags:
            problems.append(f"{where}: tags {op.get('tags')} not one of the declared domains")
    assert not problems, "\n".join(problems)
    assert len(operations(spec)) > 150


def test_summary_overrides_name_existing_operations_and_creates_say_so(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    by_key = {f"{m.upper()} {p}": op for m, p, op in operations(spec)}
    stale = [key for key in SUMMARIES if key not in by_key]
    assert not stale, f"summaries for operations that no longer exist: {stale}"
    for key, summary in SUMMARIES.items():
        assert by_key[key]["summary"] == summary
    # A POST answered 201 makes something new: its summary says "Create".
    creates = [
        (key, op["summary"])
        for key, op in by_key.items()
        if key.startswith("POST ") and "201" in op["responses"]
    ]
    assert creates
    wrong = [(key, summary) for key, summary in creates if not summary.startswith("Create")]
    assert not wrong, wrong


@pytest.mark.browser
def test_swagger_ui_and_redoc_render_with_the_internet_blocked(
    demo_site: DemoSite, browser_page: Any
) -> None:
    page = browser_page
    server = urlparse(demo_site.url).netloc
    blocked: list[str] = []
    refused: list[str] = []

    def only_the_server(route: Any) -> None:
        if urlparse(route.request.url).netloc == server:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{demo_site.url}/docs")
    page.wait_for_selector(".opblock-summary", timeout=60_000)
    assert page.locator(".opblock").count() > 150
    assert page.locator(".opblock-summary-description", has_text="Create Tenant").count() >= 1
    page.click("button.authorize")
    page.wait_for_selector(".modal-ux", timeout=10_000)
    dialog = page.inner_text(".modal-ux")
    assert "bearerAuth" in dialog and "ingestKey" in dialog and "X-API-Key" in dialog
    page.keyboard.press("Escape")

    page.goto(f"{demo_site.url}/redoc")
    page.wait_for_selector("[data-section-id^='tag/']", timeout=60_000)
    assert "ingestKey" in page.inner_text("body")
    # ReDoc's one outside reference, its decorative "Redocly" logo, is refused by the policy
    # and the component removes itself; anything else refused would be a broken page.
    others = [text for text in refused if "cdn.redoc.ly/redoc/logo-mini.svg" not in text]
    assert not others, others
    # Nothing needed the internet; whatever tried (a font, a validator) was refused and the
    # pages still rendered.
    assert all(urlparse(u).netloc != server for u in blocked)
