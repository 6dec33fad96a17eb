"""End to end in headless Chromium against a running server (issue 12's acceptance): an analyst
raises a risk from a security case, assesses it and asks for acceptance; a mitigation action's
early warning shows on the owner's and the customer's pages after the warning sweep; the
authority aligns the risk with advice and accepts it from its queue.

With SOC_SCREENSHOTS=1 the screenshots are written to docs/screenshots/ (risk-register.png,
risk-authority-queue.png, risk-owner.png, risk-customer.png) for the README; otherwise under
the test's tmp dir. Skips when /usr/bin/chromium or Playwright is missing, like the status
browser test (deploy/browser.sh installs chromium).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import select

from risk import actions, nonconformities, risks, warnings
from risk.action_schemas import ActionCreate
from risk.models import Risk
from risk.nc_schemas import NCIn
from risk.schemas import RiskCreate
from risk.workdays import WorkCalendar
from soc.cases.models import Case
from soc.core.db import Database
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from tenants import service as tenant_service
from tenants.models import Tenant

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "browser-test-password"
CASE_TITLE = "Credential dumping on ws-7"
BETA_RISK = "Beta payroll export unencrypted"

playwright_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    log: Path
    db_url: str
    totp_secret: str
    case_id: int


def seed(db: Database) -> tuple[str, int]:
    """Tenants, providers, the four users, a case of alpha and a few risks for the heat map."""
    settings = Settings()
    with db.session() as session:
        for slug in ("alpha", "beta"):
            tenant_service.create_tenant(session, SYSTEM, slug, slug.title())
        for slug in ("prov-a", "prov-b"):
            tenant_service.create_provider(session, SYSTEM, slug, slug.upper())
        analyst = tenant_service.create_user(
            session, SYSTEM, "analyst", PASSWORD, "soc_analyst", None, None
        )
        for name, role, tenant in (
            ("toezicht", "authority", None),
            ("eigenaar", "risk_owner", "alpha"),
            ("klant", "customer", "alpha"),
        ):
            tenant_service.create_user(session, SYSTEM, name, PASSWORD, role, tenant, None)
        alpha = session.scalars(select(Tenant).where(Tenant.slug == "alpha")).one()
        now = datetime.now(UTC)
        case = Case(
            tenant_id=alpha.id,
            rule_id="proc_creation_win_mimikatz",
            title=CASE_TITLE,
            level="high",
            host="ws-7",
            first_seen=now,
            last_seen=now,
        )
        session.add(case)
        for title, scope, tenants, li, im, rl, ri in (
            ("Shared DNS single point of failure", "common", [], 3, 5, 2, 4),
            ("Supplier lock-in of the SIEM", "common", [], 2, 4, 2, 3),
            ("Legacy VPN appliance", "specific", ["alpha"], 4, 3, 2, 2),
            (BETA_RISK, "specific", ["beta"], 2, 4, 1, 4),
            ("Backup restore untested", "specific", ["alpha"], 3, 3, 3, 2),
        ):
            data = RiskCreate.model_validate(
                {
                    "title": title,
                    "category": "strategic" if "lock-in" in title else "operational",
                    "source": "audit",
                    "scope": scope,
                    "tenants": tenants,
                    "likelihood": li,
                    "impact": im,
                    "residual_likelihood": rl,
                    "residual_impact": ri,
                }
            )
            risks.create_risk(session, SYSTEM, settings, data)
        nc = nonconformities.create_nc(
            session,
            SYSTEM,
            NCIn.model_validate(
                {
                    "title": "Backups of alpha never restored",
                    "kind": "process",
                    "source": "audit",
                    "scope": "specific",
                    "tenant": "alpha",
                }
            ),
        )
        proposal = ActionCreate.model_validate(
            {
                "register": "improvement_proposal",
                "title": "Quarterly restore test",
                "scope": "specific",
                "tenant": "alpha",
                "nc_id": nc.id,
                "owner_provider": "prov-a",
                "service": "backup",
                "due": (date.today() + timedelta(days=90)).isoformat(),
            }
        )
        actions.create_action(session, SYSTEM, settings, proposal, date.today())
        session.flush()
        return analyst.totp_secret or "", case.id


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
    secret, case_id = seed(db)
    db.engine.dispose()
    port = free_port()
    env = os.environ | {
        "SOC_DATA_DIR": str(data_dir),
        "SOC_DATABASE_URL": url,
        "SOC_RULES_DIRS": f'["{rules}"]',
        "SOC_INCLUDE_BUILTIN_RULES": "false",
        "SOC_MODE": "embedded",
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
        yield Server(base, log_path, url, secret, case_id)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def wait_for(page: Any, selector: str, server: Server) -> None:
    """Wait for the selector; on a timeout, fail with what the browser shows and what the
    server logged."""
    try:
        page.wait_for_selector(selector, timeout=30_000)
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
    page.wait_for_url(lambda url: url.rstrip("/") != server.url, timeout=30_000)  # landing
    page.goto(f"{server.url}/cases")


def shot_path(tmp_path: Path, name: str) -> Path:
    if os.environ.get("SOC_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name
    return tmp_path / name


def sweep(server: Server, risk_id: int) -> None:
    """A mitigation of the raised risk owned by `eigenaar`, due 5 working days from today,
    and the early-warning sweep of today (what the Celery beat task runs)."""
    settings = Settings()
    today = date.today()
    due = WorkCalendar.with_closing_days(settings.risk_extra_closing_days).after(
        today, settings.risk_early_warning_working_days
    )
    db = Database(server.db_url)
    with db.session() as session:
        data = ActionCreate.model_validate(
            {
                "register": "mitigation",
                "title": "Reset the exposed credentials",
                "scope": "specific",
                "tenant": "alpha",
                "risk_id": risk_id,
                "owner_user": "eigenaar",
                "due": due.isoformat(),
            }
        )
        actions.create_action(session, SYSTEM, settings, data, today)
        run = warnings.send_due_warnings(session, settings, today)
        assert run.checked >= 1
    db.engine.dispose()


def test_a_risk_from_a_case_its_early_warning_and_the_authoritys_acceptance(
    server: Server, tmp_path: Path
) -> None:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        blocked: list[str] = []  # what the Content-Security-Policy refused, if anything

        def page_for(width: int = 1280, height: int = 1000) -> Any:
            page = browser.new_context(viewport={"width": width, "height": height}).new_page()
            page.on(
                "console",
                lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
            )
            return page

        # (a) The analyst raises a risk from the case: title, source and link come along.
        analyst = page_for()
        sign_in(analyst, server, "analyst", pyotp.TOTP(server.totp_secret).now())
        analyst.goto(f"{server.url}/cases/{server.case_id}")
        analyst.click("#raise-risk")
        wait_for(analyst, "#raise-form", server)
        assert analyst.input_value("input[name=title]") == CASE_TITLE
        assert "SOC case" in analyst.inner_text("#raise-source")
        analyst.select_option("select[name=likelihood]", "4")
        analyst.select_option("select[name=impact]", "5")
        analyst.select_option("select[name=residual_likelihood]", "2")
        analyst.select_option("select[name=residual_impact]", "3")
        analyst.select_option("select[name=treatment]", "accept")
        analyst.fill("input[name=owner]", "eigenaar")
        analyst.click("button[value=raise]")
        wait_for(analyst, "#done", server)
        risk_url = analyst.url.split("?")[0]
        risk_id = int(risk_url.rsplit("/", 1)[1])
        assert analyst.get_attribute("#risk-links a", "href") == f"/cases/{server.case_id}"
        analyst.select_option("#risk-forms select[name=status]", "assessed")
        analyst.click("button[value=status]")
        wait_for(analyst, '#risk-status[data-status="assessed"]', server)
        analyst.fill("#risk-forms input[name=note] >> nth=-1", "Residual 6 after MFA")
        analyst.click("button[value=request]")
        wait_for(analyst, "#done:has-text('Acceptance requested')", server)
        analyst.goto(f"{server.url}/risk?lang=en")
        wait_for(analyst, '#heat-inherent td[data-l="4"][data-i="5"][data-count="1"]', server)
        analyst.screenshot(path=str(shot_path(tmp_path, "risk-register.png")), full_page=True)

        # (c) The authority aligns the risk with advice, then accepts it from its queue.
        authority = page_for()
        sign_in(authority, server, "toezicht")
        authority.goto(f"{risk_url}?lang=en")
        authority.fill("textarea[name=advice]", "Enforce MFA on all admin accounts of alpha.")
        authority.click("button[value=align]")
        wait_for(authority, "#risk-advice", server)
        authority.goto(f"{server.url}/risk/authority")
        row = f'#acceptance-queue tr[data-risk="{risk_id}"]'
        wait_for(authority, row, server)
        authority.fill(f"{row} input[name=justification]", "Residual risk within appetite")
        authority.screenshot(
            path=str(shot_path(tmp_path, "risk-authority-queue.png")), full_page=True
        )
        authority.click(f"{row} button[value=approve]")
        wait_for(authority, "#done", server)
        assert authority.locator(row).count() == 0
        assert "Supplier lock-in of the SIEM" in authority.inner_text("#strategic-risks")
        authority.goto(risk_url)
        wait_for(authority, '#risk-acceptance[data-state="accepted"]', server)

        # (b) The mitigation's early warning reaches the owner and the customer.
        sweep(server, risk_id)
        owner = page_for()
        sign_in(owner, server, "eigenaar")
        owner.goto(f"{server.url}/risk/mine?lang=en")
        wait_for(owner, '#notifications tr[data-kind="early_warning"]', server)
        assert "Reset the exposed credentials" in owner.inner_text("#notifications")
        owner.fill("#my-actions input[name=text]", "Half of the accounts reset")
        owner.fill("#my-actions input[name=progress_pct]", "50")
        owner.select_option("#my-actions select[name=status]", "in_progress")
        owner.click("#my-actions button[value=note]")
        wait_for(owner, "#done", server)
        assert "Half of the accounts reset" in owner.inner_text("#my-actions")
        owner.screenshot(path=str(shot_path(tmp_path, "risk-owner.png")), full_page=True)

        customer = page_for()
        sign_in(customer, server, "klant")
        customer.goto(f"{server.url}/risk/customer?lang=nl")
        wait_for(customer, '#notifications tr[data-kind="early_warning"]', server)
        wait_for(customer, f'#aligned-risks tr[data-risk="{risk_id}"]', server)
        assert "Enforce MFA" in customer.inner_text("#aligned-risks")
        assert BETA_RISK not in customer.content()
        assert "Quarterly restore test" in customer.inner_text("#nonconformities")
        wait_for(customer, "#nonconformities button[value=approve]", server)
        customer.screenshot(path=str(shot_path(tmp_path, "risk-customer.png")), full_page=True)
        assert blocked == []
        browser.close()
    db = Database(server.db_url)
    with db.session() as session:
        risk = session.get(Risk, risk_id)
        assert risk is not None and risk.source == "soc_case"
        assert risk.acceptance_state == "accepted" and risk.aligned_at is not None
    db.engine.dispose()
    for name in (
        "risk-register.png",
        "risk-authority-queue.png",
        "risk-owner.png",
        "risk-customer.png",
    ):
        assert shot_path(tmp_path, name).stat().st_size > 10_000
