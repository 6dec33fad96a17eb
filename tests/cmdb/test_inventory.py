"""The CMDB inventory service: CIs, names, external ids, relations, history, resolve, the map."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from soc.cmdb import cmdb_map, inventory, relations
from soc.cmdb.cmdb_map import MapEntry
from soc.cmdb.engine import current_revision
from soc.cmdb.models import CIChange, CIStatus, ConfigurationItem, Relation
from soc.core.db import utcnow
from soc.core.errors import Conflict, Forbidden, Invalid, NotFound
from soc.core.principal import SYSTEM, Principal, Scope
from soc.services import Services
from tenants.models import Provider, Tenant
from tests.conftest import World


@pytest.fixture
def session(services: Services, world: World) -> Iterator[Session]:
    with services.db.session() as s:
        yield s


def provider_user(session: Session, slug: str) -> Principal:
    provider = session.scalar(select(Provider).where(Provider.slug == slug))
    assert provider is not None
    served = {"prov-a": "alpha", "prov-b": "beta"}[slug]
    tenant = session.scalar(select(Tenant).where(Tenant.slug == served))
    assert tenant is not None
    return Principal(
        actor=f"user:provider-{slug}",
        role="provider",
        scope=Scope.of_provider(provider.id, [tenant.id]),
    )


def make(session: Session, name: str, ci_type: str = "server", **fields: object) -> int:
    ci = inventory.create_ci(session, SYSTEM, {"name": name, "ci_type": ci_type, **fields})
    return ci.id


def test_create_update_history_with_diff(session: Session) -> None:
    before = current_revision(session)
    ci_id = make(
        session,
        "vm-42",
        "vm",
        provider="prov-a",
        tenants=["alpha"],
        names=["VM-42.example.org", "vm42"],
        external_ids=[{"source": "cmdb2", "external_id": "X-1"}],
    )
    assert current_revision(session) == before + 1
    inventory.update_ci(session, SYSTEM, ci_id, {"criticality": "high", "names": ["vm42"]}, None)
    total, history = inventory.ci_history(session, SYSTEM, ci_id, None)
    assert total == 2
    updated, created = history
    assert (updated.action, updated.actor) == ("updated", "system")
    assert updated.diff == {
        "criticality": ["medium", "high"],
        "names": [["vm-42.example.org", "vm42"], ["vm42"]],
    }
    assert created.action == "created" and created.diff["name"] == [None, "vm-42"]
    # nothing changed: no history row, no revision bump
    revision = current_revision(session)
    inventory.update_ci(session, SYSTEM, ci_id, {"criticality": "high"}, None)
    assert current_revision(session) == revision
    assert inventory.ci_history(session, SYSTEM, ci_id, None)[0] == 2


def test_bad_fields_are_clear_errors_and_store_nothing(session: Session) -> None:
    with pytest.raises(Invalid, match="unknown CI type"):
        make(session, "x", "mainframe")
    with pytest.raises(Invalid, match="clusters only"):
        make(session, "x", "server", min_healthy=2)
    with pytest.raises(NotFound, match="tenant 'gamma'"):
        make(session, "x", tenants=["gamma"])
    with pytest.raises(NotFound, match="provider 'prov-z'"):
        make(session, "x", provider="prov-z")
    make(session, "a", external_ids=[["cmdb2", "A"]])
    with pytest.raises(Conflict, match="cmdb2:A"):
        make(session, "b", external_ids=[["cmdb2", "A"]])
    assert session.scalar(select(ConfigurationItem.id).where(ConfigurationItem.name == "x")) is None


def test_resolve_ci_by_every_reference(session: Session) -> None:
    ci_id = make(
        session,
        "Payroll DB",
        "database",
        names=["db-01.corp"],
        external_ids=[["servicenow:prov-a", "abc123"]],
    )
    for ref in (str(ci_id), "servicenow:prov-a:abc123", "abc123", "DB-01.CORP", "Payroll DB"):
        found = inventory.resolve_ci(session, ref)
        assert found is not None and found.id == ci_id, ref
    assert inventory.resolve_ci(session, "payroll db") is None  # names are exact
    assert inventory.resolve_ci(session, "nope") is None
    make(session, "twin", names=["shared-alias"])
    make(session, "twin", names=["shared-alias"])
    assert inventory.resolve_ci(session, "shared-alias") is None  # ambiguous: no guess
    inventory.retire_ci(session, SYSTEM, ci_id, None)
    assert inventory.resolve_ci(session, "abc123") is None
    assert inventory.resolve_ci(session, str(ci_id)) is None


def test_retire_and_restore_keep_the_row_and_retire_relations(
    session: Session, services: Services
) -> None:
    app_id = make(session, "payroll", "application")
    vm_id = make(session, "vm-1", "vm")
    rel = relations.add_relation(session, SYSTEM, app_id, vm_id, "runs_on", None).relation
    inventory.retire_ci(session, SYSTEM, vm_id, None, services.cmdb_engine)
    assert session.get(ConfigurationItem, vm_id).retired_at is not None  # type: ignore[union-attr]
    assert rel.retired_at is not None
    assert vm_id not in services.cmdb_engine.corr.ci_type  # the graph was rebuilt
    with pytest.raises(Invalid, match="retired"):
        relations.add_relation(session, SYSTEM, app_id, vm_id, "runs_on", None)
    inventory.restore_ci(session, SYSTEM, vm_id, None)
    again = relations.add_relation(session, SYSTEM, app_id, vm_id, "runs_on", None)
    assert again.restored and again.relation.id == rel.id
    actions = [c.action for c in inventory.ci_history(session, SYSTEM, vm_id, None)[1]]
    assert actions == ["restored", "restored", "retired", "retired", "created", "created"]


def test_relation_to_unknown_ci_and_bad_type(session: Session) -> None:
    a = make(session, "a")
    with pytest.raises(NotFound, match="relation to: CI 999999 not found"):
        relations.add_relation(session, SYSTEM, a, 999_999, "depends_on", None)
    with pytest.raises(Invalid, match="unknown relation type"):
        relations.add_relation(session, SYSTEM, a, a, "likes", None)
    with pytest.raises(Invalid, match="itself"):
        relations.add_relation(session, SYSTEM, a, a, "depends_on", None)
    b = make(session, "b")
    relations.add_relation(session, SYSTEM, a, b, "depends_on", None)
    with pytest.raises(Conflict):
        relations.add_relation(session, SYSTEM, a, b, "depends_on", None)
    assert session.scalars(select(Relation)).all().__len__() == 1


def test_depends_on_cycle_is_accepted_and_reported(session: Session, services: Services) -> None:
    a, b, c = (make(session, n, "service") for n in ("a", "b", "c"))
    assert relations.add_relation(session, SYSTEM, a, b, "depends_on", None).cycle == []
    assert relations.add_relation(session, SYSTEM, b, c, "runs_on", None).cycle == []
    closing = relations.add_relation(
        session, SYSTEM, c, a, "depends_on", None, services.cmdb_engine
    )
    assert closing.cycle == [c, a, b, c]
    assert sorted(services.cmdb_engine.corr.cycles[0]) == sorted([a, b, c])
    # connects_to never propagates: no loop reported
    assert relations.add_relation(session, SYSTEM, c, b, "connects_to", None).cycle == []


def test_cross_provider_relation_is_the_integrators(session: Session) -> None:
    prov_a = provider_user(session, "prov-a")
    own = inventory.create_ci(session, prov_a, {"name": "vm-a", "ci_type": "vm"}).id
    own2 = inventory.create_ci(session, prov_a, {"name": "db-a", "ci_type": "database"}).id
    other = make(session, "fw-b", "firewall", provider="prov-b")
    assert session.get(ConfigurationItem, own).provider_id == prov_a.provider_id  # type: ignore[union-attr]
    relations.add_relation(session, prov_a, own, own2, "depends_on", None)
    visible = frozenset({own, own2, other})  # even if it could see it
    with pytest.raises(Forbidden, match="relate_cross"):
        relations.add_relation(session, prov_a, own, other, "depends_on", visible)
    made = relations.add_relation(session, SYSTEM, own, other, "depends_on", None)
    assert made.relation.from_ci_id == own
    # a provider edits only its own CIs
    with pytest.raises(Forbidden):
        inventory.update_ci(session, prov_a, other, {"criticality": "low"}, visible)
    with pytest.raises(Forbidden):
        inventory.create_ci(session, prov_a, {"name": "x", "ci_type": "vm", "provider": "prov-b"})
    with pytest.raises(NotFound):  # not visible at all
        inventory.update_ci(session, prov_a, other, {"criticality": "low"}, frozenset({own}))


def test_provider_keeps_tenants_it_cannot_see(session: Session) -> None:
    prov_a = provider_user(session, "prov-a")
    shared = make(session, "shared-db", "database", provider="prov-a", tenants=["alpha", "beta"])
    with pytest.raises(NotFound, match="tenant 'beta'"):
        inventory.update_ci(session, prov_a, shared, {"tenants": ["beta"]}, None)
    inventory.update_ci(session, prov_a, shared, {"tenants": []}, None)
    detail = inventory.get_ci(session, SYSTEM, shared, None)
    beta = session.scalar(select(Tenant.id).where(Tenant.slug == "beta"))
    assert detail.state.tenant_ids == (beta,)
    # and its history shows it no tenant it may not see; the integrator sees them all
    alpha = session.scalar(select(Tenant.id).where(Tenant.slug == "alpha"))
    change = inventory.ci_history(session, prov_a, shared, None)[1][0]
    assert change.diff == {"tenant_ids": [[alpha], []]}
    full = inventory.ci_history(session, SYSTEM, shared, None)[1][0]
    assert full.diff == {"tenant_ids": [sorted([alpha, beta]), [beta]]}


def test_list_filters_and_visibility(session: Session) -> None:
    ids = [make(session, f"srv-{n}", names=[f"host{n}.corp"]) for n in range(5)]
    make(session, "app", "application")
    total, rows = inventory.list_cis(
        session, SYSTEM, None, inventory.CIFilter(ci_type="server"), 2, 1
    )
    assert total == 5 and [r.id for r in rows] == ids[1:3]
    total, rows = inventory.list_cis(session, SYSTEM, frozenset(ids[:2]), inventory.CIFilter(), 50)
    assert [r.id for r in rows] == ids[:2]
    total, _ = inventory.list_cis(session, SYSTEM, None, inventory.CIFilter(q="HOST3"), 50)
    assert total == 1
    with pytest.raises(NotFound):
        inventory.get_ci(session, SYSTEM, ids[4], frozenset(ids[:2]))


def test_cmdb_map_replace_and_validation(session: Session) -> None:
    entries = [
        MapEntry("server", "provider", "prov-a", ("gos", "dwh")),
        MapEntry("application", "gos", None, ("cmdb2",)),
    ]
    stored = cmdb_map.replace_map(session, SYSTEM, entries)
    assert [(e.ci_type, e.provider, e.source_cmdb) for e in stored] == [
        ("application", None, "gos"),
        ("server", "prov-a", "provider"),
    ]
    prov_a = provider_user(session, "prov-a").provider_id
    assert cmdb_map.source_of(session, "server", prov_a) == "provider"
    assert cmdb_map.source_of(session, "server", None) is None
    assert cmdb_map.source_of(session, "application", prov_a) == "gos"
    with pytest.raises(Invalid, match="twice"):
        cmdb_map.replace_map(session, SYSTEM, [entries[0], entries[0]])
    with pytest.raises(Invalid, match="itself"):
        cmdb_map.replace_map(session, SYSTEM, [MapEntry("vm", "gos", None, ("gos",))])
    with pytest.raises(Forbidden):
        cmdb_map.replace_map(session, provider_user(session, "prov-a"), [])
    assert len(cmdb_map.list_map(session, SYSTEM)) == 2  # the refused ones changed nothing


def test_retire_of_a_down_ci_records_the_state_change(session: Session, services: Services) -> None:
    """The engine rebuilt in the same transaction forgets a retired CI's state."""
    engine = services.cmdb_engine
    db_id = make(session, "db", "database")
    engine.reload(session)
    engine.corr.apply_alert(("x", "fp"), db_id, "critical", True)
    engine.record(session, engine.corr.update([db_id]), utcnow())
    assert session.get(CIStatus, db_id) is not None
    inventory.retire_ci(session, SYSTEM, db_id, None, engine)
    session.flush()
    assert session.get(CIStatus, db_id) is None
    assert session.scalars(select(CIChange).where(CIChange.ci_id == db_id)).all()
