"""The customer portal (`/portal`): a customer sees only its own cases and invoices, the cases
waiting on it first; it answers a waiting case from the case page (the same service as the
API's comment route, CSRF-checked, PRG); another tenant's case is the HTML 404 page; no
operator-only text reaches a customer; Dutch and English."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient

from soc.core.principal import SYSTEM
from soc.core.settings import Settings
from soc.services import Services
from tenants.billing import service as billing
from tests.conftest import World
from tests.helpers import form_csrf, key_headers, ndjson, whoami_event

PRICE_ERROR = "no price table"


def raise_case(client: TestClient, world: World, tenant: str, host: str) -> int:
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event(host)),
        headers=key_headers(world.keys[tenant]),
    )
    assert answer.status_code == 200, answer.text
    items = client.get("/api/v1/cases?limit=500", headers=world["admin"].headers).json()["items"]
    return int(next(c["id"] for c in items if c["host"] == host))


def wait_on_customer(client: TestClient, world: World, case_id: int) -> None:
    for status in ("triage", "waiting_on_customer"):
        answer = client.post(
            f"/api/v1/cases/{case_id}/status",
            json={"status": status},
            headers=world["soc_analyst"].headers,
        )
        assert answer.is_success, answer.text


def page(client: TestClient, world: World, user: str, url: str) -> tuple[int, str]:
    client.cookies.set("soc_session", world[user].token)
    answer = client.get(url, headers={"accept": "text/html"})
    return answer.status_code, answer.text


@pytest.fixture
def closed(client: TestClient, world: World, services: Services) -> str:
    """Both customers in service since last month, which is closed (an invoice each)."""
    today = date.today()
    last = billing.month_of(date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1))
    with services.db.session() as session:
        for slug in ("alpha", "beta"):
            billing.set_account(session, SYSTEM, slug, service_start=last)
    answer = client.post(f"/api/v1/billing/months/{last}/close", headers=world["finance"].headers)
    assert answer.status_code == 200 and answer.json()["issued"] == 2, answer.text
    return last


def test_portal_shows_only_own_cases_and_invoices_waiting_first(
    client: TestClient, world: World, closed: str
) -> None:
    mine = raise_case(client, world, "alpha", "alpha-pc-1")
    waiting = raise_case(client, world, "alpha", "alpha-pc-2")
    theirs = raise_case(client, world, "beta", "beta-pc-1")
    wait_on_customer(client, world, waiting)
    status, body = page(client, world, "customer-alpha", "/portal")
    assert status == 200
    cases = [int(x) for x in re.findall(r'data-case="(\d+)"', body)]
    assert cases[0] == waiting and set(cases) == {mine, waiting}
    assert theirs not in cases and "beta-pc-1" not in body
    assert re.search(rf'data-case="{waiting}" class="waiting"', body)
    assert 'id="waiting-count"' in body and "Waiting on the customer" in body
    assert re.findall(r'data-invoice="([\d-]+)"', body) == [closed]
    assert f'href="/portal/invoices/{closed}.pdf"' in body
    assert 'href="/status"' in body and 'href="/risk/customer"' in body and 'href="/kri"' in body
    assert 'id="nav-portal"' in body and 'id="nav-cases"' not in body
    # Beta sees its own case and not alpha's.
    _, other = page(client, world, "customer-beta", "/portal")
    assert [int(x) for x in re.findall(r'data-case="(\d+)"', other)] == [theirs]
    # The PDF is the reader's own invoice.
    client.cookies.set("soc_session", world["customer-alpha"].token)
    pdf = client.get(f"/portal/invoices/{closed}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "invoice-alpha-" in pdf.headers["content-disposition"]
    missing = client.get("/portal/invoices/2001-01.pdf", headers={"accept": "text/html"})
    assert missing.status_code == 404 and "<html" in missing.text
    # An admin looks over a customer's shoulder; without ?tenant= it is told how.
    status, admin = page(client, world, "admin", "/portal?tenant=beta")
    assert status == 200 and f'data-case="{theirs}"' in admin and f'data-case="{mine}"' not in admin
    assert page(client, world, "admin", "/portal")[0] == 403
    assert page(client, world, "soc_analyst", "/portal")[0] == 403


def test_reply_box_only_when_waiting_and_the_reply_lands(client: TestClient, world: World) -> None:
    open_case = raise_case(client, world, "alpha", "alpha-rb-1")
    waiting = raise_case(client, world, "alpha", "alpha-rb-2")
    wait_on_customer(client, world, waiting)
    _, plain = page(client, world, "customer-alpha", f"/portal/cases/{open_case}")
    assert 'id="reply-text"' not in plain and "alpha-rb-1" in plain
    status, body = page(client, world, "customer-alpha", f"/portal/cases/{waiting}")
    assert status == 200 and 'id="reply-text"' in body and 'for="reply-text"' in body
    # A forged form changes nothing.
    forged = client.post(
        f"/portal/cases/{waiting}/reply",
        data={"text": "forged", "csrf": "x"},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    answer = client.post(
        f"/portal/cases/{waiting}/reply",
        data={"text": "The login at 03:00 was our backup job.", "csrf": form_csrf(body)},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"].endswith("replied=1")
    _, after = page(client, world, "customer-alpha", answer.headers["location"])
    assert 'id="replied"' in after and "The login at 03:00 was our backup job." in after
    assert "forged" not in after
    timeline = client.get(
        f"/api/v1/cases/{waiting}/timeline", headers=world["soc_analyst"].headers
    ).json()
    comments = [e for e in timeline if e["kind"] == "comment"]
    assert [c["detail"]["text"] for c in comments] == ["The login at 03:00 was our backup job."]
    assert comments[0]["actor"].endswith("customer-alpha")
    # The answer is what the case waited for: it is back in progress, its clock running again.
    case = client.get(f"/api/v1/cases/{waiting}", headers=world["soc_analyst"].headers).json()
    assert case["status"] == "in_progress"
    moves = [e["detail"] for e in timeline if e["kind"] == "status"]
    assert moves[-1]["from"] == "waiting_on_customer" and moves[-1]["to"] == "in_progress"
    assert (
        'id="reply-text"'
        not in page(client, world, "customer-alpha", f"/portal/cases/{waiting}")[1]
    )
    # An empty answer is refused with a message, nothing added.
    empty = client.post(
        f"/portal/cases/{waiting}/reply",
        data={"text": "  ", "csrf": form_csrf(body)},
        follow_redirects=False,
    )
    assert empty.status_code == 303 and "error=" in empty.headers["location"]
    again = client.get(f"/api/v1/cases/{waiting}/timeline", headers=world["soc_analyst"].headers)
    assert sum(e["kind"] == "comment" for e in again.json()) == 1


def test_a_foreign_case_is_the_html_404_page(client: TestClient, world: World) -> None:
    theirs = raise_case(client, world, "beta", "beta-fc-1")
    wait_on_customer(client, world, theirs)
    status, body = page(client, world, "customer-alpha", f"/portal/cases/{theirs}")
    assert status == 404 and "<html" in body and "beta-fc-1" not in body
    status, _ = page(client, world, "customer-alpha", "/portal/cases/not-a-number")
    assert status == 404
    client.cookies.set("soc_session", world["customer-alpha"].token)
    body_page = page(client, world, "customer-alpha", "/portal")[1]
    reply = client.post(
        f"/portal/cases/{theirs}/reply",
        data={"text": "hello", "csrf": form_csrf(body_page)},
        headers={"accept": "text/html"},
    )
    assert reply.status_code == 404
    timeline = client.get(f"/api/v1/cases/{theirs}/timeline", headers=world["admin"].headers)
    assert not [e for e in timeline.json() if e["kind"] == "comment"]


def test_dutch_and_english(client: TestClient, world: World) -> None:
    waiting = raise_case(client, world, "alpha", "alpha-nl-1")
    wait_on_customer(client, world, waiting)
    _, en = page(client, world, "customer-alpha", "/portal?lang=en")
    assert "Open cases" in en and "Invoices" in en and "Waiting on the customer" in en
    _, nl = page(client, world, "customer-alpha", "/portal?lang=nl")
    assert "Open cases" not in nl and "Facturen" in nl and "Open incidenten" in nl
    _, case_nl = page(client, world, "customer-alpha", f"/portal/cases/{waiting}?lang=nl")
    assert "Verstuur het antwoord" in case_nl and "Send the answer" not in case_nl


class TestWithoutPrices:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"billing_prices": None, "billing_prices_file": None})

    def test_no_operator_text_for_customers(self, client: TestClient, world: World) -> None:
        raise_case(client, world, "alpha", "alpha-op-1")
        for url in ("/usage", "/portal"):
            status, body = page(client, world, "customer-alpha", url)
            assert status == 200, url
            assert PRICE_ERROR not in body and "SOC_BILLING" not in body, url
            assert "The projected amount is not available yet." in body, url
        _, finance = page(client, world, "finance", "/usage")
        assert PRICE_ERROR in finance
