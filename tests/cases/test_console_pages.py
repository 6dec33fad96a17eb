"""The analyst dashboard (`/console`): its figures against cases, alerts and meters made for
the test; links into the filtered queue; who may open it; Dutch and English."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from detections.models import Alert
from soc.services import Services
from tenants.models import UsageHostDaily
from tests.cases.test_queue_pages import make_cases, row_ids, signed, tenant_ids
from tests.conftest import World

NOW = datetime.now(UTC)


def figure(html: str, attribute: str, value: str) -> int:
    found = re.search(rf'<a href="([^"]+)" {attribute}="{re.escape(value)}">(\d+)</a>', html)
    assert found, (attribute, value)
    return int(found.group(2))


def link_of(html: str, attribute: str, value: str) -> str:
    found = re.search(rf'<a href="([^"]+)" {attribute}="{re.escape(value)}">', html)
    assert found, (attribute, value)
    return found.group(1).replace("&amp;", "&")


def add_alerts(services: Services, tenant: str, rule: str, title: str, ages: list[timedelta]):
    tenants = tenant_ids(services)
    with services.db.session() as session:
        for n, age in enumerate(ages):
            session.add(
                Alert(
                    tenant_id=tenants[tenant],
                    rule_id=rule,
                    rule_title=title,
                    level="medium",
                    event_id=f"{rule}-{tenant}-{n}",
                    host="h-1",
                    event_time=NOW - age,
                    created_at=NOW - age,
                )
            )


def test_dashboard_figures(client: TestClient, services: Services, world: World) -> None:
    make_cases(
        services,
        [
            {"priority": "P1", "tenant": "alpha"},
            {"priority": "P2", "tenant": "alpha"},
            {"priority": "P2", "tenant": "beta"},
            {"priority": "P3", "tenant": "beta", "resolution_due": NOW - timedelta(minutes=5)},
            {"priority": "P4", "tenant": "beta", "paused": True},
            {"priority": "P2", "tenant": "alpha", "status": "closed"},  # not open
        ],
    )
    add_alerts(services, "alpha", "noisy-1", "Noisy rule", [timedelta(minutes=10)] * 3)
    add_alerts(services, "alpha", "noisy-2", "Quiet rule", [timedelta(hours=3, minutes=10)])
    add_alerts(services, "beta", "noisy-1", "Noisy rule", [timedelta(days=2)] * 2)
    add_alerts(services, "beta", "old", "Old rule", [timedelta(days=9)])
    with services.db.session() as session:
        ids = tenant_ids(services)
        today = NOW.date()
        for host, day in (("gone-1", today - timedelta(days=3)), ("alive-1", today)):
            session.add(
                UsageHostDaily(tenant_id=ids["alpha"], day=day, host=host, events=5, bytes=10)
            )
    signed(client, world, "soc_analyst")
    page = client.get("/console")
    assert page.status_code == 200
    html = page.text
    assert 'id="open-total">5<' in html
    assert [figure(html, "data-priority", p) for p in ("P1", "P2", "P3", "P4")] == [1, 2, 1, 1]
    assert figure(html, "data-tenant", "alpha") == 2 and figure(html, "data-tenant", "beta") == 3
    assert figure(html, "data-sla", "breached") == 1
    assert figure(html, "data-sla", "paused") == 1
    assert figure(html, "data-sla", "running") + figure(html, "data-sla", "warning") == 3
    # P1 (resolution 2 h) and P2 (response 1 h) fall within 4 h; the P1 shows twice (both clocks)
    due = re.search(r'id="due-soon".*?</section>', html, re.S).group(0)
    assert due.count("<tr data-case=") >= 3
    # alerts per hour: 3 in the current hour's bucket (or the previous one near :00), 4 in 24 h
    assert "Alerts per hour, last 24 hours</h2>" not in html  # the heading carries the total
    assert "(4)</h2>" in html
    noisy = re.search(r'id="noisy-rules".*?</section>', html, re.S).group(0)
    assert noisy.index("Noisy rule") < noisy.index("Quiet rule") and "Old rule" not in noisy
    assert re.search(r'data-rule="noisy-1">Noisy rule</a></td><td>5<', noisy)
    silent = re.search(r'id="silent-sources".*?</section>', html, re.S).group(0)
    assert 'data-host="gone-1"' in silent and "alive-1" not in silent
    # the figures link into the queue, which then shows exactly those cases
    queue = client.get(link_of(html, "data-priority", "P2")).text
    assert len(row_ids(queue)) == 2
    queue = client.get(link_of(html, "data-sla", "breached")).text
    assert len(row_ids(queue)) == 1
    queue = client.get(link_of(html, "data-tenant", "beta")).text
    assert len(row_ids(queue)) == 3
    assert "rule=noisy-1" in link_of(html, "data-rule", "noisy-1")


def test_console_scope_and_roles(client: TestClient, services: Services, world: World) -> None:
    make_cases(services, [{"tenant": "alpha"}, {"tenant": "beta"}])
    with services.db.session() as session:
        from tenants.models import Provider

        prov_a = session.scalar(select(Provider.id).where(Provider.slug == "prov-a"))
    make_cases(services, [{"tenant": "alpha", "provider_id": prov_a}])
    signed(client, world, "soc_analyst-prov-a")  # an analyst working for prov-a
    html = client.get("/console").text
    assert 'id="open-total">1<' in html and 'data-tenant="beta"' not in html
    for user in ("customer-alpha", "finance", "provider-prov-a"):
        signed(client, world, user)
        answer = client.get("/console", headers={"Accept": "text/html"})
        assert answer.status_code == 403, user
    client.cookies.clear()
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_console_in_dutch_and_english(client: TestClient, services: Services, world: World) -> None:
    make_cases(services, [{"priority": "P2"}])
    signed(client, world, "admin")
    dutch = client.get("/console?lang=nl").text
    for text in (
        "Open incidenten per prioriteit",
        "Luidruchtigste regels, laatste 7 dagen",
        "Stille logbronnen",
        "Meldingen per uur, laatste 24 uur",
        "loopt",
    ):
        assert text in dutch, text
    assert "Silent log sources" not in dutch and "Open cases by priority" not in dutch
    english = client.get("/console?lang=en").text
    assert "Open cases by priority" in english and "Silent log sources" in english
