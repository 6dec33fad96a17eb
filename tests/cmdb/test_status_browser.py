"""End to end in headless Chromium against a running server (issue 11's acceptance): the
service desk watches the status dashboard, a provider posts an outage event to
/api/v1/ops/events, the application goes red on the open page without a reload (the page
refreshes its status block by itself), the desk publishes an outage notice from the form, and
the customer sees the banner on its pages (never the other tenant's application).

With SOC_SCREENSHOTS=1 the screenshots are written to docs/screenshots/ (status-dashboard.png,
status-notice-banner.png) for the README; otherwise under the test's tmp dir. Skips when
/usr/bin/chromium or Playwright is missing (deploy/browser.sh installs chromium).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from soc.core.db import Database
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from tenants import service as tenant_service
from tests.cmdb.status_fixtures import add_ci

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "browser-test-password"
ALPHA_APP, BETA_APP = "Payroll Alpha", "Ledger Beta"
RED = "rgb(176, 0, 32)"  # .st-down in app.css

playwright_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    log: Path
    totp_secret: str
    alpha_app: int


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    if not CHROMIUM.exists():  # CI installs it (deploy/browser.sh): there it must run
        message = "no /usr/bin/chromium: run deploy/browser.sh start"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    data_dir, rules = tmp_path / "var", tmp_path / "rules"
    rules.mkdir()
    url = f"sqlite:///{data_dir / 'soc.db'}"
    upgrade(url)
    db = Database(url)
    with db.session() as session:
        for slug in ("alpha", "beta"):
            tenant_service.create_tenant(session, SYSTEM, slug, slug.title())
        for slug in ("prov-a", "prov-b"):
            tenant_service.create_provider(session, SYSTEM, slug, slug.upper())
        analyst = tenant_service.create_user(
            session, SYSTEM, "analyst", PASSWORD, "soc_analyst", None, None
        )
        tenant_service.create_user(session, SYSTEM, "klant", PASSWORD, "customer", "alpha", None)
        tenant_service.create_user(session, SYSTEM, "netops", PASSWORD, "provider", None, "prov-b")
        secret = analyst.totp_secret
    edge_fw = add_ci(db, "edge-fw", "firewall", provider="prov-b")
    core_db = add_ci(db, "core-db", "database", provider="prov-a", depends_on=(edge_fw,))
    alpha = add_ci(db, ALPHA_APP, tenants=("alpha",), provider="prov-a", depends_on=(core_db,))
    add_ci(db, BETA_APP, tenants=("beta",), provider="prov-b", depends_on=(core_db,))
    add_ci(db, "Intranet", tenants=("alpha",), provider="prov-a")
    db.engine.dispose()
    port = free_port()
    env = os.environ | {
        "SOC_DATA_DIR": str(data_dir),
        "SOC_DATABASE_URL": url,
        "SOC_RULES_DIRS": f'["{rules}"]',
        "SOC_INCLUDE_BUILTIN_RULES": "false",
        "SOC_MODE": "embedded",
        "SOC_STATUS_REFRESH_SECONDS": "2",
    }
    log_path = tmp_path / "server.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "soc.cli", "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                pytest.fail(log_path.read_text())
            time.sleep(0.1)
        yield Server(base, log_path, secret or "", alpha)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def wait_for(page: Any, selector: str, server: Server) -> None:
    """Wait for the selector; on a timeout, fail with what the browser shows and what the
    server logged, so a slow answer on a loaded machine explains itself."""
    try:
        page.wait_for_selector(selector, timeout=60_000)
    except playwright_api.TimeoutError:
        shown = page.inner_text("body")[:2000]
        logged = server.log.read_text()[-4000:]
        pytest.fail(f"{selector} never showed at {page.url}:\n{shown}\n--- server log:\n{logged}")


def sign_in(page: Any, server: Server, username: str, totp: str = "") -> None:
    page.goto(f"{server.url}/?lang=en")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    if totp:
        page.fill("input[name=totp]", totp)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: url.rstrip("/") != server.url, timeout=60_000)  # landing
    page.goto(f"{server.url}/cases")


def shot_path(tmp_path: Path, name: str) -> Path:
    if os.environ.get("SOC_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name
    return tmp_path / name


def test_desk_sees_the_outage_publishes_a_notice_and_the_customer_sees_it(
    server: Server, tmp_path: Path
) -> None:
    token = httpx.post(
        f"{server.url}/api/v1/auth/login", json={"username": "netops", "password": PASSWORD}
    ).json()["token"]
    row = f'#applications tr[data-app="{server.alpha_app}"]'
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        blocked: list[str] = []  # what the Content-Security-Policy refused, if anything
        desk = browser.new_page(viewport={"width": 1280, "height": 1100})
        desk.on(
            "console",
            lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
        )
        sign_in(desk, server, "analyst", pyotp.TOTP(server.totp_secret).now())
        desk.click("#nav-status")
        wait_for(desk, f'{row}[data-state="operational"]', server)
        desk.evaluate("() => { window.stillTheSamePage = true; }")

        answer = httpx.post(
            f"{server.url}/api/v1/ops/events",
            json={
                "ci": "edge-fw",
                "severity": "critical",
                "event_type": "availability",
                "summary": "edge-fw unreachable",
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert answer.status_code == 200 and answer.json()["applied"] == 1, answer.text

        wait_for(desk, f'{row}[data-state="down"]', server)  # no reload: the block refreshed
        assert desk.evaluate("() => window.stillTheSamePage") is True
        badge = desk.locator(f"{row} td.state .st")
        assert badge.inner_text().strip() == "✖ Down"  # colour and word
        assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == RED
        assert "edge-fw" in desk.locator(row).inner_text()  # the probable root cause
        box = desk.locator(f'#publish-apps input[data-app="{server.alpha_app}"]')
        assert box.is_checked()  # the notice form follows the impaired applications
        desk.screenshot(path=str(shot_path(tmp_path, "status-dashboard.png")), full_page=True)

        desk.fill("input[name=title]", "Shared database unreachable")
        desk.fill("textarea[name=body]", "A firewall failure cuts off the shared database.")
        desk.click("button[value=publish]")
        wait_for(desk, "#done", server)
        wait_for(desk, "#open-notices:has-text('Shared database unreachable')", server)

        customer = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        sign_in(customer, server, "klant")
        wait_for(customer, "#notice-banner:has-text('Shared database unreachable')", server)
        assert ALPHA_APP in customer.inner_text("#notice-banner")
        customer.click("#nav-status")
        wait_for(customer, f'{row}[data-state="down"]', server)
        wait_for(customer, "#notice-banner", server)
        assert BETA_APP not in customer.content()
        customer.screenshot(
            path=str(shot_path(tmp_path, "status-notice-banner.png")), full_page=True
        )
        assert blocked == []
        browser.close()
    for name in ("status-dashboard.png", "status-notice-banner.png"):
        assert shot_path(tmp_path, name).stat().st_size > 10_000
