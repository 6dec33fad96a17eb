"""One product server with the demo data, shared by the browser journeys of every role.

`demo_site` (session scope) starts `soc run --demo` on a free port with its own embedded
database, exactly as the Quick start does. `DemoSite.sign_in(page, role, lang)` signs a fresh
user of `role` in through the sign-in form (MFA included for the roles that need it), with the
demo user's scope (the demo tenant for customers and risk owners, the demo provider for
providers): a user per journey, so journeys never share a session or replay a TOTP code.

Fails when Chromium is missing in CI (deploy/browser.sh installs it), skips elsewhere.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from soc.core.db import Database
from soc.core.principal import SYSTEM
from soc.demo import DEMO_PROVIDER, DEMO_TENANT
from tenants import service as tenant_service

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "journey-password-2026"
# The scope of each role's demo user (soc.demo.DEMO_USERS).
SCOPES = {"customer": "tenant", "risk_owner": "tenant", "provider": "provider"}
_serial = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class DemoSite:
    url: str
    database_url: str
    log: Path
    db: Database = field(repr=False)

    def new_user(self, role: str) -> tuple[str, str | None]:
        """A fresh user of `role` with the demo user's scope: (username, TOTP secret)."""
        username = f"{role.replace('_', '')}{next(_serial)}x{os.getpid()}"
        scope = SCOPES.get(role)
        with self.db.session() as session:
            created = tenant_service.create_user(
                session,
                SYSTEM,
                username,
                PASSWORD,
                role,
                tenant=DEMO_TENANT if scope == "tenant" else None,
                provider=DEMO_PROVIDER if scope == "provider" else None,
                totp_required_roles=("admin", "soc_analyst"),
            )
            return username, created.totp_secret

    def sign_in(self, page: Any, role: str, lang: str = "en") -> str:
        """Sign a fresh `role` user in through the form; the page ends on the role's landing."""
        username, secret = self.new_user(role)
        page.goto(f"{self.url}/?lang={lang}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        if secret:
            page.fill("input[name=totp]", pyotp.TOTP(secret).now())
        page.click("button[type=submit]")
        page.wait_for_load_state("load")
        if page.url.rstrip("/") == self.url or "/login" in page.url:
            shown = page.inner_text("body")[:500]
            pytest.fail(f"sign-in of {username} ({role}) failed: {shown}")
        return username

    def token(self, role: str) -> str:
        """An API bearer token of a fresh `role` user (for a journey's own setup)."""
        username, secret = self.new_user(role)
        body = {"username": username, "password": PASSWORD}
        if secret:
            body["totp"] = pyotp.TOTP(secret).now()
        answer = httpx.post(f"{self.url}/api/v1/auth/login", json=body, timeout=30)
        answer.raise_for_status()
        token: str = answer.json()["token"]
        return token

    def ingest_key(self, tenant: str = DEMO_TENANT) -> str:
        with self.db.session() as session:
            _, secret = tenant_service.create_api_key(session, SYSTEM, tenant, "journey")
            return secret


@contextmanager
def start_demo_site(base_dir: Path) -> Iterator[DemoSite]:
    """Run `soc run --demo` on a free port with its data under `base_dir` until the block ends
    (also for scripts/screenshots.py). Raises RuntimeError when the server does not come up."""
    data_dir = base_dir / "var"
    url = f"sqlite:///{data_dir / 'soc.db'}"
    port = free_port()
    env = os.environ | {
        "SOC_DATA_DIR": str(data_dir),
        "SOC_DATABASE_URL": url,
        "SOC_MODE": "embedded",
    }
    log = base_dir / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "soc.cli",
                "run",
                "--demo",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None:
                    raise RuntimeError(log.read_text()[-4000:])
                time.sleep(0.2)
            else:
                raise RuntimeError(
                    "the demo server did not start in 180 s:\n" + log.read_text()[-4000:]
                )
            db = Database(url)
            yield DemoSite(base, url, log, db)
            db.engine.dispose()
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        message = "no /usr/bin/chromium: run deploy/browser.sh start"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    try:
        with start_demo_site(tmp_path_factory.mktemp("demo-site")) as site:
            yield site
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def browser_page(demo_site: DemoSite) -> Iterator[Any]:
    """A fresh Chromium page (its own cookies) on the demo site."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
