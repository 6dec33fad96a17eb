"""The CMDB inventory API: CIs, relations, history, imports and the map, and who sees what
(a customer of alpha never sees beta's CIs; a provider sees its own CIs and their dependents)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import World

API = "/api/v1/cmdb"
DATA = Path(__file__).parent / "data"


def post(client: TestClient, who: Any, path: str, body: Any, code: int = 201) -> Any:
    answer = client.post(API + path, json=body, headers=who.headers)
    assert answer.status_code == code, answer.text
    return answer.json()


@pytest.fixture
def topo(client: TestClient, world: World) -> dict[str, int]:
    """payroll (alpha, prov-a) depends on vm (prov-a), which depends on fw (prov-b), which
    beta's app depends on too; beta's app depends on beta's db (prov-b)."""
    admin = world["admin"]
    specs = {
        "payroll": {"ci_type": "application", "provider": "prov-a", "tenants": ["alpha"]},
        "vm": {"ci_type": "vm", "provider": "prov-a", "names": ["vm-42.prov-a"]},
        "fw": {"ci_type": "firewall", "provider": "prov-b", "tenants": ["alpha", "beta"]},
        "beta-app": {"ci_type": "application", "provider": "prov-b", "tenants": ["beta"]},
        "beta-db": {"ci_type": "database", "provider": "prov-b"},
    }
    ids = {
        name: post(client, admin, "/cis", {"name": name, **spec})["id"]
        for name, spec in specs.items()
    }
    for a, b in (("payroll", "vm"), ("vm", "fw"), ("beta-app", "fw"), ("beta-app", "beta-db")):
        post(
            client,
            admin,
            "/relations",
            {"from_ci_id": ids[a], "to_ci_id": ids[b], "rel_type": "depends_on"},
        )
    return ids


