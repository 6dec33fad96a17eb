"""The finance console (TestClient): finance sees the month's invoices with their numbers,
PDFs and exports, and the running usage; a customer gets an HTML 403 page, not JSON; NL/EN."""

from __future__ import annotations

import io
from datetime import date

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from soc.core.deps import SESSION_COOKIE
from soc.core.principal import SYSTEM
from soc.services import Services
from tenants.billing import service as billing
from tests.conftest import World

MONTH = "2026-10"


def as_user(client: TestClient, world: World, user: str) -> TestClient:
    client.cookies.set(SESSION_COOKIE, world[user].token)
    return client


@pytest.fixture
def closed(client: TestClient, world: World, services: Services) -> str:
    with services.db.session() as session:
        for slug in ("alpha", "beta"):
            billing.set_account(session, SYSTEM, slug, service_start=MONTH)
        billing.close_month(
            session,
            MONTH,
            billing.load_prices(services.settings),
            today=date(2026, 11, 2),
            settings=services.settings,
        )
    return MONTH


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_finance_sees_invoices_pdfs_and_exports(
    client: TestClient, world: World, closed: str, lang: str
) -> None:
    as_user(client, world, "finance")
    page = client.get(f"/finance?month={closed}&lang={lang}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "2026-000001" in page.text and "2026-000002" in page.text
    assert ("Factuurnummer" if lang == "nl" else "Invoice number") in page.text
    assert ("€\xa0350,00" if lang == "nl" else "€350.00") in page.text
    assert ("€\xa0423,50" if lang == "nl" else "€423.50") in page.text  # 350 + 21 % VAT
    pdf = client.get(f"/finance/invoices/alpha/{closed}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    xlsx = client.get(f"/finance/months/{closed}/export.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    assert sheet["A1"].value == ("Klant" if lang == "nl" else "Customer")
    csv = client.get(f"/finance/months/{closed}/export.csv")
    assert csv.status_code == 200 and csv.text.startswith("customer,")


def test_an_open_month_says_so(client: TestClient, world: World) -> None:
    as_user(client, world, "finance")
    page = client.get("/finance?month=2026-10&lang=en")
    assert page.status_code == 200 and "not closed yet" in page.text
    assert client.get("/finance?month=2026-13").status_code == 422


def test_a_customer_gets_an_html_403(client: TestClient, world: World, closed: str) -> None:
    as_user(client, world, "customer-alpha")
    for path in ("/finance", f"/finance/invoices/alpha/{closed}.pdf"):
        answer = client.get(path, headers={"accept": "text/html"})
        assert answer.status_code == 403, path
        assert "text/html" in answer.headers["content-type"]
        assert not answer.text.lstrip().startswith("{")


def form_csrf(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_finance_decides_a_plan_sets_a_ceiling_and_adds_a_correction(
    client: TestClient, world: World, services: Services, closed: str
) -> None:
    as_user(client, world, "finance")
    page = client.get("/finance/customers/alpha?lang=nl")
    assert page.status_code == 200 and "Formules" in page.text and "Geen plafond." in page.text
    csrf = form_csrf(page.text)
    month = date.today().strftime("%Y-%m")
    decided = client.post(
        "/finance/customers/alpha/plan",
        data={"plan": "enterprise", "effective_month": month, "note": "signed", "csrf": csrf},
        follow_redirects=False,
    )
    assert decided.status_code == 303 and decided.headers["location"].endswith("done=plan")
    ceiling = client.post(
        "/finance/customers/alpha/ceiling",
        data={"ceiling": "1.234,50", "csrf": csrf},
        follow_redirects=False,
    )
    assert ceiling.headers["location"].endswith("done=ceiling")
    bad = client.post(
        "/finance/customers/alpha/correction",
        data={
            "refers_to": closed,
            "month": month,
            "amount": "12,345",
            "reason": "x",
            "csrf": csrf,
        },
        follow_redirects=False,
    )
    assert "error=" in bad.headers["location"]  # three decimals: refused, nothing stored
    good = client.post(
        "/finance/customers/alpha/correction",
        data={
            "refers_to": closed,
            "month": month,
            "amount": "-50",
            "reason": "goodwill",
            "csrf": csrf,
        },
        follow_redirects=False,
    )
    assert good.headers["location"].endswith("done=correction")
    after = client.get("/finance/customers/alpha?lang=nl").text
    assert "enterprise" in after and "signed" in after and "€\xa01.234,50" in after
    assert "goodwill" in after and after.count("data-correction=") == 1
    with services.db.session() as session:
        account = billing.account(session, SYSTEM, "alpha")
        assert str(account.ceiling) == "1234.50" and account.plans[-1] == (month, "enterprise")
    forged = client.post(
        "/finance/customers/alpha/ceiling",
        data={"ceiling": "1", "csrf": "x"},
        headers={"accept": "text/html"},
    )
    assert forged.status_code == 403 and "<html" in forged.text


def test_the_customer_page_is_finances_only(client: TestClient, world: World) -> None:
    as_user(client, world, "customer-alpha")
    refused = client.get("/finance/customers/alpha", headers={"accept": "text/html"})
    assert refused.status_code == 403 and "<html" in refused.text
    as_user(client, world, "finance")
    missing = client.get("/finance/customers/nobody", headers={"accept": "text/html"})
    assert missing.status_code == 404 and "<html" in missing.text
