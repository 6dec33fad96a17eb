"""The action registers through the API: creating and updating items, who may update them,
progress notes, evidence, the on-time metric (TB4), and tenant isolation and roles of every
route of risk.actions_api (another tenant's item is a 404, a role without the permission 403).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from risk.models import Risk, RiskAction, RiskTenant
from soc.core.audit import AuditEntry
from soc.core.settings import Settings
from soc.services import Services
from tests.conftest import World

API = "/api/v1/risk"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

# Every route of risk/actions_api.py; each is tested below or in test_deadline_changes.py,
# test_warnings.py and test_followup.py for tenant isolation (404) and roles (403).
ISOLATION_COVERED = {
    ("POST", "/api/v1/risk/actions"),
    ("GET", "/api/v1/risk/actions"),
    ("GET", "/api/v1/risk/actions/{action_id}"),
    ("PATCH", "/api/v1/risk/actions/{action_id}"),
    ("POST", "/api/v1/risk/actions/{action_id}/notes"),
    ("GET", "/api/v1/risk/actions/{action_id}/notes"),
    ("POST", "/api/v1/risk/actions/{action_id}/warned"),
    ("POST", "/api/v1/risk/actions/{action_id}/evidence"),
    ("GET", "/api/v1/risk/actions/{action_id}/evidence"),
    ("GET", "/api/v1/risk/actions/{action_id}/evidence/{evidence_id}"),
    ("POST", "/api/v1/risk/actions/{action_id}/deadline-changes"),
    ("GET", "/api/v1/risk/actions/{action_id}/deadline-changes"),
    ("GET", "/api/v1/risk/deadline-changes"),
    ("POST", "/api/v1/risk/deadline-changes/{change_id}/decision"),
    ("GET", "/api/v1/risk/on-time"),
    ("POST", "/api/v1/risk/warnings/run"),
    ("GET", "/api/v1/risk/followups"),
    ("GET", "/api/v1/risk/followups/{followup_id}"),
    ("POST", "/api/v1/risk/followups"),
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"case_evidence_max_bytes": 1000})


def make_action(
    client: TestClient, world: World, actor: str = "soc_analyst", **fields: Any
) -> dict[str, Any]:
    """A corrective action of tenant alpha owned by prov-a, due 2026-04-08, unless told."""
    body: dict[str, Any] = {
        "register": "corrective_action",
        "title": "Patch the VPN concentrator",
        "scope": "specific",
        "tenant": "alpha",
        "due": "2026-04-08",
        "owner_provider": "prov-a",
    }
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    answer = client.post(f"{API}/actions", json=body, headers=world[actor].headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def status_of(client: TestClient, world: World, actor: str, method: str, url: str, **kw) -> int:
    return client.request(method, url, headers=world[actor].headers, **kw).status_code


def test_create_and_read_action_with_its_deadline_verdict(client: TestClient, world: World) -> None:
    made = make_action(client, world)
    assert made["tenant"] == "alpha" and made["owner_provider"] == "prov-a"
    assert made["status"] == "open" and made["decision"] is None
    # TB1: due 2026-04-08, warned by 2026-03-31 (Easter Monday skipped); long past: missing.
    assert made["warning_due"] == "2026-03-31"
    assert made["warning"] == "missing" and made["deadline_status"] == "overdue"
    assert made["deadline_approver"] == "customer"
    common = make_action(client, world, scope="common", tenant=None, due="2026-05-18")
    assert common["tenant"] is None and common["warning_due"] == "2026-05-08"
    assert common["deadline_approver"] == "authority"
    got = client.get(f"{API}/actions/{made['id']}", headers=world["customer-alpha"].headers)
    assert got.status_code == 200 and got.json()["id"] == made["id"]


def test_create_rules(client: TestClient, world: World, services: Services) -> None:
    analyst = world["soc_analyst"].headers
    base = {"title": "t", "scope": "specific", "tenant": "alpha", "due": "2026-06-01"}
    # A mitigation names a visible risk; the due date is required; dates are strict.
    answer = client.post(f"{API}/actions", json=base | {"register": "mitigation"}, headers=analyst)
    assert answer.status_code == 422
    assert (
        client.post(
            f"{API}/actions",
            json=base | {"register": "mitigation", "risk_id": 999},
            headers=analyst,
        ).status_code
        == 404
    )
    no_due = {k: v for k, v in base.items() if k != "due"} | {"register": "complaint"}
    assert client.post(f"{API}/actions", json=no_due, headers=analyst).status_code == 422
    for bad in ("01/06/2026", 20260601, "2026-06-01T00:00:00"):
        body = base | {"register": "complaint", "due": bad}
        assert client.post(f"{API}/actions", json=body, headers=analyst).status_code == 422
    # Common items name no tenant; specific ones need one (an unscoped user has none).
    body = base | {"register": "complaint", "scope": "common"}
    assert client.post(f"{API}/actions", json=body, headers=analyst).status_code == 422
    body = {k: v for k, v in base.items() if k != "tenant"} | {"register": "complaint"}
    assert client.post(f"{API}/actions", json=body, headers=analyst).status_code == 422
    # A mitigation of a risk that exists.
    with services.db.session() as session:
        risk = Risk(
            title="r",
            category="operational",
            source="audit",
            scope="common",
            likelihood=3,
            impact=3,
            residual_likelihood=2,
            residual_impact=2,
            created_by="t",
        )
        session.add(risk)
        session.flush()
        risk_id = risk.id
    made = make_action(client, world, register="mitigation", risk_id=risk_id)
    assert made["risk_id"] == risk_id
    # A specific risk's mitigation is for one of its tenants.
    with services.db.session() as session:
        specific = Risk(
            title="s",
            category="operational",
            source="audit",
            scope="specific",
            likelihood=3,
            impact=3,
            residual_likelihood=2,
            residual_impact=2,
            created_by="t",
        )
        session.add(specific)
        session.flush()
        session.add(RiskTenant(risk_id=specific.id, tenant_id=1))  # alpha
        specific_id = specific.id
    body = base | {"register": "mitigation", "risk_id": specific_id, "tenant": "beta"}
    assert client.post(f"{API}/actions", json=body, headers=analyst).status_code == 422
    assert (
        make_action(client, world, register="mitigation", risk_id=specific_id)["tenant"] == "alpha"
    )
    # An improvement proposal starts pending and carries its window; an audit finding its origin.
    proposal = make_action(
        client,
        world,
        register="improvement_proposal",
        service="VPN",
        window_start="2026-05-01",
        window_end="2026-05-03",
    )
    assert proposal["decision"] == "pending" and proposal["window_end"] == "2026-05-03"
    # Not executed (handled) before the customer agreed.
    done = {"text": "done", "status": "handled", "handled_on": "2026-05-02"}
    notes = f"{API}/actions/{proposal['id']}/notes"
    assert client.post(notes, json=done, headers=analyst).status_code == 409
    finding = make_action(
        client, world, register="audit_finding", origin="Pen test Q1", proposed_mitigation="MFA"
    )
    assert finding["origin"] == "Pen test Q1"
    with services.db.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "risk.action.created", AuditEntry.object_id == str(made["id"])
            )
        ).one()
        assert entry.actor == "user:soc_analyst"


def test_customers_propose_and_complain_for_their_own_tenant_only(
    client: TestClient, world: World
) -> None:
    body = {
        "register": "complaint",
        "title": "Slow answers",
        "scope": "specific",
        "due": "2026-06-01",
    }
    own = client.post(f"{API}/actions", json=body, headers=world["customer-alpha"].headers)
    assert own.status_code == 201 and own.json()["tenant"] == "alpha"  # defaults to its own
    other = body | {"tenant": "beta"}
    assert status_of(client, world, "customer-alpha", "POST", f"{API}/actions", json=other) == 404
    # An owner the customer may name: itself or its tenant's users, not another tenant's.
    named = body | {"owner_user": "risk_owner-alpha"}
    assert status_of(client, world, "customer-alpha", "POST", f"{API}/actions", json=named) == 201
    foreign = body | {"owner_user": "customer-beta"}
    assert status_of(client, world, "customer-alpha", "POST", f"{API}/actions", json=foreign) == 404
    corrective = body | {"register": "corrective_action"}
    assert (
        status_of(client, world, "customer-alpha", "POST", f"{API}/actions", json=corrective) == 403
    )
    assert status_of(client, world, "finance", "POST", f"{API}/actions", json=body) == 403


def test_who_may_update(client: TestClient, world: World) -> None:
    specific = make_action(client, world)
    common = make_action(client, world, scope="common", tenant=None)
    owned = make_action(client, world, owner_provider=None, owner_user="customer-alpha")
    patch = {"title": "Patch it now"}

    def patch_status(actor: str, action: dict[str, Any]) -> int:
        return status_of(client, world, actor, "PATCH", f"{API}/actions/{action['id']}", json=patch)

    assert patch_status("provider-prov-b", specific) == 404  # another provider's tenant
    assert patch_status("provider-prov-b", common) == 403  # sees it, does not own it
    assert patch_status("risk_owner-beta", specific) == 404
    assert patch_status("customer-alpha", specific) == 403
    assert patch_status("finance", specific) == 403
    assert patch_status("provider-prov-a", specific) == 200
    assert patch_status("soc_analyst-prov-a", common) == 200
    assert patch_status("risk_owner-alpha", specific) == 200
    assert patch_status("risk_owner-alpha", common) == 403  # a tenant's risk owner: specific only
    assert patch_status("customer-alpha", owned) == 200  # the owner in person
    assert patch_status("authority", specific) == 200
    # The due date is not changed by a PATCH (a deadline change needs approval).
    url = f"{API}/actions/{specific['id']}"
    assert status_of(client, world, "admin", "PATCH", url, json={"due": "2026-09-01"}) == 422
    got = client.get(url, headers=world["admin"].headers).json()
    assert got["due"] == "2026-04-08" and got["title"] == "Patch it now"


def backdate(services: Services, action_id: int) -> None:
    """These items are handled on days of spring 2026: created before then (an item is never
    handled before its creation day)."""
    with services.db.session() as session:
        row = session.get(RiskAction, action_id)
        assert row is not None
        row.created_at = datetime(2026, 1, 5, tzinfo=UTC)


def test_notes_move_status_and_isolation(
    client: TestClient, world: World, services: Services
) -> None:
    action = make_action(client, world)
    backdate(services, action["id"])
    url = f"{API}/actions/{action['id']}/notes"
    prov_a = world["provider-prov-a"].headers
    first = client.post(url, json={"text": "Vendor contacted", "progress_pct": 20}, headers=prov_a)
    assert first.status_code == 201, first.text
    got = client.get(f"{API}/actions/{action['id']}", headers=prov_a).json()
    assert got["status"] == "in_progress" and got["progress_pct"] == 20
    future = {"text": "done", "status": "handled", "handled_on": "2999-01-01"}
    assert client.post(url, json=future, headers=prov_a).status_code == 422
    done = {"text": "done", "status": "handled", "handled_on": "2026-04-07"}
    assert client.post(url, json=done, headers=prov_a).status_code == 201
    got = client.get(f"{API}/actions/{action['id']}", headers=prov_a).json()
    assert got["status"] == "handled" and got["handled_on"] == "2026-04-07"
    assert got["deadline_status"] == "on_time" and got["progress_pct"] == 100
    again = {"text": "reopen", "status": "open"}
    assert client.post(url, json=again, headers=prov_a).status_code == 409
    notes = client.get(url, headers=world["customer-alpha"].headers)
    assert [n["text"] for n in notes.json()] == ["Vendor contacted", "done"]
    assert status_of(client, world, "customer-beta", "GET", url) == 404
    assert status_of(client, world, "finance", "GET", url) == 403
    note = {"text": "x"}
    assert status_of(client, world, "provider-prov-b", "POST", url, json=note) == 404
    assert status_of(client, world, "customer-alpha", "POST", url, json=note) == 403


def test_reads_are_isolated_by_tenant(client: TestClient, world: World) -> None:
    alpha = make_action(client, world)
    beta = make_action(client, world, tenant="beta", owner_provider="prov-b")
    common = make_action(client, world, scope="common", tenant=None)

    def ids(actor: str, query: str = "") -> set[int]:
        answer = client.get(f"{API}/actions{query}", headers=world[actor].headers)
        assert answer.status_code == 200, answer.text
        return {a["id"] for a in answer.json()["items"]}

    assert ids("admin") == {alpha["id"], beta["id"], common["id"]}
    assert ids("customer-alpha") == {alpha["id"], common["id"]}
    assert ids("customer-beta") == {beta["id"], common["id"]}
    assert ids("provider-prov-b") == {beta["id"], common["id"]}
    assert ids("admin", "?tenant=beta") == {beta["id"]}
    assert ids("admin", "?owner_provider=prov-a") == {alpha["id"], common["id"]}
    assert status_of(client, world, "customer-alpha", "GET", f"{API}/actions?tenant=beta") == 404
    assert status_of(client, world, "finance", "GET", f"{API}/actions") == 403
    for actor in ("customer-alpha", "provider-prov-a", "risk_owner-alpha"):
        url = f"{API}/actions/{beta['id']}"
        assert status_of(client, world, actor, "GET", url) == 404
    assert status_of(client, world, "finance", "GET", f"{API}/actions/{alpha['id']}") == 403


def test_mark_warned_roles(client: TestClient, world: World) -> None:
    action = make_action(client, world, due="2099-06-30")
    url = f"{API}/actions/{action['id']}/warned"
    assert status_of(client, world, "provider-prov-b", "POST", url) == 404
    assert status_of(client, world, "customer-alpha", "POST", url) == 403
    answer = client.post(url, headers=world["provider-prov-a"].headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["warned_on"] is not None and answer.json()["warning_late"] is False
    assert answer.json()["warning"] == "on_time"
    assert status_of(client, world, "provider-prov-a", "POST", url) == 409  # warned once


def test_evidence_upload_checks_and_isolation(
    client: TestClient, world: World, settings: Settings
) -> None:
    action = make_action(client, world)
    url = f"{API}/actions/{action['id']}/evidence"

    def upload(actor: str, name: str, data: bytes, kind: str) -> int:
        files = {"file": (name, data, kind)}
        return client.post(url, files=files, headers=world[actor].headers).status_code

    assert upload("provider-prov-a", "../../report.pdf", PDF, "application/pdf") == 201
    assert upload("provider-prov-a", "big.txt", b"x" * 1001, "text/plain") == 413
    assert upload("provider-prov-a", "fake.pdf", b"MZ\x90\x00", "application/pdf") == 415
    assert upload("provider-prov-a", "tool.exe", b"MZ\x90\x00", "application/x-msdownload") == 415
    assert upload("customer-beta", "a.txt", b"hello", "text/plain") == 404
    assert upload("provider-prov-b", "a.txt", b"hello", "text/plain") == 404
    assert upload("customer-alpha", "a.txt", b"hello", "text/plain") == 403
    assert upload("finance", "a.txt", b"hello", "text/plain") == 403
    listed = client.get(url, headers=world["customer-alpha"].headers).json()
    assert [(e["filename"], e["size"]) for e in listed] == [("report.pdf", len(PDF))]
    got = client.get(f"{url}/{listed[0]['id']}", headers=world["customer-alpha"].headers)
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    stored = settings.data_dir / "risk-evidence" / str(action["id"]) / listed[0]["sha256"]
    assert stored.read_bytes() == PDF
    assert status_of(client, world, "customer-beta", "GET", url) == 404
    assert status_of(client, world, "finance", "GET", url) == 403
    download = f"{url}/{listed[0]['id']}"
    assert status_of(client, world, "customer-beta", "GET", download) == 404
    assert status_of(client, world, "finance", "GET", download) == 403
    # The evidence id of another action is not reachable through this one.
    other = make_action(client, world)
    wrong = f"{API}/actions/{other['id']}/evidence/{listed[0]['id']}"
    assert status_of(client, world, "admin", "GET", wrong) == 404


def handle(client: TestClient, world: World, services: Services, action_id: int, day: str) -> None:
    backdate(services, action_id)
    answer = client.post(
        f"{API}/actions/{action_id}/notes",
        json={"text": "handled", "status": "handled", "handled_on": day},
        headers=world["soc_analyst"].headers,
    )
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(("late", "pct", "met"), [(1, "90.00", True), (2, "80.00", False)])
def test_on_time_april_2026_tb4(
    client: TestClient, world: World, services: Services, late: int, pct: str, met: bool
) -> None:
    """TB4: 11 handled in April 2026, 1 outside the ecosystem; 9 of 10 on time is 90 %, met;
    8 of 10 is 80 %, missed; the late ones are listed."""
    late_ids = []
    for n in range(10):
        is_late = n < late
        action = make_action(client, world, title=f"item {n}", due="2026-04-10")
        handle(client, world, services, action["id"], "2026-04-20" if is_late else "2026-04-09")
        if is_late:
            late_ids.append(action["id"])
    outside = make_action(client, world, title="outside", due="2026-04-01", outside_ecosystem=True)
    handle(client, world, services, outside["id"], "2026-04-28")  # late, but excluded
    may = make_action(client, world, title="may", due="2026-04-01")
    handle(client, world, services, may["id"], "2026-05-04")  # outside the period
    beta = make_action(client, world, title="beta", due="2026-04-01", tenant="beta")
    handle(
        client, world, services, beta["id"], "2026-04-15"
    )  # another tenant: late, filtered out below
    url = f"{API}/on-time?from=2026-04-01&to=2026-04-30&tenant=alpha"
    report = client.get(url, headers=world["authority"].headers)
    assert report.status_code == 200, report.text
    body = report.json()
    assert (body["handled"], body["excluded"], body["on_time"]) == (11, 1, 10 - late)
    assert body["on_time_pct"] == pct and body["target_met"] is met
    assert body["target_pct"] == "90.00"
    assert [i["id"] for i in body["late"]] == late_ids
    assert body["late"][0]["handled_on"] == "2026-04-20"
    # The customer's view is its own tenant's: the same as tenant=alpha.
    mine = client.get(
        "/api/v1/risk/on-time?from=2026-04-01&to=2026-04-30",
        headers=world["customer-alpha"].headers,
    ).json()
    assert mine["on_time_pct"] == pct and mine["handled"] == 11
    everyone = client.get(
        "/api/v1/risk/on-time?from=2026-04-01&to=2026-04-30", headers=world["admin"].headers
    ).json()
    assert everyone["handled"] == 12
    register = client.get(f"{url}&register=complaint", headers=world["admin"].headers).json()
    assert register["handled"] == 0 and register["on_time_pct"] == "100.00"


def test_on_time_roles_and_input(client: TestClient, world: World) -> None:
    url = f"{API}/on-time?from=2026-04-01&to=2026-04-30"
    assert status_of(client, world, "finance", "GET", url) == 403
    assert status_of(client, world, "customer-alpha", "GET", f"{url}&tenant=beta") == 404
    assert status_of(client, world, "provider-prov-a", "GET", f"{url}&tenant=beta") == 404
    assert status_of(client, world, "admin", "GET", f"{API}/on-time?from=2026-04-01") == 422
    bad = f"{API}/on-time?from=2026-04-31&to=2026-05-01"
    assert status_of(client, world, "admin", "GET", bad) == 422
    backwards = f"{API}/on-time?from=2026-05-01&to=2026-04-01"
    assert status_of(client, world, "admin", "GET", backwards) == 422
