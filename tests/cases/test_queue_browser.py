"""Browser journey (Chromium): an analyst bulk-triages a burst, in English and Dutch.

A burst of whoami detections on hosts of this run's own names opens cases; the analyst signs
in (landing on the dashboard), opens the queue filtered to the burst, assigns one case with
the keyboard ("j", then "a"), selects the rest with "j"/"x" and closes them as false positives
with a rule exception in one bulk action, and reads the per-case report."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import pytest

from tests.helpers import key_headers, ndjson, whoami_event
from tests.web.demo_server import DemoSite

BURST = 4
WORDS = {
    "en": {"report": f"Bulk action: {BURST - 1} done, 0 refused", "assigned": "1 done, 0 refused"},
    "nl": {
        "report": f"Bulkactie: {BURST - 1} uitgevoerd, 0 geweigerd",
        "assigned": "1 uitgevoerd, 0 geweigerd",
    },
}


def rows(page: Any) -> int:
    return int(page.locator("#queue tbody tr[data-case]").count())


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "nl"])
def test_analyst_bulk_triages_a_burst(demo_site: DemoSite, browser_page: Any, lang: str) -> None:
    page = browser_page
    prefix = f"burst{lang}{os.getpid()}{int(time.time()) % 100000}"
    events = [whoami_event(f"{prefix}-{i}", 2, prefix) for i in range(BURST)]
    answer = httpx.post(
        f"{demo_site.url}/api/v1/ingest",
        content=ndjson(*events),
        headers=key_headers(demo_site.ingest_key()),
        timeout=30,
    )
    assert answer.status_code in (200, 202), answer.text
    demo_site.sign_in(page, "soc_analyst", lang)
    assert page.url.endswith("/console")
    assert page.locator("#open-by-priority").count() == 1
    queue = f"{demo_site.url}/cases?host={prefix}&status=open"
    deadline = time.monotonic() + 60
    page.goto(queue)
    while rows(page) < BURST and time.monotonic() < deadline:
        time.sleep(0.5)
        page.goto(queue)
    assert rows(page) == BURST
    # "?" shows the shortcuts; "j" then "a" assigns the first case to me
    page.keyboard.press("?")
    assert page.locator("#shortcuts").get_attribute("open") is not None
    page.keyboard.press("?")
    page.keyboard.press("j")
    first = page.locator("#queue tbody tr.current").get_attribute("data-case")
    page.keyboard.press("a")
    page.wait_for_selector("#bulk-report")
    assert WORDS[lang]["assigned"] in page.inner_text("#bulk-report h2")
    assigned = page.locator(f'#queue tr[data-case="{first}"] td.assignee').inner_text()
    assert assigned.startswith("soc")
    # select the other cases with the keyboard, then close them as false positives
    for _ in range(BURST - 1):
        page.keyboard.press("j")
        current = page.locator("#queue tbody tr.current").get_attribute("data-case")
        if current == first:
            page.keyboard.press("j")
        page.keyboard.press("x")
    picked = page.locator("#queue input.pick:checked")
    if picked.count() < BURST - 1:  # the assigned case may have moved: pick by checkbox
        for box in page.locator("#queue tbody tr[data-case]").all():
            if box.get_attribute("data-case") != first:
                box.locator("input.pick").check()
    assert page.locator("#queue input.pick:checked").count() == BURST - 1
    assert page.inner_text("#selected-count") == str(BURST - 1)
    page.select_option("#bulk-action", "false_positive")
    page.fill("input[name=reason]", f"admin script {prefix}")
    page.check("input[name=add_exception]")
    page.click("#bulk-submit")
    page.wait_for_selector("#bulk-report")
    report = page.inner_text("#bulk-report")
    assert WORDS[lang]["report"] in report
    # the queue (still filtered to open cases) now holds only the assigned one
    assert rows(page) == 1
    assert page.locator(f'#queue tr[data-case="{first}"]').count() == 1
