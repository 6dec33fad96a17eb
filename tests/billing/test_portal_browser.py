"""Browser journey: a customer answers a case that waits on it, in Dutch and in English.

The journey makes its own case on the shared demo site (an event with a unique host from the
demo tenant's ingest key), which the demo analyst moves to "waiting on the customer" through
the API; the customer then finds it first on its portal, answers it and sees its answer."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import orjson
import pytest

from tests.helpers import key_headers, whoami_event
from tests.web.demo_server import DemoSite


def waiting_case(site: DemoSite, host: str) -> int:
    key = site.ingest_key()
    answer = httpx.post(
        f"{site.url}/api/v1/ingest",
        content=orjson.dumps(whoami_event(host)) + b"\n",
        headers=key_headers(key),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    analyst = {"Authorization": f"Bearer {site.token('soc_analyst')}"}
    case_id = None
    for _ in range(60):
        found = httpx.get(
            f"{site.url}/api/v1/cases", params={"q": host}, headers=analyst, timeout=30
        ).json()["items"]
        if found:
            case_id = int(found[0]["id"])
            break
        time.sleep(0.5)
    assert case_id is not None, f"no case for {host}"
    for status in ("triage", "waiting_on_customer"):
        moved = httpx.post(
            f"{site.url}/api/v1/cases/{case_id}/status",
            json={"status": status},
            headers=analyst,
            timeout=30,
        )
        assert moved.is_success, moved.text
    return case_id


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "nl"])
def test_customer_answers_a_waiting_case(demo_site: DemoSite, browser_page: Any, lang: str) -> None:
    host = f"portal-{lang}-{uuid.uuid4().hex[:8]}"
    case_id = waiting_case(demo_site, host)
    page = browser_page
    demo_site.sign_in(page, "customer", lang)
    assert page.url.endswith("/portal")
    row = page.locator(f'tr[data-case="{case_id}"]')
    assert "waiting" in (row.get_attribute("class") or "")
    assert page.locator("#waiting-count").is_visible()
    assert page.locator("#nav-cases").count() == 0
    row.locator("a").click()
    page.wait_for_load_state("load")
    expected = "Wacht op de klant" if lang == "nl" else "Waiting on the customer"
    assert page.inner_text("#case-status") == expected
    text = f"Answer {host}: that was our backup job."
    page.fill("#reply-text", text)
    page.click("#reply-send")
    page.wait_for_load_state("load")
    assert "replied=1" in page.url
    thanks = page.inner_text("#replied")
    assert thanks == (
        "Bedankt: we hebben je antwoord ontvangen."
        if lang == "nl"
        else "Thank you: we received your answer."
    )
    assert text in page.inner_text("#timeline")
