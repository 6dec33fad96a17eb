"""Browser journey: finance closes a month after its preview and downloads the invoice PDF, in
English, then reads the closed month and a Dutch customer's PDF in Dutch.

The journey makes its own customers on the shared demo site (unique slugs, in service since two
months ago, one invoiced in English, one in Dutch); the month it closes is last month, which no
other journey closes."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pypdfium2
import pytest

from tenants.billing import rules
from tests.web.demo_server import DemoSite


def pdf_text(data: bytes) -> str:
    document = pypdfium2.PdfDocument(io.BytesIO(data))
    return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))


def customer(site: DemoSite, admin: dict[str, str], start: str, language: str) -> str:
    slug = f"fin-{language}-{uuid.uuid4().hex[:6]}"
    made = httpx.post(
        f"{site.url}/api/v1/tenants",
        json={"slug": slug, "name": f"Gemeente {slug}"},
        headers=admin,
        timeout=30,
    )
    assert made.status_code == 201, made.text
    account = httpx.put(
        f"{site.url}/api/v1/billing/tenants/{slug}/account",
        json={
            "service_start": start,
            "invoicing": {
                "legal_name": f"Gemeente {slug}",
                "address": ["Wetstraat 1", "1000 Brussel"],
                "vat_number": "BE0123456789",
                "language": language,
            },
        },
        headers=admin,
        timeout=30,
    )
    assert account.is_success, account.text
    return slug


@pytest.mark.browser
def test_finance_closes_a_month_and_downloads_the_invoice(
    demo_site: DemoSite, browser_page: Any
) -> None:
    this_month = datetime.now(UTC).strftime("%Y-%m")
    last, start = rules.add_months(this_month, -1), rules.add_months(this_month, -2)
    admin = {"Authorization": f"Bearer {demo_site.token('admin')}"}
    english = customer(demo_site, admin, start, "en")
    dutch = customer(demo_site, admin, start, "nl")

    page = browser_page
    demo_site.sign_in(page, "finance", "en")
    assert page.url.endswith("/finance")
    page.goto(f"{demo_site.url}/finance?month={last}")
    page.click("#close-month")
    preview = page.locator("#close-preview")
    assert preview.locator(f'tr[data-tenant="{english}"]').count() == 1, page.content()[:3000]
    assert preview.locator(f'tr[data-tenant="{dutch}"]').count() == 1
    # The preview issued nothing: the month is still open until the confirmation.
    still_open = httpx.get(f"{demo_site.url}/api/v1/billing/months/{last}/invoices", headers=admin)
    issued = still_open.json() if still_open.status_code == 200 else []
    assert [i for i in issued if i["customer"] in (english, dutch)] == []
    page.click("#confirm-close")
    page.wait_for_selector("#closed-done")
    row = page.locator(f'#invoices tr[data-tenant="{english}"]')
    number = row.locator("td").nth(1).inner_text()
    assert number.startswith(f"{last[:4]}-"), number
    href = row.locator("a").get_attribute("href")
    assert href is not None
    download = page.request.get(f"{demo_site.url}{href}")  # with the browser's session
    assert download.ok and download.headers["content-type"] == "application/pdf"
    data = download.body()
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert number in text and "Invoice" in text and f"Gemeente {english}" in text
    assert "E-" not in text

    page.goto(f"{demo_site.url}/finance?month={last}&lang=nl")
    assert page.inner_text("h1") == "Financiën"
    assert page.locator("#close-month").count() == 0  # closed months close once
    href = page.locator(f'#invoices tr[data-tenant="{dutch}"] a').get_attribute("href")
    assert href is not None
    pdf = page.request.get(f"{demo_site.url}{href}")
    assert pdf.ok and "Factuur" in pdf_text(pdf.body())
