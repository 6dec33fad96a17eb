"""CMDB import and sync: CSV, JSON and ServiceNow exports; stable ids, diff preview, full
sync retire and restore, per-row errors that leave the database as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from soc.cmdb import importer, inventory
from soc.cmdb.importer import ImportRequest
from soc.cmdb.models import CIChange, CIName, ConfigurationItem, ExternalId, Relation
from soc.core.errors import Forbidden
from soc.core.principal import SYSTEM, Principal
from soc.services import Services
from tests.cmdb.test_inventory import provider_user
from tests.conftest import World

DATA = Path(__file__).parent / "data"

CSV = (
    (
        "external_id,name,type,tenants,environment,criticality,always_on,min_healthy,hostnames,"
        "depends_on,runs_on,member_of,rack\n"
    )
    + """app-1,Payroll,application,alpha,production,high,yes,,,svc-1,,,
svc-1,Payroll service,service,alpha,production,,,,,,vm-1,,
vm-1,vm-42,vm,,production,,,,vm-42.prov-a.example;vm42,,srv-1,,
srv-1,srv-1,server,,production,,true,,srv-1,,,cl-1,R12
cl-1,esx cluster,cluster,,,,,2,,,,,
"""
)


@pytest.fixture
def session(services: Services, world: World) -> Iterator[Session]:
    with services.db.session() as s:
        yield s


def req(content: str, fmt: str = "csv", **kw: Any) -> ImportRequest:
    return ImportRequest(fmt, content, kw.pop("provider", "prov-a"), **kw)


def ids(session: Session) -> dict[str, int]:
    rows = session.execute(select(ExternalId.external_id, ExternalId.ci_id))
    return {ext: ci_id for ext, ci_id in rows}


def counts(session: Session) -> tuple[int, ...]:
    tables = (ConfigurationItem, Relation, CIChange, CIName, ExternalId)
    return tuple(int(session.scalar(select(func.count()).select_from(t)) or 0) for t in tables)


def test_csv_import_then_reimport_changes_nothing(session: Session, services: Services) -> None:
    plan = importer.preview(session, SYSTEM, req(CSV))
    assert not plan.errors
    assert [i.external_id for i in plan.added] == ["app-1", "svc-1", "vm-1", "srv-1", "cl-1"]
    assert len(plan.relations_added) == 4 and not plan.cycles
    assert counts(session)[0] == 0  # a preview writes nothing
    applied = importer.apply(session, SYSTEM, req(CSV), services.cmdb_engine)
    assert applied.applied and applied.source == "file:prov-a"
    first = ids(session)
    srv = session.get(ConfigurationItem, first["srv-1"])
    assert srv is not None and srv.always_on and srv.attributes == {"rack": "R12"}
    assert session.get(ConfigurationItem, first["cl-1"]).min_healthy == 2  # type: ignore[union-attr]
    member = session.scalar(select(Relation).where(Relation.rel_type == "member_of"))
    assert member is not None
    assert (member.from_ci_id, member.to_ci_id) == (first["srv-1"], first["cl-1"])
    assert services.cmdb_engine.corr.ci_type[first["app-1"]] == "application"
    found = inventory.resolve_ci(session, "VM42")
    assert found is not None and found.id == first["vm-1"]

    again = importer.preview(session, SYSTEM, req(CSV))
    assert not again.has_changes and again.unchanged == 5
    before = counts(session)
    importer.apply(session, SYSTEM, req(CSV))
    assert ids(session) == first and counts(session) == before  # no history either


def test_changed_field_shows_as_a_diff(session: Session) -> None:
    importer.apply(session, SYSTEM, req(CSV))
    edited = CSV.replace(
        "Payroll,application,alpha,production,high", "Payroll,application,alpha,production,critical"
    )
    plan = importer.apply(session, SYSTEM, req(edited))
    assert [(i.external_id, i.diff) for i in plan.changed] == [
        ("app-1", {"criticality": ["high", "critical"]})
    ]
    change = session.scalars(select(CIChange).where(CIChange.action == "updated")).one()
    assert change.diff == {"criticality": ["high", "critical"]}


def test_full_sync_retires_missing_cis_and_restores_them(session: Session) -> None:
    importer.apply(session, SYSTEM, req(CSV))
    first = ids(session)
    without_vm = "\n".join(line for line in CSV.splitlines() if not line.startswith("vm-1"))
    without_vm = without_vm.replace(",vm-1,,", ",,,")  # svc-1 no longer runs on it
    partial = importer.preview(session, SYSTEM, req(without_vm))  # not a full sync
    assert not partial.retired and not partial.relations_retired
    plan = importer.apply(session, SYSTEM, req(without_vm, full_sync=True))
    assert [i.external_id for i in plan.retired] == ["vm-1"]
    assert sorted((r.from_ref, r.rel_type, r.to_ref) for r in plan.relations_retired) == [
        ("svc-1", "runs_on", "vm-1"),
        ("vm-1", "runs_on", "srv-1"),
    ]
    vm = session.get(ConfigurationItem, first["vm-1"])
    assert vm is not None and vm.retired_at is not None  # retired, never deleted
    assert inventory.resolve_ci(session, "vm42") is None
    back = importer.apply(session, SYSTEM, req(CSV, full_sync=True))
    assert [i.external_id for i in back.restored] == ["vm-1"]
    assert len(back.relations_added) == 2
    assert ids(session) == first and vm.retired_at is None
    live = session.scalars(select(Relation).where(Relation.retired_at.is_(None))).all()
    assert len(live) == 4  # the same relation rows, brought back
    assert {r.id for r in live} <= {r.id for r in session.scalars(select(Relation))}
    assert int(session.scalar(select(func.count()).select_from(Relation)) or 0) == 4


def test_servicenow_export_with_relations(session: Session, services: Services) -> None:
    content = (DATA / "servicenow_prov_a.json").read_text()
    plan = importer.preview(session, SYSTEM, req(content, "servicenow"))
    assert not plan.errors, plan.errors
    assert plan.source == "servicenow:prov-a"
    assert len(plan.added) == 9  # old1 is retired in the source: not imported
    assert {w.where for w in plan.warnings} == {"result[9]", "result[19]"}
    importer.apply(session, SYSTEM, req(content, "servicenow"), services.cmdb_engine)
    by_ext = ids(session)
    types = {
        ext: session.get(ConfigurationItem, ci).ci_type  # type: ignore[union-attr]
        for ext, ci in by_ext.items()
    }
    assert types == {
        "a1": "application",
        "s1": "service",
        "srv1": "server",
        "srv2": "server",
        "vm1": "vm",
        "db1": "database",
        "cl1": "cluster",
        "c1": "cloud_resource",
        "fw1": "firewall",
    }
    rels = {(r.from_ci_id, r.rel_type, r.to_ci_id) for r in session.scalars(select(Relation))}
    e = by_ext
    assert rels == {
        (e["a1"], "depends_on", e["s1"]),
        (e["s1"], "runs_on", e["vm1"]),
        (e["vm1"], "hosted_in", e["srv1"]),
        (e["srv1"], "member_of", e["cl1"]),  # "cl1 Members srv1": the child is the member
        (e["srv2"], "member_of", e["cl1"]),
        (e["vm1"], "runs_on", e["cl1"]),
        (e["db1"], "depends_on", e["c1"]),  # "c1 Used by db1"
        (e["s1"], "depends_on", e["db1"]),
        (e["srv1"], "connects_to", e["fw1"]),
    }
    service = session.get(ConfigurationItem, e["s1"])
    assert service is not None
    assert (service.criticality, service.environment) == ("critical", "production")
    srv = inventory.resolve_ci(session, "srv1.prov-a.example")
    assert srv is not None and srv.id == e["srv1"]
    assert inventory.resolve_ci(session, "10.0.0.1") is srv
    app = inventory.get_ci(session, SYSTEM, e["a1"], None)
    assert len(app.state.tenant_ids) == 1
    # srv2 down: the cluster keeps 1 healthy member (min 1), so it and payroll are degraded
    corr = services.cmdb_engine.corr
    corr.apply_alert("fp", e["srv2"], "critical", True)
    corr.update([e["srv2"]])
    assert corr.state[e["cl1"]] == "degraded" and corr.state[e["a1"]] == "degraded"
    assert not importer.preview(session, SYSTEM, req(content, "servicenow")).has_changes


def test_row_errors_name_rows_and_change_nothing(session: Session) -> None:
    importer.apply(session, SYSTEM, req(CSV))
    before, first = counts(session), ids(session)
    bad = (
        CSV.replace(
            "Payroll,application,alpha,production,high", "Payroll,application,alpha,production,low"
        )
        + "x-1,thing,mainframe,,,,,,,,,,\n"  # row 7: unknown type
        + "x-2,thing,server,,,,maybe,,,,,,\n"  # row 8: bad boolean
        + "app-1,again,application,,,,,,,,,,\n"  # row 9: duplicate id
        + "x-3,thing,server,,,,,,,ghost,,,\n"  # row 10: relation to an unknown CI
        + "x-4,short,server\n"  # row 11: malformed
        + "x-5,thing,server,gamma,,,,,,,,,\n"  # row 12: unknown tenant
    )
    plan = importer.apply(session, SYSTEM, req(bad, full_sync=True))
    assert not plan.applied
    where = {e.where: e.message for e in plan.errors}
    assert set(where) == {"row 7", "row 8", "row 9", "row 10", "row 11", "row 12"}
    assert "unknown CI type" in where["row 7"] and "true or false" in where["row 8"]
    assert "duplicate external id 'app-1' (first at row 2)" in where["row 9"]
    assert "unknown CI 'ghost'" in where["row 10"] and "columns" in where["row 11"]
    assert "tenant 'gamma'" in where["row 12"]
    assert counts(session) == before and ids(session) == first
    app = session.get(ConfigurationItem, first["app-1"])
    assert app is not None and app.criticality == "high"  # the good row did not apply either


def test_json_import_declared_source_and_bad_json(session: Session) -> None:
    doc = {
        "source": "cmdb2",
        "cis": [
            {"external_id": 7, "name": "payroll", "type": "application", "tenants": ["alpha"]},
            {"external_id": "db", "name": "db", "type": "database", "hostnames": ["DB.corp"]},
        ],
        "relations": [
            {"from": "7", "to": "db", "type": "depends_on"},
            {"from": "db", "to": "7", "type": "depends_on"},
        ],
    }
    import orjson

    plan = importer.apply(session, SYSTEM, req(orjson.dumps(doc).decode(), "json"))
    assert plan.applied and plan.source == "cmdb2"
    assert plan.cycles == [["7", "db"]]  # accepted, reported
    found = inventory.resolve_ci(session, "cmdb2:7")
    assert found is not None and found.name == "payroll"
    broken = importer.preview(session, SYSTEM, req("{not json", "json"))
    assert broken.errors[0].where == "file"
    bad = {
        "cis": [{"external_id": "a", "name": "a", "type": "vm", "tenants": "alpha"}],
        "relations": [{"from": "a", "to": "b", "type": "likes"}],
    }
    plan = importer.preview(session, SYSTEM, req(orjson.dumps(bad).decode(), "json"))
    assert {e.where for e in plan.errors} == {"cis[0]", "relations[0]"}


def test_servicenow_unknown_class_and_nameless_relation_type(session: Session) -> None:
    import orjson

    doc = {
        "result": [
            {"sys_id": "p1", "name": "printer", "sys_class_name": "cmdb_ci_printer"},
            {"sys_id": "v1", "name": "vm", "sys_class_name": "cmdb_ci_vm_instance"},
            {"sys_id": "v2", "name": "vm2", "sys_class_name": "cmdb_ci_vm_instance"},
            {"parent": {"value": "v1"}, "child": {"value": "v2"}, "type": {"value": "1a9c"}},
        ]
    }
    plan = importer.preview(session, SYSTEM, req(orjson.dumps(doc).decode(), "servicenow"))
    assert [(e.where, e.message[:24]) for e in plan.errors] == [
        ("result[0]", "unknown ServiceNow class"),
        ("result[3]", "relation type without it"),
    ]


def test_provider_imports_its_own_cmdb_only(session: Session) -> None:
    prov_a = provider_user(session, "prov-a")
    with pytest.raises(Forbidden):
        importer.preview(session, prov_a, req(CSV, provider="prov-b"))
    plan = importer.apply(session, prov_a, req(CSV, provider=None))  # its own, unnamed
    assert plan.applied and (plan.provider, plan.source) == ("prov-a", "file:prov-a")
    change = session.scalars(select(CIChange)).first()
    assert change is not None and change.actor == "user:provider-prov-a"


def test_cross_provider_relation_in_an_import(session: Session) -> None:
    importer.apply(
        session, SYSTEM, req("external_id,name,type\nfw-1,fw-1,firewall\n", provider="prov-b")
    )
    content = "external_id,name,type,depends_on\nvm-1,vm,vm,file:prov-b:fw-1\n"
    prov_a: Principal = provider_user(session, "prov-a")
    refused = importer.preview(session, prov_a, req(content))
    assert [e.message for e in refused.errors] == ["relation to unknown CI 'file:prov-b:fw-1'"]
    allowed = importer.apply(session, SYSTEM, req(content))
    assert allowed.applied and len(allowed.relations_added) == 1


def test_cli_preview_apply_list_and_row_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from soc.cli import app
    from soc.core.db import Database
    from soc.core.migrate import upgrade
    from soc.core.settings import get_settings
    from tenants import service as tenant_service

    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        url = get_settings().sqlalchemy_url
        upgrade(url)
        db = Database(url)
        with db.session() as s:
            tenant_service.create_tenant(s, SYSTEM, "alpha", "Alpha")
            tenant_service.create_provider(s, SYSTEM, "prov-a", "Prov A")
        db.engine.dispose()
        good, bad = tmp_path / "cis.csv", tmp_path / "bad.csv"
        good.write_text(CSV)
        bad.write_text(CSV + "x-1,thing,mainframe,,,,,,,,,,\n")
        runner = CliRunner()
        base = ["cmdb", "import", "--format", "csv", "--provider", "prov-a"]
        preview = runner.invoke(app, [*base, str(good)])
        assert preview.exit_code == 0, preview.output
        assert "added: 5" in preview.output and "preview only" in preview.output
        listing = runner.invoke(app, ["cmdb", "cis"])
        assert listing.exit_code == 0 and "0 of 0" in listing.output
        applied = runner.invoke(app, [*base, str(good), "--apply"])
        assert applied.exit_code == 0 and "applied" in applied.output
        servers = runner.invoke(app, ["cmdb", "cis", "--type", "server"])
        assert "srv-1" in servers.output and "1 of 1" in servers.output
        failed = runner.invoke(app, [*base, str(bad), "--apply", "--full-sync"])
        assert failed.exit_code == 1
        assert "row 7: unknown CI type 'mainframe'" in failed.output
        assert "5 of 5" in runner.invoke(app, ["cmdb", "cis"]).output
    finally:
        get_settings.cache_clear()
