"""The KRI catalogue: the shipped YAML (every Must-have 1 field, the computations kri.computed
implements, the 004-F provider KPIs), validation naming the entry, idempotent seeding that
never overwrites API edits, and the catalogue routes (admin edits, audited; everyone with
kri.read reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kri.catalogue import SHIPPED, CatalogueError, load_yaml, seed_catalogue
from kri.models import KriDefinition
from soc.core.audit import AuditEntry
from soc.services import Services
from tests.conftest import World
from tests.helpers import key_headers

API = "/api/v1/kri"

ISOLATION_COVERED = {
    ("GET", "/api/v1/kri/catalogue"),
    ("POST", "/api/v1/kri/catalogue"),
    ("GET", "/api/v1/kri/catalogue/{kri_id}"),
    ("PATCH", "/api/v1/kri/catalogue/{kri_id}"),
}

COMPUTATIONS = {
    "cases_p1",
    "cases_p2",
    "cases_p3",
    "cases_p4",
    "response_sla_pct",
    "resolution_sla_pct",
    "p1_mean_resolution_office_h",
    "p1_mean_resolution_outside_h",
    "root_cause_on_time_pct",
    "reassignments",
    "open_high_critical_risks",
    "overdue_actions_pct",
    "actions_on_time_pct",
    "availability_pct",
    "events",
    "gb_ingested",
    "silent_log_sources",
}


@pytest.fixture
def kri_client(client: TestClient, world: World, services: Services) -> TestClient:
    with services.db.session() as session:
        seed_catalogue(session, services.settings)
    return client


def spec(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "t_new",
        "name": {"en": "New", "nl": "Nieuw"},
        "direction": "higher_better",
        "norm": "95",
        "green": "95",
        "amber": "90",
        "scope": "provider",
        "source": "submitted",
        "owner_provider": "prov-a",
        "domain": "Test",
        "weight": "10",
    }
    body.update(changes)
    return body


def test_shipped_catalogue_has_every_field_and_default() -> None:
    entries = load_yaml(SHIPPED)
    by_id = {e["id"]: e for e in entries}
    fields = {
        "id", "name", "definition", "unit", "direction", "norm", "green", "amber", "scope",
        "source", "owner_provider", "frequency", "due_working_days", "quality", "domain",
        "weight", "is_sla", "computation",
    }  # fmt: skip
    raw = SHIPPED.read_text(encoding="utf-8")
    for entry in entries:
        assert fields <= set(entry)
        quarterly = entry["id"] == "change_failed_pct"  # "< 3 % per quarter" (004-F)
        assert entry["frequency"] == ("quarterly" if quarterly else "monthly")
        assert entry["due_working_days"] == (6 if entry["scope"] == "end_to_end" else 3)
    computed = {e["computation"] for e in entries if e["source"] == "computed"}
    assert computed == COMPUTATIONS
    assert "&id" not in raw  # no YAML anchors: every entry reads on its own
    submitted = {e["id"]: e for e in entries if e["source"] == "submitted"}
    assert by_id["sd_reachability_pct"]["norm"] == "80"
    assert by_id["sd_reachability_pct"]["weight"] == "25"
    assert by_id["sd_first_contact_resolution_pct"]["norm"] == "70"
    assert by_id["sd_handoff_pct"]["norm"] == "100"
    assert by_id["sd_training_sessions"]["norm"] == "2"
    assert by_id["change_standard_on_time_pct"]["norm"] == "95"
    assert by_id["cmdb_accuracy_pct"]["norm"] == "98"
    assert by_id["patch_compliance_pct"]["norm"] == "100"
    assert by_id["sso_availability_pct"]["norm"] == "99.8"
    assert by_id["reports_on_time_pct"]["norm"] == "100"
    assert by_id["change_failed_pct"]["direction"] == "lower_better"
    sd = [e for e in submitted.values() if e["domain"] == "Servicedesk & Support"]
    assert sum(int(e["weight"]) for e in sd) == 100
    assert all(e["scope"] == "provider" for e in submitted.values())


def write(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text(json.dumps({"kris": entries}), encoding="utf-8")  # JSON is YAML
    return path


def test_yaml_validation_names_the_entry(tmp_path: Path) -> None:
    bad = spec(id="bad_one", green="80", amber="90")  # higher_better with green < amber
    with pytest.raises(CatalogueError, match=r"entry 2 \('bad_one'\).*green >= amber"):
        load_yaml(write(tmp_path, [spec(), bad]))
    with pytest.raises(CatalogueError, match=r"entry 1 \('t_new'\): norm"):
        load_yaml(write(tmp_path, [spec(norm="lots")]))
    with pytest.raises(CatalogueError, match=r"entry 2 \('t_new'\).*already used by entry 1"):
        load_yaml(write(tmp_path, [spec(), spec()]))
    with pytest.raises(CatalogueError, match=r"entry 1 \('x'\).*computation"):
        load_yaml(write(tmp_path, [spec(id="x", source="computed")]))
    with pytest.raises(CatalogueError, match=r"entry 1: "):
        load_yaml(write(tmp_path, [{"name": "no id"}]))


def test_seed_is_idempotent_and_keeps_api_edits(
    kri_client: TestClient, world: World, services: Services, tmp_path: Path
) -> None:
    answer = kri_client.patch(
        f"{API}/catalogue/sd_first_contact_resolution_pct",
        json={"norm": "75", "green": "75"},
        headers=world["admin"].headers,
    )
    assert answer.status_code == 200, answer.text
    own = write(tmp_path, [spec(id="t_extra"), spec(id="t_ghost", owner_provider="nobody")])
    with services.db.session() as session:
        assert seed_catalogue(session, services.settings) == 0  # second seed: nothing
        row = session.get(KriDefinition, "sd_first_contact_resolution_pct")
        assert row is not None and row.norm == "75"  # the edit survives
        custom = services.settings.model_copy(update={"kri_catalogue_path": own})
        assert seed_catalogue(session, custom) == 1  # the unknown provider's entry waits
        extra = session.get(KriDefinition, "t_extra")
        assert extra is not None and extra.owner_provider_id is not None
        assert extra.due_working_days == 3  # the settings' default for provider input
        assert session.get(KriDefinition, "t_ghost") is None
        total = len(list(session.scalars(select(KriDefinition.id))))
    assert total == len(load_yaml(SHIPPED)) + 1


def test_catalogue_reads_for_every_reader(kri_client: TestClient, world: World) -> None:
    for who in ("admin", "customer-alpha", "provider-prov-b", "authority", "finance"):
        answer = kri_client.get(f"{API}/catalogue", headers=world[who].headers)
        assert answer.status_code == 200, (who, answer.text)
        assert len(answer.json()) == len(load_yaml(SHIPPED))
    one = kri_client.get(f"{API}/catalogue/cases_p1", headers=world["customer-beta"].headers)
    assert one.status_code == 200 and one.json()["computation"] == "cases_p1"
    assert one.json()["name"] == {"en": "Security cases P1", "nl": "Beveiligingscases P1"}
    submitted = kri_client.get(
        f"{API}/catalogue?source=submitted&scope=provider", headers=world["admin"].headers
    ).json()
    assert submitted and all(k["source"] == "submitted" for k in submitted)
    missing = kri_client.get(f"{API}/catalogue/nope", headers=world["admin"].headers)
    assert missing.status_code == 404
    key = key_headers(world.keys["alpha"], "application/json")
    assert kri_client.get(f"{API}/catalogue", headers=key).status_code in (401, 403)
    assert kri_client.get(f"{API}/catalogue/cases_p1", headers=key).status_code in (401, 403)


def test_catalogue_edits_admin_only_and_audited(
    kri_client: TestClient, world: World, services: Services
) -> None:
    admin = world["admin"].headers
    for who in ("soc_analyst", "authority", "customer-alpha", "provider-prov-a"):
        headers = world[who].headers
        assert kri_client.post(f"{API}/catalogue", json=spec(), headers=headers).status_code == 403
        patch = kri_client.patch(f"{API}/catalogue/cases_p1", json={"norm": "2"}, headers=headers)
        assert patch.status_code == 403, who
    created = kri_client.post(f"{API}/catalogue", json=spec(), headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["owner_provider"] == "prov-a"
    assert created.json()["due_working_days"] == 3
    again = kri_client.post(f"{API}/catalogue", json=spec(), headers=admin)
    assert again.status_code == 409
    wrong = kri_client.patch(f"{API}/catalogue/t_new", json={"amber": "99"}, headers=admin)
    assert wrong.status_code == 422  # green 95 < amber 99 for higher_better
    flipped = kri_client.patch(
        f"{API}/catalogue/t_new", json={"direction": "lower_better"}, headers=admin
    )
    assert flipped.status_code == 422  # green 95 > amber 90 for lower_better
    changed = kri_client.patch(
        f"{API}/catalogue/t_new",
        json={"norm": "90", "green": "90", "amber": "85", "owner_provider": None},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["owner_provider"] is None
    assert changed.json()["updated_by"] == "user:admin"
    unknown = kri_client.patch(
        f"{API}/catalogue/t_new", json={"owner_provider": "x"}, headers=admin
    )
    assert unknown.status_code == 422
    assert kri_client.patch(f"{API}/catalogue/none", json={}, headers=admin).status_code == 404
    fixed = kri_client.patch(f"{API}/catalogue/t_new", json={"scope": "customer"}, headers=admin)
    assert fixed.status_code == 422  # scope, source and computation are fixed
    with services.db.session() as session:
        entries = list(
            session.scalars(select(AuditEntry).where(AuditEntry.object_type == "kri_definition"))
        )
    actions = [(e.action, e.object_id, e.actor) for e in entries]
    assert ("kri.catalogue.created", "t_new", "user:admin") in actions
    assert ("kri.catalogue.updated", "t_new", "user:admin") in actions
    update = next(e for e in entries if e.action == "kri.catalogue.updated")
    assert json.loads(update.detail)["norm"] == ["95", "90"]