def listed(client: TestClient, who: Any, query: str = "") -> set[str]:
    answer = client.get(f"{API}/cis?limit=500{query}", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return {c["name"] for c in answer.json()["items"]}


def test_customer_never_sees_another_tenants_cis(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    alpha = world["customer-alpha"]
    assert listed(client, alpha) == {"payroll", "vm", "fw"}
    for name in ("beta-app", "beta-db"):
        for path in ("", "/history"):
            assert (
                client.get(f"{API}/cis/{topo[name]}{path}", headers=alpha.headers).status_code
                == 404
            )
    fw = client.get(f"{API}/cis/{topo['fw']}", headers=alpha.headers).json()
    assert fw["tenants"] == ["alpha"]  # the shared firewall's other tenant is not named
    assert {r["from_name"] for r in fw["relations"]} == {"vm"}  # not beta's application
    history = client.get(f"{API}/cis/{topo['fw']}/history", headers=alpha.headers).json()
    assert all(
        c["relation_id"] is None or c["diff"]["from_ci_id"][1] != topo["beta-app"]
        for c in history["items"]
    )
    text = str(history) + str(fw)
    assert "beta-app" not in text and "beta" not in text
    rels = client.get(f"{API}/relations", headers=alpha.headers).json()
    assert rels["total"] == 2
    assert listed(client, world["customer-beta"]) == {"beta-app", "beta-db", "fw"}


def test_provider_sees_own_cis_and_their_dependents(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    """Its own CIs, what depends on them and what they depend on (visibility.py)."""
    prov_a = world["provider-prov-a"]
    assert listed(client, prov_a) == {"payroll", "vm", "fw"}
    for name in ("beta-app", "beta-db"):
        assert client.get(f"{API}/cis/{topo[name]}", headers=prov_a.headers).status_code == 404
    assert listed(client, world["provider-prov-b"]) == {
        "fw",
        "beta-app",
        "beta-db",
        "vm",
        "payroll",
    }
    assert listed(client, world["authority"]) == set(topo)


def test_cross_provider_relation_refused_for_provider_allowed_for_admin(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    body = {"from_ci_id": topo["beta-db"], "to_ci_id": topo["vm"], "rel_type": "connects_to"}
    refused = client.post(f"{API}/relations", json=body, headers=world["provider-prov-b"].headers)
    assert refused.status_code == 403 and "relate_cross" in refused.json()["detail"]
    assert (
        post(client, world["soc_analyst"], "/relations", body)["relation"]["rel_type"]
        == "connects_to"
    )
    # within its own provider, a provider relates freely
    own = {"from_ci_id": topo["beta-app"], "to_ci_id": topo["beta-db"], "rel_type": "runs_on"}
    post(client, world["provider-prov-b"], "/relations", own)


def test_relation_errors_and_cycle(client: TestClient, world: World, topo: dict[str, int]) -> None:
    admin = world["admin"]
    unknown = {"from_ci_id": topo["vm"], "to_ci_id": 987654, "rel_type": "depends_on"}
    answer = client.post(f"{API}/relations", json=unknown, headers=admin.headers)
    assert answer.status_code == 404 and "987654" in answer.json()["detail"]
    bad = client.post(
        f"{API}/relations", json={**unknown, "rel_type": "loves"}, headers=admin.headers
    )
    assert bad.status_code == 422
    loop = {"from_ci_id": topo["fw"], "to_ci_id": topo["payroll"], "rel_type": "depends_on"}
    made = post(client, admin, "/relations", loop)
    assert made["cycle"] == [topo["fw"], topo["payroll"], topo["vm"], topo["fw"]]
    gone = client.delete(f"{API}/relations/{made['relation']['id']}", headers=admin.headers)
    assert gone.status_code == 200 and gone.json()["retired_at"] is not None
    retired = client.post(f"{API}/cis/{topo['vm']}/retire", headers=admin.headers).json()
    assert retired["retired_at"] is not None
    again = client.post(
        f"{API}/relations", json={**loop, "to_ci_id": topo["vm"]}, headers=admin.headers
    )
    assert again.status_code == 422 and "retired" in again.json()["detail"]


def test_patch_history_and_permissions(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    prov_a = world["provider-prov-a"]
    path = f"{API}/cis/{topo['vm']}"
    answer = client.patch(
        path, json={"criticality": "critical", "always_on": True}, headers=prov_a.headers
    )
    assert answer.status_code == 200 and answer.json()["always_on"] is True
    history = client.get(f"{path}/history", headers=prov_a.headers).json()["items"]
    assert history[0]["action"] == "updated" and history[0]["actor"] == "user:provider-prov-a"
    assert history[0]["diff"] == {"criticality": ["medium", "critical"], "always_on": [False, True]}
    detail = client.get(path, headers=prov_a.headers).json()
    assert detail["history"][0]["id"] == history[0]["id"] and detail["names"] == ["vm-42.prov-a"]
    # prov-b sees vm (it depends on prov-b's firewall) but may not edit it
    assert (
        client.patch(
            path, json={"criticality": "low"}, headers=world["provider-prov-b"].headers
        ).status_code
        == 403
    )
    assert (
        client.patch(
            path, json={"criticality": "low"}, headers=world["customer-alpha"].headers
        ).status_code
        == 403
    )
    assert (
        client.patch(path, json={"ci_type": "mainframe"}, headers=prov_a.headers).status_code == 422
    )
    made = client.post(f"{API}/cis", json={"name": "x", "ci_type": "vm"}, headers=prov_a.headers)
    assert made.status_code == 201 and made.json()["provider"] == "prov-a"


def test_import_preview_apply_and_errors(client: TestClient, world: World) -> None:
    admin = world["admin"]
    content = (DATA / "servicenow_prov_a.json").read_text()
    body = {"format": "servicenow", "provider": "prov-a", "content": content}
    preview = post(client, admin, "/imports/preview", body, 200)
    assert len(preview["added"]) == 9 and not preview["applied"]
    assert listed(client, admin) == set()
    applied = post(client, admin, "/imports/apply", body, 200)
    assert applied["applied"] and all(i["ci_id"] for i in applied["added"])
    assert len(listed(client, admin)) == 9
    again = post(client, admin, "/imports/preview", body, 200)
    assert again["unchanged"] == 9 and not again["added"] and not again["changed"]
    # bad rows: 422 with the plan, nothing written
    broken = content.replace('"cmdb_ci_ip_firewall"', '"cmdb_ci_toaster"')
    answer = client.post(
        f"{API}/imports/apply",
        json={**body, "content": broken, "full_sync": True},
        headers=admin.headers,
    )
    assert answer.status_code == 422
    assert [e["where"] for e in answer.json()["errors"]] == ["result[8]", "result[18]"]
    assert len(listed(client, admin)) == 9
    # the customer sees the imported application (alpha) and what is under it
    assert "Payroll" in listed(client, world["customer-alpha"])
    assert listed(client, world["customer-beta"]) == set()
    refused = client.post(
        f"{API}/imports/apply", json=body, headers=world["provider-prov-b"].headers
    )
    assert refused.status_code == 403


def test_cmdb_map(client: TestClient, world: World) -> None:
    entries = [
        {
            "ci_type": "server",
            "provider": "prov-a",
            "source_cmdb": "provider",
            "replicated_to": ["gos", "dwh"],
        },
        {"ci_type": "application", "source_cmdb": "cmdb2", "replicated_to": ["gos"]},
    ]
    answer = client.put(f"{API}/map", json=entries, headers=world["admin"].headers)
    assert answer.status_code == 200, answer.text
    got = client.get(f"{API}/map", headers=world["customer-alpha"].headers).json()
    assert [(e["ci_type"], e["provider"]) for e in got] == [
        ("application", None),
        ("server", "prov-a"),
    ]
    assert (
        client.put(f"{API}/map", json=[], headers=world["provider-prov-a"].headers).status_code
        == 403
    )
    bad = [{"ci_type": "server", "source_cmdb": "excel"}]
    assert client.put(f"{API}/map", json=bad, headers=world["admin"].headers).status_code == 422


def test_writes_on_foreign_cis_are_refused(
    client: TestClient, world: World, topo: dict[str, int]
) -> None:
    """Customers may not edit the CMDB (403); a provider never reaches another provider's
    CIs or relations (404), and imports only its own."""
    customer, prov_a = world["customer-alpha"], world["provider-prov-a"]
    beta_db = f"{API}/cis/{topo['beta-db']}"
    for method, path, body in (
        ("POST", f"{API}/cis", {"name": "x", "ci_type": "vm"}),
        ("PATCH", f"{API}/cis/{topo['payroll']}", {"criticality": "high"}),
        ("POST", f"{API}/cis/{topo['payroll']}/retire", None),
        ("POST", f"{API}/cis/{topo['payroll']}/restore", None),
        ("PUT", f"{API}/map", []),
        ("POST", f"{API}/imports/preview", {"format": "json", "content": "{}"}),
    ):
        answer = client.request(method, path, json=body, headers=customer.headers)
        assert answer.status_code == 403, (method, path, answer.text)
    for method, path, body in (
        ("PATCH", beta_db, {"criticality": "high"}),
        ("POST", f"{beta_db}/retire", None),
        ("POST", f"{beta_db}/restore", None),
        ("GET", f"{beta_db}/history", None),
    ):
        answer = client.request(method, path, json=body, headers=prov_a.headers)
        assert answer.status_code == 404, (method, path, answer.text)
    rels = client.get(f"{API}/relations?limit=500", headers=world["admin"].headers).json()
    beta_rel = next(
        r["id"]
        for r in rels["items"]
        if r["from_ci_id"] == topo["beta-app"] and r["to_ci_id"] == topo["beta-db"]
    )
    assert client.delete(f"{API}/relations/{beta_rel}", headers=prov_a.headers).status_code == 404
    assert client.delete(f"{API}/relations/{beta_rel}", headers=customer.headers).status_code == 403
    other = {"format": "json", "provider": "prov-b", "content": '{"cis": []}'}
    answer = client.post(f"{API}/imports/preview", json=other, headers=prov_a.headers)
    assert answer.status_code in (403, 404), answer.text


# Tenant isolation and roles of these routes are tested in this module.
ISOLATION_COVERED = {
    ("GET", "/api/v1/cmdb/cis"),
    ("POST", "/api/v1/cmdb/cis"),
    ("GET", "/api/v1/cmdb/cis/{ci_id}"),
    ("PATCH", "/api/v1/cmdb/cis/{ci_id}"),
    ("POST", "/api/v1/cmdb/cis/{ci_id}/retire"),
    ("POST", "/api/v1/cmdb/cis/{ci_id}/restore"),
    ("GET", "/api/v1/cmdb/cis/{ci_id}/history"),
    ("GET", "/api/v1/cmdb/relations"),
    ("POST", "/api/v1/cmdb/relations"),
    ("DELETE", "/api/v1/cmdb/relations/{relation_id}"),
    ("POST", "/api/v1/cmdb/imports/preview"),
    ("POST", "/api/v1/cmdb/imports/apply"),
    ("GET", "/api/v1/cmdb/map"),
    ("PUT", "/api/v1/cmdb/map"),
}
