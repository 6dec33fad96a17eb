"""The three KRI pages in headless Chromium against a running server (issue 13, item 9): the
customer's tiles with trend lines, the provider submitting a value through its form (marked on
time), the authority's end-to-end view with every provider's on-time record.

With SOC_SCREENSHOTS=1 the screenshots are written to docs/screenshots/ (kri-customer.png,
kri-provider.png, kri-authority.png) for the README; otherwise under the test's tmp dir. Skips
when /usr/bin/chromium or Playwright is missing, like the risk browser test (deploy/browser.sh
installs chromium); on CI it must run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from kri import rules
from kri.models import KriDefinition, KriReport, KriValue
from soc.core.db import Database
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from tenants import scope as scope_service
from tenants import service as tenant_service
from tenants.models import Provider, Tenant

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "browser-test-password"
TODAY = date.today()
NOW_PERIOD = f"{TODAY:%Y-%m}"
PERIOD = rules.previous_period(NOW_PERIOD)

playwright_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Server:
    url: str
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kri(kri_id: str, name_nl: str, name_en: str, **fields: object) -> KriDefinition:
    base: dict[str, object] = {
        "direction": "higher_better",
        "norm": "95",
        "green": "95",
        "amber": "90",
        "scope": "customer",
        "source": "computed",
        "computation": kri_id,
        "domain": "Security operations",
        "weight": "1",
        "due_working_days": 3,
        "quality": {"min": "0", "max": "100", "required": True},
    }
    return KriDefinition(id=kri_id, name_nl=name_nl, name_en=name_en, **(base | fields))


def seed(db: Database) -> None:
    """Tenants, providers (prov-a serves alpha), the three users, a few KRIs with a year of
    values for alpha, prov-a's record and an end-to-end report."""
    with db.session() as session:
        for slug in ("alpha", "beta"):
            tenant_service.create_tenant(session, SYSTEM, slug, slug.title())
        for slug in ("prov-a", "prov-b"):
            tenant_service.create_provider(session, SYSTEM, slug, slug.upper())
        scope_service.serve(session, SYSTEM, "prov-a", "alpha")
        scope_service.serve(session, SYSTEM, "prov-b", "beta")
        for name, role, tenant, provider in (
            ("klant", "customer", "alpha", None),
            ("leverancier", "provider", None, "prov-a"),
            ("toezicht", "authority", None, None),
        ):
            tenant_service.create_user(session, SYSTEM, name, PASSWORD, role, tenant, provider)
        alpha = session.scalars(select(Tenant.id).where(Tenant.slug == "alpha")).one()
        prov_a = session.scalars(select(Provider.id).where(Provider.slug == "prov-a")).one()
        session.execute(delete(KriDefinition))  # this test's own catalogue, not the shipped one
        session.add_all(catalogue(prov_a))
        session.flush()
        session.add_all(values(alpha, prov_a))


def catalogue(prov_a: int) -> list[KriDefinition]:
    """Three computed KRIs of a customer, one end to end, one submitted by prov-a."""
    return [
        kri("response_sla_pct", "Reactie binnen SLA", "Response within SLA"),
        kri("resolution_sla_pct", "Oplossing binnen SLA", "Resolution within SLA"),
        kri(
            "open_high_critical_risks",
            "Open hoge risico's",
            "Open high risks",
            direction="lower_better",
            norm="2",
            green="2",
            amber="4",
            unit="",
            domain="Risk",
        ),
        kri(
            "actions_on_time_pct",
            "Acties op tijd",
            "Actions on time",
            norm="90",
            green="90",
            amber="85",
            scope="end_to_end",
            domain="Risk",
        ),
        kri(
            "sd_reachability_pct",
            "Bereikbaarheid servicedesk",
            "Service desk reachability",
            scope="provider",
            source="submitted",
            computation="",
            owner_provider_id=prov_a,
            domain="Service desk",
        ),
    ]


