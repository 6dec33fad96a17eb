"""Log sources (ingest.sources, /api/v1/log-sources): declared through the API, seen through
real ingest, silent sources raising one case per silence (time-travelled with `now=`), tenant
isolation, and the silent_log_sources KRI from the register."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from kri.computed import DETAILED, Subject
from soc.cases.models import Case
from soc.cases.source_silence import RULE_ID, raise_silence_cases
from soc.core.db import utcnow
from soc.core.settings import Settings
from soc.services import Services
from tests.conftest import World
from tests.helpers import key_headers, ndjson, whoami_event

BASE = "/api/v1/log-sources"
# Isolation and roles of these routes: test_isolation_and_roles below.
ISOLATION_COVERED = {
    ("GET", BASE),
    ("POST", BASE),
    ("GET", f"{BASE}/unknown"),
    ("POST", f"{BASE}/adopt"),
    ("GET", f"{BASE}/{{source_id}}"),
    ("PATCH", f"{BASE}/{{source_id}}"),
    ("DELETE", f"{BASE}/{{source_id}}"),
}


def ingest(client: TestClient, world: World, tenant: str, *hosts: str) -> None:
    events = [whoami_event(h, 5 + i) for i, h in enumerate(hosts)]
    answer = client.post(
        "/api/v1/ingest", content=ndjson(*events), headers=key_headers(world.keys[tenant])
    )
    assert answer.status_code == 200, answer.text


def declare(client: TestClient, world: World, **body: object) -> dict:
    answer = client.post(BASE, json=body, headers=world["admin"].headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def silence_cases(services: Services) -> list[Case]:
    with services.db.session() as session:
        found = session.scalars(select(Case).where(Case.rule_id == RULE_ID).order_by(Case.id))
        return list(found)


def test_declare_see_unknown_silence_and_kri(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    dc = declare(
        client, world, name="Domain controllers", kind="windows", host_pattern="DC*.alpha.local",
        tenant="alpha", silent_after_hours=2, expected_daily_bytes=10**6,
    )  # fmt: skip
    assert (dc["status"], dc["last_seen"]) == ("never_seen", None)
    assert dc["silent_after_hours"] == 2
    ingest(client, world, "alpha", "dc1.alpha.local", "dc2.alpha.local", "ws-new")
    got = client.get(f"{BASE}/{dc['id']}", headers=world["admin"].headers).json()
    assert got["status"] == "ok" and got["first_seen"] and got["last_seen"]
    assert got["events_today"] == 2 and got["bytes_today"] > 0
    unknown = client.get(f"{BASE}/unknown?tenant=alpha", headers=world["admin"].headers).json()
    assert [h["host"] for h in unknown] == ["ws-new"]

    # Time travel: 3 h later the source is silent: one case, not one per pass.
    later = utcnow() + timedelta(hours=3)
    with services.db.session() as session:
        assert len(raise_silence_cases(session, settings, later)) == 1
    with services.db.session() as session:
        assert raise_silence_cases(session, settings, later + timedelta(hours=1)) == []
    cases = silence_cases(services)
    assert len(cases) == 1 and "Domain controllers" in cases[0].title
    assert cases[0].tenant_id == 1

    # The KRI counts it (the drill-down names it) as of the travelled moment.
    with services.db.session() as session:
        from kri import computed_ops

        real = computed_ops.utcnow
        computed_ops.utcnow = lambda: later  # type: ignore[assignment]
        try:
            count, detail = DETAILED["silent_log_sources"](
                session, settings, Subject(tenant_id=1), f"{later:%Y-%m}"
            )
        finally:
            computed_ops.utcnow = real  # type: ignore[assignment]
    assert count == Decimal(1) and detail["declared"] == 1
    assert [s["name"] for s in detail["silent"]] == ["Domain controllers"]
    with services.db.session() as session:
        beta = DETAILED["silent_log_sources"](session, settings, Subject(tenant_id=2), "2026-12")
    assert beta[0] == 0

    # Speaking again resets: a later silence raises again (a second alert on the open case,
    # or a new case when the first was closed).
    ingest(client, world, "alpha", "dc1.alpha.local")
    with services.db.session() as session:
        touched = raise_silence_cases(session, settings, utcnow() + timedelta(hours=3))
    assert len(touched) == 1
    assert sum(c.alert_count for c in silence_cases(services)) == 2

    # Adopt the unknown host; it leaves the onboarding list.
    adopted = client.post(
        f"{BASE}/adopt",
        json={"host": "ws-new", "kind": "other", "tenant": "alpha"},
        headers=world["admin"].headers,
    )
    assert adopted.status_code == 201, adopted.text
    assert adopted.json()["status"] == "ok" and adopted.json()["host_pattern"] == "ws-new"
    unknown = client.get(f"{BASE}/unknown?tenant=alpha", headers=world["admin"].headers).json()
    assert unknown == []


def test_isolation_and_roles(client: TestClient, world: World) -> None:
    ingest(client, world, "beta", "b-host")
    beta = declare(client, world, name="FW", kind="firewall", host_pattern="fw*", tenant="beta")
    alpha_user = world["customer-alpha"].headers  # customers read, never change
    mine = {"name": "Proxy", "kind": "proxy", "host_pattern": "px*"}
    assert client.post(BASE, json=mine, headers=alpha_user).status_code == 403
    assert client.get(BASE, headers=alpha_user).json() == []
    assert client.get(f"{BASE}/{beta['id']}", headers=alpha_user).status_code == 404
    assert client.get(f"{BASE}/unknown", headers=alpha_user).json() == []
    assert client.get(f"{BASE}?tenant=beta", headers=alpha_user).status_code == 404
    changed = client.patch(f"{BASE}/{beta['id']}", json={"enabled": False}, headers=alpha_user)
    assert changed.status_code == 403
    # An analyst of prov-a (serves alpha) may change sources, but not beta's: 404.
    analyst = world["soc_analyst-prov-a"].headers
    assert client.get(BASE, headers=analyst).json() == []
    assert client.get(f"{BASE}/unknown?tenant=beta", headers=analyst).status_code == 404
    changed = client.patch(f"{BASE}/{beta['id']}", json={"enabled": False}, headers=analyst)
    assert changed.status_code == 404
    assert client.delete(f"{BASE}/{beta['id']}", headers=analyst).status_code == 404
    adopt = {"host": "b-host", "kind": "other", "tenant": "beta"}
    assert client.post(f"{BASE}/adopt", json=adopt, headers=analyst).status_code == 404
    foreign = {"name": "x", "kind": "other", "host_pattern": "h", "tenant": "beta"}
    assert client.post(BASE, json=foreign, headers=analyst).status_code == 404
    # Beta's customer sees beta's source and its unknown host.
    beta_user = world["customer-beta"].headers
    assert [s["name"] for s in client.get(BASE, headers=beta_user).json()] == ["FW"]
    unknown = client.get(f"{BASE}/unknown", headers=beta_user).json()
    assert [h["host"] for h in unknown] == ["b-host"]
    assert client.get(BASE).status_code == 401
    # Strict input: unknown fields, bad kinds, spaces in patterns are 422.
    admin = world["admin"].headers
    for body in (
        {"name": "x", "kind": "mainframe", "host_pattern": "h", "tenant": "beta"},
        {"name": "x", "kind": "other", "host_pattern": "a b", "tenant": "beta"},
        {"name": "x", "kind": "other", "host_pattern": "h", "tenant": "beta", "extra": 1},
    ):
        assert client.post(BASE, json=body, headers=admin).status_code == 422
    dup = {"name": "FW", "kind": "firewall", "host_pattern": "fw*", "tenant": "beta"}
    assert client.post(BASE, json=dup, headers=admin).status_code == 409
    patched = client.patch(f"{BASE}/{beta['id']}", json={"host_pattern": "b-*"}, headers=admin)
    assert patched.status_code == 200 and patched.json()["last_seen"] is not None
    assert client.delete(f"{BASE}/{beta['id']}", headers=admin).status_code == 204
    assert client.get(f"{BASE}/{beta['id']}", headers=admin).status_code == 404
    audit = client.get("/api/v1/audit?limit=50", headers=admin)
    if audit.status_code == 200:
        actions = {e["action"] for e in audit.json().get("items", audit.json())}
        assert {"log_sources.declare", "log_sources.update", "log_sources.delete"} <= actions
