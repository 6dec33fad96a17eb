"""Per-tenant field maps: a tenant's own field copied to its Sigma name before matching, at
ingest and in retro-hunts (SQLite: the predicate; OpenSearch: the converted query); the routes'
tenant isolation and roles; the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from detections import service as mgmt
from detections.hunting import HuntRule
from detections.retrohunt import retro_hunt
from detections.tenant_view import apply_field_map
from ingest.events import normalise
from ingest.store.opensearch import OpenSearchEventStore
from soc.cli import app
from soc.core.audit import AuditEntry
from soc.core.principal import Principal
from soc.core.settings import get_settings
from soc.services import Services
from tests.conftest import World
from tests.detections.test_rules_api import (
    ALL_USERS,
    BASE,
    SERVED,
    WHOAMI,
    alerts,
    ingest,
    matches,
)
from tests.helpers import hunt_via_api, whoami_event
from tests.store import conftest as store_fixtures

opensearch_url = store_fixtures.opensearch_url  # the real node (shared fixtures)
os_store = store_fixtures.os_store

MAPS = f"{BASE}/field-maps"
ISOLATION_COVERED = {
    ("GET", "/api/v1/rules/field-maps"),
    ("PUT", "/api/v1/rules/field-maps/{source_field}"),
    ("DELETE", "/api/v1/rules/field-maps/{source_field}"),
}


def own_fields_event(host: str, minutes_ago: int = 5, marker: str = "") -> dict:
    """The whoami process creation with the image under the tenant's own name only."""
    event = whoami_event(host, minutes_ago, marker)
    event["proc_path"] = event.pop("Image")
    return event


def test_apply_field_map_is_additive_and_follows_dotted_paths() -> None:
    field_map = (("proc_path", "Image"), ("process.executable", "Image"), ("user.name", "User"))
    event = {"process": {"executable": "C:\\x\\whoami.exe"}, "user": {"name": "bob"}}
    mapped = apply_field_map(field_map, event)
    assert mapped["Image"] == "C:\\x\\whoami.exe" and mapped["User"] == "bob"
    assert "Image" not in event  # the stored event is not changed
    kept = {"Image": "notepad.exe", "proc_path": "whoami.exe"}
    assert apply_field_map(field_map, kept) is kept  # never overwrites a Sigma field
    lower = {"image": "notepad.exe", "proc_path": "whoami.exe"}
    assert apply_field_map(field_map, lower) is lower  # in any letter case
    first = apply_field_map(field_map, {"proc_path": "a", "process": {"executable": "b"}})
    assert first["Image"] == "a"


def test_opensearch_conversion_matches_either_name(services: Services) -> None:
    rule = services.detector.views.base_rules[WHOAMI]
    plain = HuntRule(rule).lucene
    mapped = HuntRule(rule, (("proc_path", "Image"), ("process.executable", "Image"))).lucene
    assert "data.proc_path" not in plain[0]
    assert "data.Image:" in mapped[0] and "data.proc_path:" in mapped[0]
    assert "data.process.executable:" in mapped[0]
    assert HuntRule(rule).lucene == plain  # the shared rule keeps its field names


def test_opensearch_hunt_honours_the_map(
    services: Services, world: World, os_store: OpenSearchEventStore
) -> None:
    now = datetime.now(UTC)
    flat = own_fields_event("os-1")
    nested = whoami_event("os-2")
    nested["process"] = {"executable": nested.pop("Image")}
    plain = own_fields_event("os-3")
    events = [normalise(e, orjson.dumps(e), 1, now) for e in (flat, nested)]
    os_store.write([*events, normalise(plain, orjson.dumps(plain), 2, now)])
    os_store.refresh(1)
    os_store.refresh(2)
    actor = Principal(actor="test", role="admin")
    with services.db.session() as session:
        mgmt.put_field_map(session, actor, 1, "proc_path", "Image")
        mgmt.put_field_map(session, actor, 1, "process.executable", "Image")
        mgmt.put_field_map(session, actor, 2, "other_path", "Image")
    with services.db.session() as session:
        alpha = services.detector.views.get(session, 1)
        beta = services.detector.views.get(session, 2)
        found = retro_hunt(session, os_store, alpha, alpha.rules[WHOAMI], 1)
        missed = retro_hunt(session, os_store, beta, beta.rules[WHOAMI], 1)
    assert found.matched == 2 and missed.matched == 0


