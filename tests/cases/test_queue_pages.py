"""The analyst queue (`/cases`): columns, filters, sorting by each column, cursor paging over
more than 200 cases (stable while cases arrive), saved views per user, "assign to me", and
what a customer or a provider sees. Cases are made straight in the database (their SLA due
times computed by `sla.refresh`, as the grouping does), so the counts are known."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from soc.cases import sla
from soc.cases.models import Case, CaseEvent
from soc.services import Services
from tenants.models import Tenant, User
from tests.conftest import World
from tests.helpers import form_csrf

NOW = datetime.now(UTC)


def tenant_ids(services: Services) -> dict[str, int]:
    with services.db.session() as session:
        return {t.slug: t.id for t in session.scalars(select(Tenant))}


def make_cases(services: Services, specs: list[dict[str, Any]]) -> list[int]:
    """Insert cases; each spec may set tenant (slug), priority, status, host, rule, created
    (datetime), last_seen, assignee (username), provider_id, resolution_due (overrides)."""
    tenants = tenant_ids(services)
    ids = []
    with services.db.session() as session:
        users = {u.username: u.id for u in session.scalars(select(User))}
        for spec in specs:
            created = spec.get("created", NOW - timedelta(minutes=5))
            case = Case(
                tenant_id=tenants[spec.get("tenant", "alpha")],
                rule_id=spec.get("rule", "rule-x"),
                title=spec.get("title", f"case on {spec.get('host', 'h-1')}"),
                level="medium",
                host=spec.get("host", "h-1"),
                status=spec.get("status", "new"),
                priority=spec.get("priority", "P3"),
                alert_count=1,
                first_seen=spec.get("last_seen", created),
                last_seen=spec.get("last_seen", created),
                created_at=created,
                updated_at=spec.get("updated", created),
                provider_id=spec.get("provider_id"),
                assignee_id=users[spec["assignee"]] if spec.get("assignee") else None,
                clock_24x7=True,
            )
            sla.refresh(services.settings, case)
            if spec.get("paused"):  # waiting on the customer: no resolution due time
                case.paused_since, case.resolution_due = created, None
            if case.status in ("resolved", "closed"):  # as the workflow leaves them
                sla.mark_resolved(services.settings, case, created + timedelta(minutes=30))
            if "resolution_due" in spec:
                case.resolution_due = spec["resolution_due"]
            session.add(case)
            session.flush()
            ids.append(case.id)
    return ids


def signed(client: TestClient, world: World, user: str) -> None:
    client.cookies.clear()
    client.cookies.set("soc_session", world[user].token)


def row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-case="(\d+)"', html)]


def next_link(html: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" id="next-page"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_cursor_walks_every_case_exactly_once_while_cases_arrive(
    client: TestClient, services: Services, world: World
) -> None:
    """230 cases (many ties in priority and due time), pages of 50: the next links visit each
    case once; cases registered during the walk neither repeat nor hide a page's rows."""
    specs = [
        {"priority": ("P1", "P2", "P3", "P4")[i % 4], "created": NOW - timedelta(minutes=i // 7)}
        for i in range(230)
    ]
    made = make_cases(services, specs)
    signed(client, world, "soc_analyst")
    first = client.get("/cases?size=50")
    assert first.status_code == 200
    assert 'id="queue-total">230<' in first.text
    seen = row_ids(first.text)
    assert len(seen) == 50
    link = next_link(first.text)
    pages = 1
    while link:
        if pages == 2:  # a burst arrives mid-walk (P1: they sort before everything)
            make_cases(services, [{"priority": "P1", "created": NOW} for _ in range(5)])
        page = client.get(link)
        seen += row_ids(page.text)
        link = next_link(page.text)
        pages += 1
    assert pages == 5
    assert len(seen) == len(set(seen)) == 230
    assert set(seen) == set(made)


def test_default_order_is_priority_then_sla_due_not_event_time(
    client: TestClient, services: Services, world: World
) -> None:
    """A case opened now for an event of three days ago sorts by when the case was opened:
    the late event does not sink it below older cases of its priority."""
    old, late, p1 = make_cases(
        services,
        [
            {"priority": "P3", "created": NOW - timedelta(hours=3), "last_seen": NOW},
            {"priority": "P3", "created": NOW, "last_seen": NOW - timedelta(days=3)},
            {"priority": "P1", "created": NOW - timedelta(minutes=1)},
        ],
    )
    never = make_cases(services, [{"priority": "P3", "paused": True}])[0]
    signed(client, world, "soc_analyst")
    assert row_ids(client.get("/cases").text) == [p1, old, late, never]
    # newest registered first: the late event's case comes first
    assert row_ids(client.get("/cases?sort=-created").text)[0] == late


def test_sorting_by_each_column(client: TestClient, services: Services, world: World) -> None:
    make_cases(
        services,
        [
            {
                "tenant": ("alpha", "beta")[i % 2],
                "priority": ("P4", "P2", "P1", "P3")[i % 4],
                "status": ("new", "triage", "in_progress")[i % 3],
                "assignee": (None, "soc_analyst", "admin")[i % 3],
                "created": NOW - timedelta(minutes=7 * i),
                "updated": NOW - timedelta(minutes=(13 * i) % 60),
            }
            for i in range(12)
        ],
    )
    signed(client, world, "admin")
    with services.db.session() as session:
        cases = {c.id: c for c in session.scalars(select(Case))}
        slugs = {t.id: t.slug for t in session.scalars(select(Tenant))}
        names = {u.id: u.username for u in session.scalars(select(User))}
    far = datetime(9999, 1, 1, tzinfo=UTC)
    value = {
        "tenant": lambda c: slugs[c.tenant_id],
        "assignee": lambda c: names.get(c.assignee_id, ""),
        "priority": lambda c: c.priority,
        "status": lambda c: c.status,
        "sla_due": lambda c: c.resolution_due or far,
        "activity": lambda c: c.updated_at,
    }
    for column, key in value.items():
        for sort in (column, "-" + column):
            html = client.get(f"/cases?sort={sort}&size=100").text
            shown = [key(cases[i]) for i in row_ids(html)]
            assert len(shown) == 12
            assert shown == sorted(shown, reverse=sort.startswith("-")), sort
            assert 'aria-sort="' in html


def test_filters(client: TestClient, services: Services, world: World) -> None:
    tenants = tenant_ids(services)
    a_new, a_p1, b_mine, breached, old, rule_y = make_cases(
        services,
        [
            {"host": "web-01"},
            {"priority": "P1", "host": "db-07"},
            {"tenant": "beta", "assignee": "soc_analyst", "status": "triage"},
            {"resolution_due": NOW - timedelta(minutes=1), "host": "late-9"},
            {"created": NOW - timedelta(days=20), "status": "closed"},
            {"rule": "rule-y"},
        ],
    )
    signed(client, world, "soc_analyst")

    def shown(query: str) -> set[int]:
        answer = client.get("/cases?" + query)
        assert answer.status_code == 200, answer.text
        return set(row_ids(answer.text))

    everyone = {a_new, a_p1, b_mine, breached, old, rule_y}
    assert shown("") == everyone
    assert shown(f"tenant={tenants['beta']}") == {b_mine}
    assert shown("status=triage") == {b_mine}
    assert shown("status=open") == everyone - {old}
    assert shown("priority=P1") == {a_p1}
    assert shown("assignee=me") == {b_mine}
    assert shown("assignee=soc_analyst") == {b_mine}
    assert shown("assignee=unassigned") == everyone - {b_mine}
    assert shown("rule=rule-y") == {rule_y}
    assert shown("host=DB-0") == {a_p1}
    assert shown("sla=breached") == {breached}
    assert breached not in shown("sla=running")
    since = (NOW - timedelta(days=2)).date().isoformat()
    assert shown(f"since={since}") == everyone - {old}
    until = (NOW - timedelta(days=10)).date().isoformat()
    assert shown(f"until={until}") == {old}
    assert shown("q=late-9") == {breached}
    assert shown("status=open&priority=P3&tenant=" + str(tenants["alpha"])) == {
        a_new,
        breached,
        rule_y,
    }


def test_columns_and_assign_to_me(client: TestClient, services: Services, world: World) -> None:
    case_id = make_cases(services, [{"tenant": "beta", "priority": "P2"}])[0]
    signed(client, world, "soc_analyst")
    html = client.get("/cases").text
    for header in ("Tenant", "Assignee", "Priority", "Status", "SLA due", "SLA state"):
        assert f">{header}" in html
    assert "Last activity" in html and "<td>Beta</td>" in html and 'class="P2"' in html
    assert "<time datetime=" in html and "running" in html and "New" in html
    answer = client.post(
        "/cases/bulk",
        data={"csrf": form_csrf(html), "assign_me": str(case_id), "back": "sort=priority"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/cases?sort=priority&report=")
    after = client.get(answer.headers["location"]).text
    assert "1 done, 0 refused" in after and "assigned to soc_analyst" in after
    assert '<td class="assignee">soc_analyst</td>' in after
    with services.db.session() as session:
        kinds = [
            e.kind for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id))
        ]
    assert "assigned" in kinds


def test_saved_views_are_per_user(client: TestClient, services: Services, world: World) -> None:
    make_cases(services, [{"priority": "P1"}, {"priority": "P4"}])
    signed(client, world, "soc_analyst")
    page = client.get("/cases?priority=P1&status=open&cursor=abc")
    csrf = form_csrf(page.text)
    query = re.search(r'name="query" value="([^"]*)"', page.text).group(1).replace("&amp;", "&")
    assert query == "priority=P1&status=open"  # no cursor kept
    saved = client.post(
        "/cases/views",
        data={"csrf": csrf, "name": "My P1s", "query": query},
        follow_redirects=False,
    )
    assert (
        saved.status_code == 303 and saved.headers["location"] == "/cases?priority=P1&status=open"
    )
    listed = client.get("/cases").text
    assert '<a href="/cases?priority=P1&amp;status=open">My P1s</a>' in listed
    view_id = re.search(r'name="view" value="(\d+)"', listed).group(1)
    # another analyst neither sees nor deletes it
    signed(client, world, "admin")
    other = client.get("/cases").text
    assert "My P1s" not in other
    refused = client.post("/cases/views/delete", data={"csrf": form_csrf(other), "view": view_id})
    assert refused.status_code == 404
    signed(client, world, "soc_analyst")
    assert "My P1s" in client.get("/cases").text
    gone = client.post(
        "/cases/views/delete", data={"csrf": csrf, "view": view_id}, follow_redirects=False
    )
    assert gone.status_code == 303 and "My P1s" not in client.get("/cases").text
    forged = client.post("/cases/views", data={"csrf": "nope", "name": "x", "query": ""})
    assert forged.status_code == 403


def test_customer_and_provider_see_only_their_cases(
    client: TestClient, services: Services, world: World
) -> None:
    with services.db.session() as session:
        from tenants.models import Provider

        prov_a = session.scalar(select(Provider.id).where(Provider.slug == "prov-a"))
    alpha_case, beta_case, handed = make_cases(
        services,
        [
            {"tenant": "alpha", "host": "alpha-host"},
            {"tenant": "beta", "host": "beta-host"},
            {"tenant": "alpha", "host": "handed-host", "provider_id": prov_a},
        ],
    )
    signed(client, world, "customer-alpha")
    html = client.get("/cases").text
    assert set(row_ids(html)) == {alpha_case, handed} and "beta-host" not in html
    assert row_ids(client.get(f"/cases?tenant={tenant_ids(services)['beta']}").text) == []
    assert 'id="bulk-actions"' not in html  # customers act on cases in their portal
    signed(client, world, "provider-prov-a")
    html = client.get("/cases").text
    assert row_ids(html) == [handed] and "beta-host" not in html
    signed(client, world, "provider-prov-b")
    assert row_ids(client.get("/cases").text) == []


def test_queue_in_dutch(client: TestClient, services: Services, world: World) -> None:
    make_cases(services, [{"status": "waiting_on_customer", "priority": "P2"}])
    signed(client, world, "soc_analyst")
    html = client.get("/cases?lang=nl").text
    for dutch in (
        "Wacht op de klant",
        "Prioriteit",
        "Behandelaar",
        "Laatste activiteit",
        "Sneltoetsen",
        "Bewaarde weergaven",
        "Sluiten als vals positief",
        "Aan mij toewijzen",
    ):
        assert dutch in html, dutch
    assert "Keyboard shortcuts" not in html and "Saved views" not in html
    english = client.get("/cases?lang=en").text
    assert "Keyboard shortcuts" in english and "Waiting on the customer" in english


def test_count_is_capped_past_the_cap(
    client: TestClient, services: Services, world: World, monkeypatch: Any
) -> None:
    """Past COUNT_CAP the queue says "<cap>+" (an exact count reads every matching row); under
    it the count stays exact."""
    from soc.cases import queries

    monkeypatch.setattr(queries, "COUNT_CAP", 20)
    make_cases(services, [{"priority": "P1"}] * 5 + [{"priority": "P4"}] * 20)
    signed(client, world, "soc_analyst")
    everything = client.get("/cases")
    assert 'id="queue-total">20+<' in everything.text
    assert len(row_ids(everything.text)) == 25
    assert 'id="queue-total">5<' in client.get("/cases?priority=P1").text