def values(alpha: int, prov_a: int) -> list[Any]:
    """A year of alpha's figures, six months of prov-a's record, reports, end-to-end values."""
    out: list[Any] = []
    for kri_id, series in (
        ("response_sla_pct", [92, 94, 96, 97, 95, 93, 96, 98, 97, 99, 96, 98]),
        ("resolution_sla_pct", [88, 90, 89, 91, 92, 90, 93, 91, 89, 88, 90, 91]),
        ("open_high_critical_risks", [5, 4, 4, 3, 3, 2, 2, 3, 4, 5, 6, 5]),
    ):
        lower = kri_id == "open_high_critical_risks"
        norm, green, amber = (2, 2, 4) if lower else (95, 95, 90)
        direction: rules.Direction = "lower_better" if lower else "higher_better"
        for back, figure in zip(range(11, -1, -1), series, strict=True):
            value = Decimal(figure)
            out.append(
                KriValue(
                    kri_id=kri_id,
                    period=rules.previous_period(PERIOD, back),
                    tenant_id=alpha,
                    value=str(figure),
                    source="computed",
                    due=TODAY,
                    on_time=True,
                    achievement=str(rules.achievement(value, Decimal(norm), direction)),
                    rag=rules.rag(value, Decimal(green), Decimal(amber), direction),
                    met=rules.met(value, Decimal(norm), direction),
                )
            )
    for back, on_time in ((6, True), (5, True), (4, True), (3, True), (2, True), (1, False)):
        at = rules.previous_period(NOW_PERIOD, back)
        out.append(
            KriValue(
                kri_id="sd_reachability_pct",
                period=at,
                provider_id=prov_a,
                value="97",
                source="submitted",
                due=TODAY,
                on_time=on_time,
                rag="green",
                achievement="100.0",
                met=True,
            )
        )
    out.append(
        KriReport(kind="customer", period=PERIOD, tenant_id=alpha, content="{}", sha256="0" * 64)
    )
    out.append(KriReport(kind="end_to_end", period=PERIOD, content="{}", sha256="1" * 64))
    for back, text in enumerate(("93.5", "91", "88", "92", "95", "96")):
        out.append(
            KriValue(
                kri_id="actions_on_time_pct",
                period=rules.previous_period(PERIOD, back),
                value=text,
                source="computed",
                due=TODAY,
                on_time=True,
                achievement=str(rules.achievement(Decimal(text), Decimal(90), "higher_better")),
                rag="green" if Decimal(text) >= 90 else "red",
                met=Decimal(text) >= 90,
            )
        )
    return out


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    if not CHROMIUM.exists():  # CI installs it (deploy/browser.sh): there it must run
        message = "no /usr/bin/chromium: run deploy/browser.sh start"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    data_dir, rules_dir = tmp_path / "var", tmp_path / "rules"
    rules_dir.mkdir()
    url = f"sqlite:///{data_dir / 'soc.db'}"
    upgrade(url)
    db = Database(url)
    seed(db)
    db.engine.dispose()
    port = free_port()
    env = os.environ | {
        "SOC_DATA_DIR": str(data_dir),
        "SOC_DATABASE_URL": url,
        "SOC_RULES_DIRS": f'["{rules_dir}"]',
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
        yield Server(base, log_path)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def wait_for(page: Any, selector: str, server: Server) -> None:
    try:
        page.wait_for_selector(selector, timeout=30_000)
    except playwright_api.TimeoutError:
        shown = page.inner_text("body")[:2000]
        logged = server.log.read_text()[-4000:]
        pytest.fail(f"{selector} never showed at {page.url}:\n{shown}\n--- server log:\n{logged}")


def sign_in(page: Any, server: Server, username: str) -> None:
    page.goto(f"{server.url}/?lang=en")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: url.rstrip("/") != server.url, timeout=30_000)  # landing
    page.goto(f"{server.url}/cases")


def shot_path(tmp_path: Path, name: str) -> Path:
    if os.environ.get("SOC_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name
    return tmp_path / name


def test_the_customer_provider_and_authority_kri_pages(server: Server, tmp_path: Path) -> None:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        blocked: list[str] = []

        def page_for() -> Any:
            page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            page.on(
                "console",
                lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
            )
            return page

        customer = page_for()
        sign_in(customer, server, "klant")
        customer.goto(f"{server.url}/kri?lang=nl")
        wait_for(customer, '#kri-tiles article[data-kri="response_sla_pct"] polyline', server)
        assert "Reactie binnen SLA" in customer.inner_text("#kri-tiles")
        assert customer.locator("#kri-tiles a.drill").count() >= 2  # cases and risks
        assert customer.locator("#archive tr[data-report]").count() == 1
        customer.screenshot(path=str(shot_path(tmp_path, "kri-customer.png")), full_page=True)

        provider = page_for()
        sign_in(provider, server, "leverancier")
        provider.goto(f"{server.url}/kri/provider?period={NOW_PERIOD}&lang=en")
        row = '#kri-submissions tr[data-kri="sd_reachability_pct"]'
        wait_for(provider, f'{row}[data-status="open"]', server)
        provider.fill(f"{row} input[name=value]", "98.4")
        provider.click(f"{row} button[value=submit]")
        wait_for(provider, "#done", server)
        wait_for(provider, f'{row}[data-status="on_time"]', server)
        assert "98.4" in provider.inner_text(row)
        provider.screenshot(path=str(shot_path(tmp_path, "kri-provider.png")), full_page=True)

        authority = page_for()
        sign_in(authority, server, "toezicht")
        authority.goto(f"{server.url}/kri/authority?lang=en")
        record = '#on-time-records table[data-provider="prov-a"]'
        wait_for(authority, record, server)
        late = rules.previous_period(NOW_PERIOD)
        cell = f'{record} tr[data-kri="sd_reachability_pct"] td[data-period="{late}"]'
        assert authority.get_attribute(cell, "data-on-time") == "false"
        assert authority.locator('#on-time-records table[data-provider="prov-b"]').count() == 1
        wait_for(authority, '#kri-tiles article[data-kri="actions_on_time_pct"] polyline', server)
        assert authority.locator('#domains tr[data-domain="Risk"]').count() == 1
        authority.screenshot(path=str(shot_path(tmp_path, "kri-authority.png")), full_page=True)
        assert blocked == []
        browser.close()
    for name in ("kri-customer.png", "kri-provider.png", "kri-authority.png"):
        assert shot_path(tmp_path, name).stat().st_size > 10_000