def test_field_map_at_ingest_and_in_hunts(
    client: TestClient, world: World, services: Services
) -> None:
    analyst = world["soc_analyst"].headers
    # stored before the map exists: no alert
    ingest(client, world, "alpha", own_fields_event("a-old", 60))
    ingest(client, world, "beta", own_fields_event("b-old", 60))
    assert alerts(services, 1, WHOAMI) == 0

    put = client.put(
        f"{MAPS}/proc_path?tenant=alpha", json={"sigma_field": "Image"}, headers=analyst
    )
    assert put.status_code == 200, put.text
    assert put.json()["sigma_field"] == "Image" and put.json()["tenant_id"] == 1
    listed = client.get(f"{MAPS}?tenant=alpha", headers=analyst).json()
    assert [(m["source_field"], m["sigma_field"]) for m in listed] == [("proc_path", "Image")]
    assert client.get(f"{MAPS}?tenant=beta", headers=analyst).json() == []

    # a retro-hunt on the SQLite store honours the map (alpha only)
    hunted = hunt_via_api(client, analyst, "alpha", {"rule_id": WHOAMI, "days": 1})
    assert hunted["matched"] == 1 and hunted["new_alerts"] == 1
    beta_hunt = hunt_via_api(client, analyst, "beta", {"rule_id": WHOAMI, "days": 1})
    assert beta_hunt["matched"] == 0

    # streaming detection: the cached view was rebuilt (revision bumped)
    ingest(client, world, "alpha", own_fields_event("a-1"))
    ingest(client, world, "beta", own_fields_event("b-1"))
    assert alerts(services, 1, WHOAMI) == 2 and alerts(services, 2, WHOAMI) == 0
    # additive: an event's own Image wins over the mapped field
    benign = own_fields_event("a-2") | {"Image": "C:\\Windows\\notepad.exe"}
    ingest(client, world, "alpha", benign)
    assert alerts(services, 1, WHOAMI) == 2
    # the rule test route sees the map too
    tested = client.post(
        f"{BASE}/test?tenant=alpha",
        json={"rule_id": WHOAMI, "events": [own_fields_event("t")]},
        headers=analyst,
    ).json()
    assert tested["matched"] == 1

    # the same map again changes nothing; removing it stops the matches
    again = client.put(
        f"{MAPS}/proc_path?tenant=alpha", json={"sigma_field": "Image"}, headers=analyst
    )
    assert again.status_code == 200
    assert client.delete(f"{MAPS}/proc_path?tenant=alpha", headers=analyst).status_code == 204
    assert client.delete(f"{MAPS}/proc_path?tenant=alpha", headers=analyst).status_code == 404
    ingest(client, world, "alpha", own_fields_event("a-3"))
    assert alerts(services, 1, WHOAMI) == 2

    with services.db.session() as session:
        entries = list(
            session.scalars(select(AuditEntry).where(AuditEntry.action.like("rules.field_map.%")))
        )
    assert [(e.action, e.tenant_id) for e in entries] == [
        ("rules.field_map.set", 1),
        ("rules.field_map.delete", 1),
    ]


def test_bad_field_map_is_422(client: TestClient, world: World) -> None:
    admin = world["admin"].headers
    same = client.put(f"{MAPS}/Image?tenant=alpha", json={"sigma_field": "Image"}, headers=admin)
    assert same.status_code == 422
    blank = client.put(f"{MAPS}/x?tenant=alpha", json={"sigma_field": "  "}, headers=admin)
    assert blank.status_code == 422
    assert client.get(MAPS, headers=admin).status_code == 422  # global user, no tenant


# --- isolation and roles ----------------------------------------------------------------------


@pytest.fixture
def beta_map(client: TestClient, world: World) -> None:
    answer = client.put(
        f"{MAPS}/proc_path?tenant=beta",
        json={"sigma_field": "Image"},
        headers=world["admin"].headers,
    )
    assert answer.status_code == 200, answer.text


def test_each_field_map_route_answers_each_role(
    client: TestClient, world: World, beta_map: None
) -> None:
    readers = {"admin": 200, "soc_analyst": 200, "customer-alpha": 404} | SERVED
    managers = {"admin": 200, "soc_analyst": 200} | SERVED
    deleters = {"admin": 204, "soc_analyst": 204} | SERVED
    probes = [
        ("GET", f"{MAPS}?tenant=beta", None, readers),
        ("PUT", f"{MAPS}/host_name?tenant=beta", {"sigma_field": "Computer"}, managers),
        ("DELETE", f"{MAPS}/proc_path?tenant=beta", None, deleters),
    ]
    failures = []
    for method, path, body, expected in probes:
        done = False
        for user in ALL_USERS:
            want = expected.get(user, 403)
            got = client.request(method, path, json=body, headers=world[user].headers).status_code
            if not matches(got, want, done):
                failures.append(f"{method} {path} as {user}: {got}, want {want}")
            done = done or got in (200, 201, 204)
    assert not failures, "\n".join(failures)


def test_customer_reads_own_map_only(client: TestClient, world: World, beta_map: None) -> None:
    customer = world["customer-alpha"].headers
    assert client.get(MAPS, headers=customer).json() == []  # its own tenant: none
    assert client.get(f"{MAPS}?tenant=beta", headers=customer).status_code == 404
    put = client.put(f"{MAPS}/proc_path", json={"sigma_field": "Image"}, headers=customer)
    assert put.status_code == 403
    gone = client.delete(f"{MAPS}/proc_path?tenant=beta", headers=customer)
    assert gone.status_code in (403, 404)


# --- CLI --------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    assert runner.invoke(app, ["tenants", "create", "acme", "--name", "Acme"]).exit_code == 0
    yield tmp_path
    get_settings.cache_clear()


def soc(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_cli_map_field(cli_env: Path) -> None:
    code, out = soc("rules", "map-field", "acme", "process.executable", "Image")
    assert code == 0 and "mapped process.executable -> Image" in out
    code, out = soc("rules", "map-field", "acme", "process.executable", "Image")
    assert code == 0 and "unchanged" in out
    code, out = soc("rules", "field-maps", "acme")
    assert code == 0 and "process.executable -> Image" in out and "1 field maps" in out
    code, out = soc("rules", "map-field", "acme", "process.executable")
    assert code == 2  # neither SIGMA nor --remove
    code, out = soc("rules", "map-field", "acme", "process.executable", "--remove")
    assert code == 0 and "removed" in out
    code, out = soc("rules", "map-field", "acme", "process.executable", "--remove")
    assert code == 1 and "no field map" in out
    code, out = soc("rules", "field-maps", "nobody")
    assert code == 1
