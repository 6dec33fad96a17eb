"""Browser journey: an admin onboards a tenant in one step, and the tenant then ingests (NL, EN)."""

from __future__ import annotations

import os
from typing import Any

import httpx
import orjson
import pytest

from tests.helpers import whoami_event
from tests.web.demo_server import DemoSite

HEADINGS = {"en": "Onboard a tenant", "nl": "Een klant onboarden"}
SOURCES = {"en": "Log sources per tenant", "nl": "Logbronnen per klant"}


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "nl"])
def test_admin_onboards_a_tenant_that_then_ingests(
    demo_site: DemoSite, browser_page: Any, lang: str
) -> None:
    page = browser_page
    slug = f"journey-{lang}-{os.getpid()}"
    demo_site.sign_in(page, "admin", lang)
    assert page.url.endswith("/admin")
    page.click("#onboard-link")
    assert page.inner_text("h1") == HEADINGS[lang]
    page.fill("#onboard-slug", slug)
    page.fill("#onboard-name", f"Journey {lang.upper()}")
    page.fill("#onboard-users", f"{slug}-portal")
    page.check("input[name=disable_level][value=informational]")
    page.select_option("#onboard-calendar", "24x7")
    page.click("#onboard-submit")
    page.wait_for_load_state("load")
    values = page.locator("#secrets dd code")
    assert values.count() == 6  # tenant, key, plan, rules, SLA calendar, one password
    assert values.nth(4).inner_text().startswith("24/7")
    key = values.nth(1).inner_text()
    assert key.startswith("soc_")

    event = whoami_event(f"{slug}-ws")
    answer = httpx.post(
        f"{demo_site.url}/api/v1/ingest",
        content=orjson.dumps(event) + b"\n",
        headers={"X-API-Key": key, "Content-Type": "application/x-ndjson"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1

    page.goto(f"{demo_site.url}/admin")
    assert SOURCES[lang] in page.inner_text("#log-sources")
    row = page.locator(f'tr[data-tenant="{slug}"]')
    assert f"{slug}-ws" in row.inner_text()
