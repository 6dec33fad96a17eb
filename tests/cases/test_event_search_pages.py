"""The event search page on both stores (SQLite; PostgreSQL with OpenSearch): time range,
field filters, full text, host, paging, the link to an event's case, and tenant isolation (a
customer cannot open it; a provider-scoped analyst never sees another tenant's events)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from soc.core.i18n import BRUSSELS
from soc.core.settings import Settings
from soc.services import Services
from tests.cases.test_case_screens import sign_in
from tests.conftest import World
from tests.helpers import benign_event, key_headers, ndjson, whoami_event
from tests.services import service_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_backend(request: pytest.FixtureRequest) -> str:
    """SQLite with the embedded store; PostgreSQL with OpenSearch (the production pair)."""
    return request.param


@pytest.fixture
def settings(settings: Settings, db_backend: str) -> Settings:
    if db_backend == "sqlite":
        return settings
    prefix = f"soc-evsearch-{uuid.uuid4().hex[:8]}"
    return settings.model_copy(
        update={
            "event_store": "opensearch",
            "opensearch_url": service_url("opensearch"),
            "opensearch_index_prefix": prefix,
        }
    )


@pytest.fixture
def store_cleanup(services: Services) -> Iterator[None]:
    yield
    inner: Any = getattr(services.store, "inner", None)
    if inner is not None and hasattr(inner, "client"):
        inner.client.indices.delete(index=f"{inner.prefix}-*", ignore_unavailable=True)
        inner.client.indices.delete_index_template(name=inner.prefix, ignore=[404])


def _refresh(services: Services) -> None:
    refresh = getattr(services.store, "refresh", None)
    if refresh is not None:  # OpenSearch: make what was written searchable now
        refresh()


def _notepad(n: int, minutes_ago: int, host: str = "ws-2") -> dict[str, Any]:
    event = benign_event(n) | {"Computer": host}
    event["@timestamp"] = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()
    return event


def _shown(html: str) -> list[str]:
    """The event ids (16 first characters) the result list shows, in order."""
    return re.findall(
        r'<details class="event"[^>]*>\s*<summary>.*?<code>([^<]+)</code>', html, re.S
    )


def _found(html: str) -> int:
    match = re.search(r"(\d+) event\(s\) found", html)
    assert match, html[:2000]
    return int(match.group(1))


@pytest.fixture
def loaded(client: TestClient, world: World, services: Services, store_cleanup: None) -> World:
    """alpha: two whoami alerts on ws-1 and 60 notepad events on ws-2; beta: one whoami
    event with a marker that must never show outside beta."""
    alpha = key_headers(world.keys["alpha"])
    answer = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("ws-1", 30, "alpha-one"), whoami_event("ws-1", 20, "two")),
        headers=alpha,
    )
    assert answer.status_code == 200, answer.text
    notes = [_notepad(n, 10 + n % 5) for n in range(60)]
    assert client.post("/api/v1/ingest", content=ndjson(*notes), headers=alpha).status_code == 200
    beta = client.post(
        "/api/v1/ingest",
        content=ndjson(whoami_event("b-1", 15, "beta-secret")),
        headers=key_headers(world.keys["beta"]),
    )
    assert beta.status_code == 200
    _refresh(services)
    return world


def test_filters_text_host_time_and_paging(client: TestClient, loaded: World) -> None:
    sign_in(client, loaded, "soc_analyst")
    everything = client.get("/events?tenant=alpha")
    assert everything.status_code == 200 and _found(everything.text) == 62
    assert len(_shown(everything.text)) == 50 and 'rel="next"' in everything.text
    second = client.get("/events?tenant=alpha&page=2")
    assert len(_shown(second.text)) == 12 and 'rel="next"' not in second.text
    assert not set(_shown(everything.text)) & set(_shown(second.text))
    # Field = value, case-blind; two filters must both hold.
    image = client.get(
        "/events", params={"tenant": "alpha", "field": "Image", "value": "c:\\windows\\NOTEPAD.EXE"}
    )
    assert _found(image.text) == 60
    both = client.get(
        "/events",
        params=[
            ("tenant", "alpha"),
            ("field", "Image"),
            ("value", "C:\\Windows\\notepad.exe"),
            ("field", "CommandLine"),
            ("value", "notepad 7"),
        ],
    )
    assert _found(both.text) == 1 and "notepad 7" in both.text
    assert _found(client.get("/events?tenant=alpha&field=EventID&value=1").text) == 62
    assert _found(client.get("/events?tenant=alpha&field=Image&value=nothing").text) == 0
    # Full text, and the link from an event to the case it raised.
    text = client.get("/events?tenant=alpha&q=alpha-one")
    assert _found(text.text) == 1
    case_id = client.get("/api/v1/cases?host=ws-1").json()["items"][0]["id"]
    assert f'href="/cases/{case_id}" class="event-case"' in text.text
    assert _found(client.get("/events?tenant=alpha&host=WS-1").text) == 2  # case-blind
    # Time range in Brussels time: only the last 17 minutes hold the notepad events.
    start = (datetime.now(UTC) - timedelta(minutes=17)).astimezone(BRUSSELS)
    recent = client.get(f"/events?tenant=alpha&start={start.strftime('%Y-%m-%dT%H:%M')}")
    assert _found(recent.text) == 60
    old = (datetime.now(UTC) - timedelta(days=2)).astimezone(BRUSSELS)
    ended = client.get(f"/events?tenant=alpha&end={old.strftime('%Y-%m-%dT%H:%M')}")
    assert _found(ended.text) == 0
    # Every tenant the analyst sees: beta's event is among them.
    assert _found(client.get("/events?q=beta-secret").text) == 1
    assert _found(client.get("/events").text) == 63
    bad = client.get("/events?tenant=alpha&start=yesterday&lang=nl")
    assert bad.status_code == 422 and "JJJJ-MM-DD" in bad.text


def test_tenant_isolation_of_the_event_search(client: TestClient, loaded: World) -> None:
    sign_in(client, loaded, "customer-alpha")
    refused = client.get("/events", headers={"Accept": "text/html"})
    assert refused.status_code == 403 and "alpha-one" not in refused.text
    client.cookies.clear()
    sign_in(client, loaded, "soc_analyst-prov-a")  # serves alpha only
    mine = client.get("/events")
    assert mine.status_code == 200 and _found(mine.text) == 62
    assert _found(client.get("/events?q=beta-secret").text) == 0
    assert "beta-secret" not in client.get("/events?q=whoami").text
    foreign = client.get("/events?tenant=beta&q=beta-secret", headers={"Accept": "text/html"})
    assert foreign.status_code == 404 and "beta-secret" not in foreign.text
    options = re.findall(r'<option value="([a-z-]+)"', mine.text)
    assert "alpha" in options and "beta" not in options
