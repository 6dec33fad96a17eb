"""The status pages (server-rendered): every role that reads the CMDB gets the dashboard, a CI
page and monthly availability in English and Dutch; a customer of alpha never meets beta's
application on any of them; a foreign CI is a 404; only the service desk publishes outage
notices, and the affected customers see them as a banner on every page; customers subscribe."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from soc.cmdb.models import OutageNotice, Subscription
from soc.services import Services
from soc.web import chrome, pages
from tests.cases.test_case_screens import sign_in
from tests.cmdb.status_fixtures import add_ci
from tests.conftest import World
from tests.helpers import form_csrf

ALPHA_APP, BETA_APP = "Payroll Alpha", "Ledger Beta"


@dataclass
class Topology:
    alpha_app: int
    beta_app: int
    core_db: int
    edge_fw: int


@pytest.fixture
def topology(services: Services, world: World) -> Topology:
    """Two tenants' applications on one shared database behind prov-b's firewall."""
    db = services.db
    edge_fw = add_ci(db, "edge-fw", "firewall", provider="prov-b")
    core_db = add_ci(db, "core-db", "database", provider="prov-a", depends_on=(edge_fw,))
    alpha = add_ci(db, ALPHA_APP, tenants=("alpha",), provider="prov-a", depends_on=(core_db,))
    beta = add_ci(db, BETA_APP, tenants=("beta",), provider="prov-b", depends_on=(core_db,))
    return Topology(alpha, beta, core_db, edge_fw)


def fire(client: TestClient, world: World, ci: str, state: str = "firing") -> None:
    answer = client.post(
        "/api/v1/ops/events",
        json={"ci": ci, "severity": "critical", "state": state, "event_type": "availability"},
        headers=world["provider-prov-b"].headers,
    )
    assert answer.status_code == 200 and answer.json()["applied"] == 1, answer.text


def as_user(client: TestClient, world: World, user: str) -> TestClient:
    client.cookies.clear()
    sign_in(client, world, user)
    return client


def test_the_status_forms_share_the_session_token_of_the_other_pages() -> None:
    assert chrome.form_token("some-session") == pages.form_token("some-session")


READERS = ("admin", "soc_analyst", "authority", "customer-alpha", "provider-prov-a")


@pytest.mark.parametrize("user", [*READERS, "soc_analyst-prov-a"])
def test_every_reader_gets_the_pages_in_english_and_dutch(
    client: TestClient, world: World, topology: Topology, user: str
) -> None:
    fire(client, world, "edge-fw")
    as_user(client, world, user)
    english = client.get("/status?lang=en")
    assert english.status_code == 200, english.text
    assert "Service status" in english.text and 'id="nav-status"' in english.text
    assert ALPHA_APP in english.text and 'class="st st-down"' in english.text
    assert "✖</span> Down" in english.text  # colour, symbol and word
    dutch = client.get("/status?lang=nl")
    assert "Dienststatus" in dutch.text and "Storing" in dutch.text
    assert "Waarschijnlijke oorzaak" in dutch.text
    ci = client.get(f"/status/ci/{topology.core_db}")  # the language choice is remembered
    assert ci.status_code == 200 and "Tijdlijn" in ci.text and "core-db" in ci.text
    month = client.get("/status/availability?lang=en")
    assert month.status_code == 200 and "Monthly availability" in month.text
    assert ALPHA_APP in month.text
    assert 'id="nav-status"' in client.get("/cases").text  # the link on the other pages too


def test_a_role_without_cmdb_read_gets_no_status(
    client: TestClient, world: World, topology: Topology
) -> None:
    as_user(client, world, "finance")
    page = client.get("/status?lang=en")
    assert page.status_code == 200 and "roles that read the CMDB" in page.text
    assert ALPHA_APP not in page.text and 'id="nav-status"' not in client.get("/usage").text
    assert client.get(f"/status/ci/{topology.alpha_app}").status_code == 403
    assert client.get("/status/block").status_code == 403


def test_signed_out_readers_go_to_the_sign_in(client: TestClient, topology: Topology) -> None:
    for path in ("/status", f"/status/ci/{topology.alpha_app}", "/status/availability"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/", path
    assert client.get("/status/block").status_code == 401


def test_dashboard_shows_cause_path_counts_and_incidents_to_the_desk(
    client: TestClient, world: World, topology: Topology
) -> None:
    fire(client, world, "edge-fw")
    client.post(  # an event for a CI nobody knows: counted for the service desk
        "/api/v1/ops/events",
        json={"ci": "ghost-vm", "severity": "critical"},
        headers=world["provider-prov-b"].headers,
    )
    as_user(client, world, "soc_analyst")
    page = client.get("/status?lang=en").text
    assert 'data-count="down">2<' in page and 'data-count="operational">0<' in page
    assert 'id="unmatched"' in page and "<strong>1</strong>" in page
    # The root cause with its path from the application down to it.
    assert f'<a href="/status/ci/{topology.edge_fw}">edge-fw</a>' in page
    assert "path: " in page and "→" in page
    assert 'id="incidents"' in page and "alpha, beta" in page
    assert 'action="/status/notices"' in page
    # Pre-selected: the impaired applications in the notice form.
    assert f'value="{topology.alpha_app}" data-app="{topology.alpha_app}" checked' in page
    # Filters: the state and a name.
    only_up = client.get("/status?state=operational").text
    assert 'id="applications"' not in only_up and "No applications." in only_up
    named = client.get("/status?q=ledger").text
    table = named.split('id="applications"')[1].split("</table>")[0]
    assert BETA_APP in table and ALPHA_APP not in table
    # The self-refresh block alone, never cached, with the state now.
    fire(client, world, "edge-fw", "resolved")
    refreshed = client.get("/status/block?lang=en")
    assert refreshed.status_code == 200 and refreshed.headers["cache-control"] == "no-store"
    assert 'data-count="down">0<' in refreshed.text and "<html" not in refreshed.text
    assert 'data-refresh="' in page and 'data-src="/status/block?' in page


def test_a_customer_of_alpha_never_sees_betas_application(
    client: TestClient, world: World, topology: Topology
) -> None:
    fire(client, world, "edge-fw")
    as_user(client, world, "soc_analyst")
    csrf = form_csrf(client.get("/status").text)
    published = client.post(
        "/status/notices",
        data={
            "title": "Database outage",
            "body": "The shared database is unreachable; we are on it.",
            "kind": "outage",
            "applications": [str(topology.alpha_app), str(topology.beta_app)],
            "csrf": csrf,
        },
        follow_redirects=False,
    )
    assert published.headers["location"] == "/status?done=published"
    as_user(client, world, "customer-alpha")
    seen = {
        path: client.get(path)
        for path in (
            "/status?lang=en",
            "/status/block",
            f"/status/ci/{topology.core_db}",
            f"/status/ci/{topology.alpha_app}",
            "/status/availability",
            "/cases",
            "/usage",
        )
    }
    for path, answer in seen.items():
        assert answer.status_code == 200, path
        assert BETA_APP not in answer.text, path
        assert ">beta<" not in answer.text and "alpha, beta" not in answer.text, path
    status = seen["/status?lang=en"].text
    assert ALPHA_APP in status and "edge-fw" in status  # the shared components under it
    assert 'action="/status/notices"' not in status
    for path in ("/cases", "/usage", "/status?lang=en"):
        assert 'id="notice-banner"' in seen[path].text and "Database outage" in seen[path].text
    assert "Affects: Payroll Alpha<" in seen["/cases"].text
    foreign = client.get(f"/status/ci/{topology.beta_app}")
    assert foreign.status_code == 404 and BETA_APP not in foreign.text
    assert client.get("/status/ci/99999").status_code == 404
    assert client.get("/status/ci/x1").status_code == 404
    as_user(client, world, "customer-beta")
    assert f"Affects: {BETA_APP}<" in client.get("/cases").text


def test_only_the_service_desk_publishes(
    client: TestClient, world: World, services: Services, topology: Topology
) -> None:
    fire(client, world, "edge-fw")
    for user in ("customer-alpha", "authority", "soc_analyst-prov-a", "provider-prov-b"):
        as_user(client, world, user)
        page = client.get("/status").text
        assert 'action="/status/notices"' not in page, user
        refused = client.post(
            "/status/notices",
            data={"title": "x", "applications": [str(topology.alpha_app)], "csrf": form_csrf(page)},
            follow_redirects=False,
        )
        assert "error=" in refused.headers["location"], user
    as_user(client, world, "soc_analyst")
    page = client.get("/status").text
    forged = client.post("/status/notices", data={"title": "x", "csrf": "nope"})
    assert forged.status_code == 403
    with services.db.read_session() as session:
        assert session.scalars(select(OutageNotice)).all() == []
    published = client.post(
        "/status/notices",
        data={"title": "Planned move", "kind": "planned", "csrf": form_csrf(page)},
        follow_redirects=False,
    )
    assert "error=" in published.headers["location"]  # no incident and no application
    client.post(
        "/status/notices",
        data={
            "title": "Planned move",
            "kind": "planned",
            "csrf": form_csrf(page),
            "applications": [str(topology.alpha_app)],
        },
    )
    desk = client.get("/status?lang=en").text
    assert 'id="open-notices"' in desk and "Planned move" in desk
    with services.db.read_session() as session:
        notice = session.scalars(select(OutageNotice)).one()
    client.post(f"/status/notices/{notice.id}/close", data={"csrf": form_csrf(desk)})
    as_user(client, world, "customer-alpha")
    assert 'id="notice-banner"' not in client.get("/cases").text


def test_a_customer_subscribes_and_unsubscribes(
    client: TestClient, world: World, services: Services, topology: Topology
) -> None:
    as_user(client, world, "customer-alpha")
    page = client.get("/status?lang=en").text
    assert f'form="subscribe-form" name="ci_id" value="{topology.alpha_app}"' in page
    csrf = form_csrf(page)
    foreign = client.post(
        "/status/subscribe",
        data={"ci_id": str(topology.beta_app), "email": "ops@alpha.example", "csrf": csrf},
        follow_redirects=False,
    )
    assert "error=" in foreign.headers["location"]
    done = client.post(
        "/status/subscribe",
        data={"ci_id": str(topology.alpha_app), "email": "ops@alpha.example", "csrf": csrf},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/status?done=subscribed"
    with services.db.read_session() as session:
        (sub,) = session.scalars(select(Subscription)).all()
    assert (sub.ci_id, sub.email) == (topology.alpha_app, "ops@alpha.example")
    page = client.get("/status").text
    assert f'name="subscription_id" value="{sub.id}"' in page
    assert 'value="ops@alpha.example"' in page  # the address is offered again
    client.post("/status/unsubscribe", data={"subscription_id": str(sub.id), "csrf": csrf})
    with services.db.read_session() as session:
        assert session.scalars(select(Subscription)).all() == []
    as_user(client, world, "soc_analyst")  # the desk watches everything, subscribes nowhere
    assert 'form="subscribe-form"' not in client.get("/status").text


def test_availability_month_and_its_errors(
    client: TestClient, world: World, topology: Topology
) -> None:
    as_user(client, world, "authority")
    page = client.get("/status/availability?month=2026-05&lang=en")
    assert page.status_code == 200 and "2026-04" in page.text and "2026-06" in page.text
    assert ALPHA_APP in page.text and BETA_APP in page.text and "sla-met" in page.text
    wrong = client.get("/status/availability?month=2026-13")
    assert wrong.status_code == 422 and "YYYY-MM" in wrong.text


def test_ci_page_shows_state_neighbours_and_timeline(
    client: TestClient, world: World, topology: Topology
) -> None:
    fire(client, world, "edge-fw")
    as_user(client, world, "provider-prov-a")
    page = client.get(f"/status/ci/{topology.core_db}?lang=en").text
    assert 'id="ci-state"' in page and "impacted by a failure beneath it" in page
    assert 'id="root-causes"' in page and f'/status/ci/{topology.edge_fw}">edge-fw' in page
    dependents = page.split('id="dependents"')[1].split("</section>")[0]
    assert ALPHA_APP in dependents
    fw = client.get(f"/status/ci/{topology.edge_fw}?lang=en").text
    assert "impaired by its own events" in fw
    assert "critical firing" in fw and "operational → down" in fw
