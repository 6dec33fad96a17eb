"""OpenID Connect sign-in in headless Chromium against the local provider (deploy/oidc.sh)
and a real `soc run` server: a person whose `groups` claim maps to the customer of tenant A
signs in at the provider's own login form and sees A's case and nothing of B's; a person with
no mapped claim gets the "no access" page; signing out ends the session at the provider too.
The protocol's checks (tampered tokens) are tests/tenants/test_oidc_flow.py.

Fails when Chromium is missing in CI (deploy/browser.sh installs it), skips elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from soc.core.db import Database
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from tenants import service as tenant_service
from tests.helpers import key_headers, ndjson, whoami_event
from tests.services import service_url
from tests.tenants.test_oidc_flow import idp_config, issuer_and_secret
from tests.web.demo_server import CHROMIUM, ROOT, free_port

TENANTS = ("oidc-a", "oidc-b")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`soc run` with the provider configured, tenants A and B each with one case."""
    pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        message = "no /usr/bin/chromium: run deploy/browser.sh start"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    service_url("oidc")
    issuer, secret = issuer_and_secret()
    base = tmp_path_factory.mktemp("oidc-site")
    url = f"sqlite:///{base / 'soc.db'}"
    upgrade(url)
    db = Database(url)
    keys = {}
    with db.session() as session:
        for slug in TENANTS:
            tenant_service.create_tenant(session, SYSTEM, slug, slug.upper())
            keys[slug] = tenant_service.create_api_key(session, SYSTEM, slug, "browser")[1]
    db.engine.dispose()
    port = free_port()
    env = os.environ | {
        "SOC_DATA_DIR": str(base),
        "SOC_DATABASE_URL": url,
        "SOC_MODE": "embedded",
        "SOC_OIDC_PROVIDERS": orjson.dumps([idp_config(issuer, secret, *TENANTS)]).decode(),
    }
    log = base / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "soc.cli", "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    site_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{site_url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("soc run did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.2)
        for slug in TENANTS:
            answer = httpx.post(
                f"{site_url}/api/v1/ingest",
                content=ndjson(whoami_event(f"{slug}-host")),
                headers=key_headers(keys[slug]),
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        yield site_url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def page(site: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        opened = context.new_page()
        opened.set_default_timeout(30_000)
        try:
            yield opened
        finally:
            context.close()
            browser.close()


def sign_in_at_provider(page: Any, site: str, login: str, lang: str = "en") -> None:
    page.goto(f"{site}/?lang={lang}")
    page.click("#oidc-testidp")  # "Sign in with Test IdP"
    page.wait_for_selector("input[name=login]")  # the provider's own login form
    assert page.url.startswith(issuer_and_secret()[0])
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


@pytest.mark.browser
def test_customer_of_tenant_a_sees_only_a(page: Any, site: str, tmp_path: Path) -> None:
    sign_in_at_provider(page, site, "customer-a")
    try:
        page.wait_for_url(f"{site}/portal*", timeout=15_000)
    except Exception:
        pytest.fail(f"ended on {page.url}: {page.inner_text('body')[:600]}")
    cases = page.inner_text("#portal-cases")
    assert "oidc-a-host" in cases and "oidc-b-host" not in cases
    assert page.inner_text("#who") == "user:customer-a"
    page.screenshot(path=str(tmp_path / "oidc-portal.png"))
    # Signing out ends the session here and at the provider, whose sign-out page follows.
    page.click("form.signout button")
    page.wait_for_url(issuer_and_secret()[0] + "/session/end*")
    page.goto(f"{site}/portal")
    assert "/portal" not in page.url  # back to the sign-in page: the session is gone


@pytest.mark.browser
@pytest.mark.parametrize(("lang", "title"), [("en", "No access"), ("nl", "Geen toegang")])
def test_no_mapped_claim_gets_the_no_access_page(
    page: Any, site: str, lang: str, title: str
) -> None:
    sign_in_at_provider(page, site, "nobody", lang)
    page.wait_for_selector("#oidc-refused")
    assert page.inner_text("#error-title") == title
    assert "nobody" in page.inner_text("#error-detail")
    page.goto(f"{site}/portal")
    assert "/portal" not in page.url
