"""Billing end to end through the HTTP API: ingest real events for two customers, cases, the
monthly close, exports against the raw bytes sent; plus every billing route's isolation."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from soc.core import audit
from soc.core.principal import SYSTEM
from soc.services import Services
from tenants.billing import exports, months
from tenants.billing import service as billing
from tenants.billing.models import Invoice
from tenants.metering import count_cases
from tests.conftest import PROVIDER_SCOPED, World
from tests.helpers import benign_event, key_headers, ndjson, whoami_event

BASE = "/api/v1/billing"
ALL_USERS = (
    "admin",
    "soc_analyst",
    "authority",
    "finance",
    "customer-alpha",
    "risk_owner-alpha",
    *PROVIDER_SCOPED,
)

ISOLATION_COVERED = {
    ("GET", "/api/v1/billing/usage"),
    ("GET", "/api/v1/billing/tenants/{tenant}/usage"),
    ("GET", "/api/v1/billing/tenants/{tenant}/account"),
    ("PUT", "/api/v1/billing/tenants/{tenant}/account"),
    ("POST", "/api/v1/billing/tenants/{tenant}/plans"),
    ("GET", "/api/v1/billing/tenants/{tenant}/notifications"),
    ("POST", "/api/v1/billing/tenants/{tenant}/corrections"),
    ("GET", "/api/v1/billing/tenants/{tenant}/invoices/{month}"),
    ("GET", "/api/v1/billing/tenants/{tenant}/invoices/{month}/pdf"),
    ("GET", "/api/v1/billing/months/{month}/invoices"),
    ("POST", "/api/v1/billing/months/{month}/close"),
    ("GET", "/api/v1/billing/months/{month}/export.csv"),
    ("GET", "/api/v1/billing/months/{month}/export.xlsx"),
    ("GET", "/api/v1/billing/months/{month}/export"),
    ("POST", "/api/v1/billing/simulate"),
    ("POST", "/api/v1/billing/ceilings/check"),
}


def this_month() -> str:
    return billing.month_of(date.today())


def next_month_first_day() -> date:
    today = date.today()
    return date(today.year + today.month // 12, today.month % 12 + 1, 1)


def send(client: TestClient, key: str, events: list[dict]) -> int:
    """Ingest events; return the raw bytes metered (each line without its newline)."""
    body = ndjson(*events)
    answer = client.post("/api/v1/ingest", content=body, headers=key_headers(key))
    assert answer.status_code == 200 and answer.json()["accepted"] == len(events), answer.text
    return len(body) - len(events)


def test_end_to_end_ingest_cases_close_and_exports(
    client: TestClient, world: World, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    finance = world["finance"].headers
    month = this_month()
    sent = {"alpha": 0, "beta": 0}
    # alpha: benign events and two detections on two hosts -> 2 cases (standard plan)
    sent["alpha"] += send(client, world.keys["alpha"], [benign_event(i) for i in range(40)])
    sent["alpha"] += send(
        client, world.keys["alpha"], [whoami_event("a-1", marker="1"), whoami_event("a-2")]
    )
    # beta: three detections on three hosts -> 3 cases: eligible, moved to enterprise
    sent["beta"] += send(
        client, world.keys["beta"], [whoami_event(f"b-{i}", marker=str(i)) for i in range(3)]
    )
    sent["beta"] += send(client, world.keys["beta"], [benign_event(i) for i in range(7)])
    moved = client.post(
        f"{BASE}/tenants/beta/plans",
        json={"plan": "enterprise", "effective_month": month, "note": "3 cases a month"},
        headers=finance,
    )
    assert moved.status_code == 201, moved.text

    # running usage before the invoice: the customer sees its own month to date
    own = client.get(f"{BASE}/tenants/alpha/usage", headers=world["customer-alpha"].headers)
    assert own.status_code == 200, own.text
    running = own.json()
    assert running["bytes"] == sent["alpha"] and running["cases"] == 2
    assert running["events"] == 42 and running["plan"] == "standard"
    assert {h["host"] for h in running["hosts"]} == {"ws-1", "a-1", "a-2"}
    assert sum(h["bytes"] for h in running["hosts"]) == sent["alpha"]
    assert running["projected"]["total"] == "350.00"

    # the month is over: close it through the API, twice
    monkeypatch.setattr(months, "today_utc", next_month_first_day)
    first = client.post(f"{BASE}/months/{month}/close", headers=finance)
    assert first.status_code == 200, first.text
    assert first.json() | {"total": None} == {
        "month": month,
        "issued": 2,
        "blocked": [],
        "already_closed": False,
        "total": None,
        "notified": [],  # beta is on enterprise already: nobody to tell
    }
    assert first.json()["total"] == "1250.00"  # 350.00 + 900.00 (no GB above the 10 included)
    again = client.post(f"{BASE}/months/{month}/close", headers=finance)
    assert again.json() | {"already_closed": False} == first.json() | {"notified": []}
    assert again.json()["already_closed"] is True

    # late events after the close do not change the closed month
    send(client, world.keys["alpha"], [benign_event(999)])

    csv_answer = client.get(f"{BASE}/months/{month}/export.csv", headers=finance)
    assert csv_answer.status_code == 200
    # export.csv is the old name of export?format=csv: the same file, and it says so
    current = client.get(f"{BASE}/months/{month}/export?format=csv", headers=finance)
    assert current.content == csv_answer.content and "deprecation" not in current.headers
    assert csv_answer.headers["deprecation"] == "true"
    assert csv_answer.headers["link"] == (
        f'<{BASE}/months/{month}/export?format=csv>; rel="successor-version"'
    )
    assert csv_answer.headers["content-type"].startswith("text/csv")
    rows = {r["customer"]: r for r in csv.DictReader(io.StringIO(csv_answer.text))}
    assert set(rows) == {"alpha", "beta"}
    for tenant in ("alpha", "beta"):
        assert int(rows[tenant]["bytes"]) == sent[tenant]
        assert rows[tenant]["gb"] == f"{sent[tenant] / 10**9:.9f}"
    assert rows["alpha"] | {"name": ""} == rows["alpha"] | {
        "name": "",
        "plan": "standard",
        "status": "issued",
        "cases": "2",
        "events": "42",
        "months_in_average": "1",
        "avg_cases_3m": "2.00",
        "enterprise_eligible": "no",
        "case_tier": "",
        "standard_fee": "350.00",
        "total": "350.00",
    }
    assert rows["beta"]["plan"] == "enterprise" and rows["beta"]["cases"] == "3"
    assert rows["beta"]["enterprise_eligible"] == "yes" and rows["beta"]["case_tier"] == "0-25"
    assert rows["beta"]["siem_billable_gb"] == "0.000000000"
    assert rows["beta"]["siem_volume"] == "0.00" and rows["beta"]["soc_cases"] == "900.00"
    assert rows["beta"]["total"] == "900.00"

    xlsx = client.get(f"{BASE}/months/{month}/export.xlsx", headers=finance)
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [c.value for c in sheet[1]][:3] == ["Customer", "Name", "Month"]  # human headers
    data = {
        r[0]: dict(zip(exports.COLUMNS, r, strict=False))
        for r in sheet.iter_rows(2, 3, values_only=True)
    }
    totals = [c.value for c in sheet[4]]
    assert totals[0] == "Total" and str(totals[exports.COLUMNS.index("total")]).startswith("=SUM(")
    for tenant in ("alpha", "beta"):
        assert data[tenant]["bytes"] == sent[tenant]
        assert float(data[tenant]["gb"]) == pytest.approx(sent[tenant] / 10**9)
    assert float(data["alpha"]["total"]) == 350.0 and float(data["beta"]["total"]) == 900.0

    pdf = client.get(f"{BASE}/tenants/alpha/invoices/{month}/pdf", headers=finance)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"

    # the audit chain holds the plan decision and the close, and is intact
    with services.db.session() as session:
        count, problems = audit.verify(session)
        actions = {e.action for e in session.scalars(select(audit.AuditEntry))}
    assert not problems and count > 0
    assert {"billing.plan_decided", "billing.month_closed"} <= actions


def test_closed_month_is_immutable_and_corrections_go_to_a_later_month(
    client: TestClient, world: World, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    finance = world["finance"].headers
    month = this_month()
    send(client, world.keys["alpha"], [benign_event(1)])
    monkeypatch.setattr(months, "today_utc", next_month_first_day)
    assert client.post(f"{BASE}/months/{month}/close", headers=finance).status_code == 200
    late = client.post(
        f"{BASE}/tenants/alpha/plans",
        json={"plan": "enterprise", "effective_month": month},
        headers=finance,
    )
    assert late.status_code == 409 and "closed" in late.json()["detail"]
    following = billing.month_of(next_month_first_day())
    same = client.post(
        f"{BASE}/tenants/alpha/corrections",
        json={"refers_to": month, "month": month, "amount": "-10.00", "reason": "x"},
        headers=finance,
    )
    assert same.status_code == 409
    credit = client.post(
        f"{BASE}/tenants/alpha/corrections",
        json={"refers_to": month, "month": following, "amount": "-50.00", "reason": "outage"},
        headers=finance,
    )
    assert credit.status_code == 201, credit.text
    with services.db.session() as session:
        result = billing.close_month(
            session,
            following,
            billing.load_prices(services.settings),
            today=date(2100, 1, 1),
        )
        assert result.issued == 2
        alpha = billing.invoice(session, SYSTEM, "alpha", following)
        assert [line.kind for line in alpha.lines] == ["standard_fee", "correction"]
        assert str(alpha.invoice.total) == "300.00"
        first = session.scalar(
            select(Invoice).where(Invoice.month == month, Invoice.tenant_id == 1)
        )
        assert first is not None and str(first.total) == "350.00"


def test_current_month_cannot_close_and_bad_months_are_422(
    client: TestClient, world: World
) -> None:
    finance = world["finance"].headers
    early = client.post(f"{BASE}/months/{this_month()}/close", headers=finance)
    assert early.status_code == 422 and "not over" in early.json()["detail"]
    bad = client.post(f"{BASE}/months/2025-13/close", headers=finance)
    assert bad.status_code == 422
    missing = client.get(f"{BASE}/months/2001-01/export.csv", headers=finance)
    assert missing.status_code == 409 and "not closed" in missing.json()["detail"]


def test_above_the_last_tier_the_close_names_the_customer(
    client: TestClient, world: World, services: Services
) -> None:
    with services.db.session() as session:
        billing.decide_plan(session, SYSTEM, "beta", "enterprise", this_month())
        count_cases(session, 2, date.today(), 201)
    with services.db.session() as session:
        result = billing.close_month(
            session, this_month(), billing.load_prices(services.settings), today=date(2100, 1, 1)
        )
    assert result.issued == 1 and len(result.blocked) == 1
    assert "'beta'" in result.blocked[0] and "above the highest" in result.blocked[0]


def test_ceiling_alert_once_per_month(client: TestClient, world: World) -> None:
    finance = world["finance"].headers
    put = client.put(f"{BASE}/tenants/alpha/account", json={"ceiling": "100.00"}, headers=finance)
    assert put.status_code == 200 and put.json()["ceiling"] == "100.00"
    first = client.post(f"{BASE}/ceilings/check", headers=finance).json()
    assert [u["customer"] for u in first] == ["alpha"] and first[0]["ceiling_exceeded"]
    assert client.post(f"{BASE}/ceilings/check", headers=finance).json() == []
    notes = client.get(
        f"{BASE}/tenants/alpha/notifications", headers=world["customer-alpha"].headers
    )
    assert [n["kind"] for n in notes.json()] == ["ceiling"]


def test_simulate_over_http_matches_the_rules(client: TestClient, world: World) -> None:
    from tests.billing.conftest import example_prices

    body = {
        "prices": example_prices(),
        "customers": [
            {
                "id": "x",
                "plans": [{"from": "2025-01", "plan": "enterprise"}],
                "usage": {"2025-01": {"bytes": 12_345_678_901, "cases": 30}},
            }
        ],
    }
    answer = client.post(f"{BASE}/simulate", json=body, headers=world["finance"].headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()[0]["total"] == "1604.34" and answer.json()[0]["case_tier"] == "26-50"
    bad = client.post(f"{BASE}/simulate", json={"prices": {}}, headers=world["finance"].headers)
    assert bad.status_code == 422


# --- isolation ----------------------------------------------------------------------------


@dataclass
class Probe:
    method: str
    path: str
    body: dict | None
    expected: dict[str, int]
    default: int = 403


def verdict(status: int) -> str:
    return "allowed" if status in (200, 201) else str(status)


@pytest.fixture
def closed(client: TestClient, world: World, services: Services) -> str:
    """Both customers in service since last month, which is closed (an invoice each)."""
    today = date.today()
    last = billing.month_of(date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1))
    with services.db.session() as session:
        for slug in ("alpha", "beta"):
            billing.set_account(session, SYSTEM, slug, service_start=last)
    for tenant in ("alpha", "beta"):
        send(client, world.keys[tenant], [whoami_event(f"{tenant}-host")])
    answer = client.post(f"{BASE}/months/{last}/close", headers=world["finance"].headers)
    assert answer.status_code == 200 and answer.json()["issued"] == 2, answer.text
    return last


def probes(last: str) -> list[Probe]:
    # Beta is served by prov-b: its finance officer works on it, prov-a's gets 404; lists and
    # month-wide routes answer both, with only their served tenants' rows.
    scoped = {"finance-prov-a": 404, "finance-prov-b": 200}
    both = {"finance-prov-a": 200, "finance-prov-b": 200}
    read = {"admin": 200, "finance": 200, "customer-alpha": 404} | scoped
    manage = {"admin": 200, "finance": 200} | scoped
    month_wide = {"admin": 200, "finance": 200} | both
    beta = f"{BASE}/tenants/beta"
    sim = {
        "prices": {
            "standard_monthly_fee": "1",
            "vendor_price_per_gb": "1",
            "case_tiers": [{"from": 0, "to": 200, "unit_price": "1"}],
        },
        "customers": [],
    }
    return [
        Probe(
            "GET",
            f"{BASE}/usage",
            None,
            {"admin": 200, "finance": 200, "customer-alpha": 200} | both,
        ),
        Probe("GET", f"{beta}/usage", None, read),
        Probe("GET", f"{beta}/account", None, read),
        Probe("PUT", f"{beta}/account", {"ceiling": "9999.00"}, manage),
        Probe(
            "POST",
            f"{beta}/plans",
            {"plan": "enterprise", "effective_month": this_month()},
            {"admin": 201, "finance": 201} | scoped,
        ),
        Probe("GET", f"{beta}/notifications", None, read),
        Probe(
            "POST",
            f"{beta}/corrections",
            {"refers_to": last, "month": this_month(), "amount": "-1.00", "reason": "r"},
            {"admin": 201, "finance": 201} | scoped,
        ),
        Probe("GET", f"{beta}/invoices/{last}", None, read),
        Probe("GET", f"{beta}/invoices/{last}/pdf", None, read),
        Probe(
            "GET",
            f"{BASE}/months/{last}/invoices",
            None,
            {"admin": 200, "finance": 200, "customer-alpha": 200} | both,
        ),
        # Closing a month bills every customer: unscoped users only.
        Probe("POST", f"{BASE}/months/{last}/close", None, {"admin": 200, "finance": 200}),
        Probe("GET", f"{BASE}/months/{last}/export.csv", None, month_wide),
        Probe("GET", f"{BASE}/months/{last}/export.xlsx", None, month_wide),
        Probe("GET", f"{BASE}/months/{last}/export?format=xlsx", None, month_wide),
        Probe("POST", f"{BASE}/simulate", sim, month_wide),
        Probe("POST", f"{BASE}/ceilings/check", None, month_wide),
    ]


def test_every_billing_route_answers_each_role_as_documented(
    client: TestClient, world: World, closed: str
) -> None:
    failures = []
    for probe in probes(closed):
        for user in ALL_USERS:
            want = probe.expected.get(user, probe.default)
            got = client.request(
                probe.method, probe.path, json=probe.body, headers=world[user].headers
            )
            if verdict(got.status_code) != verdict(want):
                failures.append(
                    f"{probe.method} {probe.path} as {user}: {got.status_code}, want {want}"
                )
    assert not failures, "\n".join(failures)
    assert len(probes(closed)) == len(ISOLATION_COVERED)
    assert client.get(f"{BASE}/usage").status_code == 401


def test_a_customer_lists_only_its_own_rows(client: TestClient, world: World, closed: str) -> None:
    customer = world["customer-alpha"].headers
    usage = client.get(f"{BASE}/usage?month={closed}", headers=customer).json()
    assert [u["customer"] for u in usage] == ["alpha"]
    invoices = client.get(f"{BASE}/months/{closed}/invoices", headers=customer).json()
    assert [i["customer"] for i in invoices] == ["alpha"]
    own = client.get(f"{BASE}/tenants/alpha/invoices/{closed}/pdf", headers=customer)
    assert own.status_code == 200
    finance = client.get(f"{BASE}/months/{closed}/invoices", headers=world["finance"].headers)
    assert [i["customer"] for i in finance.json()] == ["alpha", "beta"]


def test_a_provider_scoped_officer_lists_only_served_customers(
    client: TestClient, world: World, closed: str
) -> None:
    """finance-prov-b works for prov-b, which serves beta only: no list shows alpha."""
    officer = world["finance-prov-b"].headers
    usage = client.get(f"{BASE}/usage?month={closed}", headers=officer).json()
    assert [u["customer"] for u in usage] == ["beta"]
    invoices = client.get(f"{BASE}/months/{closed}/invoices", headers=officer).json()
    assert [i["customer"] for i in invoices] == ["beta"]
    exported = client.get(f"{BASE}/months/{closed}/export.csv", headers=officer).text
    assert "beta" in exported and "alpha" not in exported
    other = client.get(f"{BASE}/tenants/alpha/invoices/{closed}/pdf", headers=officer)
    assert other.status_code == 404
