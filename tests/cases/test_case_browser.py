"""End to end in headless Chromium against the running server: an analyst signs in with MFA,
opens the case a real SigmaHQ sample raised (ingested through the API), assigns it, comments
and resolves it. A screenshot is kept under the test's tmp dir.

Skips when /usr/bin/chromium or Playwright is missing (deploy/browser.sh installs chromium).
"""

from __future__ import annotations

import os
import shutil
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

CHROMIUM = Path("/usr/bin/chromium")
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "sigmahq"
RULE = (
    CORPUS
    / "rules/windows/process_creation/proc_creation_win_bitsadmin_download_susp_extensions.yml"
)
SAMPLE = (
    CORPUS / "regression_data/rules/windows/process_creation"
    "/proc_creation_win_bitsadmin_download_susp_extensions/5b80a791-ad9b-4b75-bcc1-ad4e1e89c200.json"
)
PASSWORD = "browser-test-password"

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not SAMPLE.exists(), reason="SigmaHQ corpus not present"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    totp_secret: str
    ingest_key: str


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    if not CHROMIUM.exists():  # CI installs it (deploy/browser.sh): there it must run
        message = "no /usr/bin/chromium: run deploy/browser.sh start"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    data_dir, rules = tmp_path / "var", tmp_path / "rules"
    rules.mkdir()
    shutil.copy(RULE, rules / RULE.name)
    url = f"sqlite:///{data_dir / 'soc.db'}"
    upgrade(url)
    db = Database(url)
    with db.session() as session:
        tenant_service.create_tenant(session, SYSTEM, "alpha", "Alpha")
        tenant_service.create_provider(session, SYSTEM, "prov-a", "Provider A")
        analyst = tenant_service.create_user(
            session, SYSTEM, "analyst", PASSWORD, "soc_analyst", None, None
        )
        _, key = tenant_service.create_api_key(session, SYSTEM, "alpha", "browser")
        secret = analyst.totp_secret
    db.engine.dispose()
    port = free_port()
    env = os.environ | {
        "SOC_DATA_DIR": str(data_dir),
        "SOC_DATABASE_URL": url,
        "SOC_RULES_DIRS": f'["{rules}"]',
        "SOC_INCLUDE_BUILTIN_RULES": "false",
        "SOC_MODE": "embedded",
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "soc.cli", "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                pytest.fail((tmp_path / "server.log").read_text())
            time.sleep(0.1)
        yield Server(base, secret or "", key)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def wait_for(page: Any, selector: str, tmp_path: Path) -> None:
    """Wait for the selector after a form post; on a timeout, fail with what the browser shows
    and what the server logged, so a slow or refused post on a loaded machine explains itself."""
    try:
        page.wait_for_selector(selector, timeout=60_000)
    except playwright_api.TimeoutError:
        shown = page.inner_text("body")[:2000]
        logged = (tmp_path / "server.log").read_text()[-4000:]
        pytest.fail(f"{selector} never showed at {page.url}:\n{shown}\n--- server log:\n{logged}")


def test_analyst_works_a_sigmahq_case_in_the_browser(server: Server, tmp_path: Path) -> None:
    health = httpx.get(f"{server.url}/api/v1/health").json()
    assert health["rules_loaded"] == 1
    answer = httpx.post(
        f"{server.url}/api/v1/ingest",
        content=SAMPLE.read_bytes(),
        headers={"X-API-Key": server.ingest_key, "Content-Type": "application/json"},
    )
    assert answer.status_code == 200 and answer.json()["accepted"] >= 1, answer.text

    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        blocked: list[str] = []  # what the Content-Security-Policy refused, if anything
        page.on(
            "console",
            lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(f"{server.url}/")
        page.fill("input[name=username]", "analyst")
        page.fill("input[name=password]", PASSWORD)
        page.fill("input[name=totp]", pyotp.TOTP(server.totp_secret).now())
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: url.rstrip("/") != server.url)  # the role's landing
        page.goto(f"{server.url}/cases")
        # The style sheet and the SLA countdown script load as files under the strict CSP.
        header = page.locator("header").evaluate("e => getComputedStyle(e).backgroundColor")
        assert header == "rgb(29, 35, 48)"
        page.wait_for_function(
            "() => /^-?\\d+h\\d\\dm\\d\\ds$/.test("
            "document.querySelector('[data-due]')?.textContent ?? '')"
        )
        page.click("#queue a:has-text('Bitsadmin')")
        page.wait_for_selector("#triage")
        assert page.locator("#events mark.matched").count() >= 1  # matched fields highlighted

        page.fill("input[name=assignee]", "analyst")
        page.select_option("select[name=provider]", "prov-a")
        page.click("button[value=assign]")
        wait_for(page, "#case-assignee:has-text('analyst')", tmp_path)

        page.fill("textarea[name=text]", "Bitsadmin pulled a script from GitHub; host isolated.")
        page.click("button[value=comment]")
        wait_for(page, "#timeline:has-text('host isolated')", tmp_path)

        page.select_option("select[name=status]", "resolved")
        page.fill("input[name=note]", "contained")
        page.click("button[value=status]")
        wait_for(page, "#case-status:has-text('resolved')", tmp_path)
        assert page.locator("[role=alert]").count() == 0
        assert blocked == []

        shot = tmp_path / "case-resolved.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
