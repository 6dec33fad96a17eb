"""The daily data-warehouse feed (issue 13, Must have 7; TD4): windows, files, schemas,
immutability, the CLI and the API with its isolation."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from kri import dwh
from kri.dwh_tables import TABLES
from kri.models import DwhExport, KriDefinition, KriReport, KriValue
from risk.models import Risk, RiskAction, RiskNonConformity, RiskTenant
from soc.cases.models import Case
from soc.core.audit import AuditEntry
from soc.core.errors import Conflict, Forbidden, Invalid
from soc.core.principal import Principal
from soc.core.settings import Settings
from tenants.models import Provider, Tenant, UsageDaily

ISOLATION_COVERED = {
    ("GET", "/api/v1/kri/dwh/exports"),
    ("POST", "/api/v1/kri/dwh/exports"),
    ("GET", "/api/v1/kri/dwh/exports/{export_id}/files/{name}"),
}

CLOSED_2025 = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)
LATE_17TH = datetime(2026, 3, 17, 22, 30, tzinfo=UTC)  # 23:30 Brussels: in the 18th's export
AFTER_CUT = datetime(2026, 3, 17, 23, 0, tzinfo=UTC)  # 00:00 Brussels on the 18th: next one
NOW = datetime(2026, 3, 18, 5, 0, tzinfo=UTC)


def ids(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    tenants = {s: i for s, i in session.execute(select(Tenant.slug, Tenant.id))}
    providers = {s: i for s, i in session.execute(select(Provider.slug, Provider.id))}
    return tenants, providers


def add_case(session: Session, tenant: int, at: datetime, **extra: Any) -> Case:
    fields: dict[str, Any] = {
        "tenant_id": tenant,
        "rule_id": "r1",
        "title": "case",
        "level": "high",
        "first_seen": at,
        "last_seen": at,
        "created_at": at,
        "updated_at": at,
        "priority": "P2",
    }
    fields.update(extra)
    case = Case(**fields)
    session.add(case)
    session.flush()
    return case


def seed(session: Session) -> dict[str, int]:
    """A closed 2025 case, a case changed late on the 17th, one changed after the cut-off, and
    one row of every other table."""
    tenants, providers = ids(session)
    alpha, prov_a = tenants["alpha"], providers["prov-a"]
    old = add_case(
        session, alpha, CLOSED_2025, status="closed", closed_at=CLOSED_2025,
        resolved_at=CLOSED_2025, responded_at=CLOSED_2025, response_seconds=600,
        resolution_seconds=20_000, provider_id=prov_a,
    )  # fmt: skip
    late = add_case(session, alpha, LATE_17TH, response_due=AFTER_CUT.replace(hour=23, minute=30))
    after = add_case(session, tenants["beta"], AFTER_CUT)
    risk = Risk(
        title="r", category="operational", source="audit", scope="specific", likelihood=3,
        impact=4, residual_likelihood=2, residual_impact=2, created_by="t",
        created_at=CLOSED_2025, updated_at=LATE_17TH,
    )  # fmt: skip
    session.add(risk)
    session.flush()
    session.add(RiskTenant(risk_id=risk.id, tenant_id=alpha))
    nc = RiskNonConformity(
        title="late KRI", kind="process", source="kri", scope="specific", tenant_id=alpha,
        provider_id=prov_a, created_by="t", created_at=LATE_17TH, updated_at=LATE_17TH,
    )  # fmt: skip
    session.add(nc)
    session.flush()
    session.add(
        RiskAction(
            register="corrective_action", title="fix", nc_id=nc.id, scope="specific",
            tenant_id=alpha, due=date(2026, 3, 10), status="handled",
            handled_on=date(2026, 3, 9), created_by="t", created_at=CLOSED_2025,
            updated_at=CLOSED_2025,
        )
    )  # fmt: skip
    session.add(
        KriDefinition(
            id="k1", name_en="K1", name_nl="K1", direction="higher_better", norm="95",
            green="95", amber="90", scope="customer", source="submitted",
        )
    )  # fmt: skip
    session.flush()
    session.add(
        KriValue(
            kri_id="k1", period="2026-02", tenant_id=alpha, value="96.5", source="submitted",
            submitted_at=LATE_17TH, due=date(2026, 3, 4), on_time=False, rag="green",
            achievement="100.0", met=True, created_at=LATE_17TH, updated_at=LATE_17TH,
        )
    )  # fmt: skip
    session.add(
        KriReport(
            kind="customer", period="2026-02", tenant_id=alpha, content="{}", sha256="a" * 64,
            generated_at=LATE_17TH,
        )
    )  # fmt: skip
    for day in (date(2026, 3, 16), date(2026, 3, 17), date(2026, 3, 18)):
        session.add(UsageDaily(tenant_id=alpha, day=day, events=10, bytes=1000, cases=1))
    session.flush()
    return {"old": old.id, "late": late.id, "after": after.id}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


TYPES = {"string": str, "integer": int, "boolean": bool, "null": type(None)}


def check_row(row: dict[str, Any], schema: dict[str, Any]) -> None:
    """The structural part of the JSON Schema the files use (jsonschema is not installed):
    exactly the properties, in order; each value's type, enum and pattern."""
    props = schema["properties"]
    assert list(row) == list(props) == schema["required"]
    for key, value in row.items():
        spec = props[key]
        kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        assert any(
            isinstance(value, TYPES[k]) and not (k == "integer" and isinstance(value, bool))
            for k in kinds
        ), (key, value)
        if "enum" in spec:
            assert value in spec["enum"], (key, value)
        if "pattern" in spec and isinstance(value, str):
            assert re.search(spec["pattern"], value), (key, value)


def validate(row: dict[str, Any], schema: dict[str, Any]) -> None:
    check_row(row, schema)
    try:
        import jsonschema  # type: ignore[import-untyped]
    except ImportError:
        return
    jsonschema.Draft202012Validator(schema).validate(row)


def export(session: Session, settings: Settings, day: date, out: Path) -> DwhExport:
    return dwh.export_day(session, settings, day, out, NOW.replace(day=day.day))


def test_export_of_the_18th_holds_everything_up_to_the_17th_incl_2025_closed_items(
    services: Any, world: Any, settings: Settings, tmp_path: Path
) -> None:
    """TD4: the export of 2026-03-18 holds everything changed up to 2026-03-17 23:59 Brussels,
    items closed in 2025 included; the files match the published schemas."""
    with services.db.session() as session:
        seeded = seed(session)
        row = export(session, settings, date(2026, 3, 18), tmp_path)
        export_id = row.id
    folder = tmp_path / "2026-03-18"
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert manifest["schema_version"] == "1.0" and manifest["json_format"] == "jsonl"
    assert manifest["changed_from"] is None
    assert manifest["changed_until"] == "2026-03-17T23:00:00Z"
    assert manifest["cutoff_local"] == "2026-03-17T23:59:59+01:00"
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    assert set(manifest["files"]) == {f"{t}.{x}" for t in TABLES for x in ("csv", "jsonl")}
    cases = {c["id"]: c for c in read_jsonl(folder / "cases.jsonl")}
    assert set(cases) == {seeded["old"], seeded["late"]}
    old = cases[seeded["old"]]
    assert old["status"] == "closed" and old["closed_at"] == "2025-11-20T09:00:00Z"
    assert old["tenant"] == "alpha" and old["provider"] == "prov-a"
    assert old["response_sla"] == "met" and old["resolution_sla"] == "missed"
    assert cases[seeded["late"]]["response_sla"] == "running"
    usage = read_jsonl(folder / "usage_daily.jsonl")
    assert [u["day"] for u in usage] == ["2026-03-16"]  # UTC days complete by the cut-off
    assert read_jsonl(folder / "risks.jsonl")[0]["tenants"] == "alpha"
    action = read_jsonl(folder / "risk_actions.jsonl")[0]
    assert action["on_time"] is True and action["status"] == "handled"
    assert read_jsonl(folder / "kri_values.jsonl")[0]["value"] == "96.5"
    assert read_jsonl(folder / "kri_reports.jsonl")[0]["sha256"] == "a" * 64
    for table in TABLES:
        schema = dwh.schema(table)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["schema_version"] == "1.0"
        rows = read_jsonl(folder / f"{table}.jsonl")
        assert len(rows) == manifest["tables"][table]["rows"] >= 1, table
        for item in rows:
            validate(item, schema)
        with (folder / f"{table}.csv").open(encoding="utf-8", newline="") as fh:
            lines = list(csv.reader(fh))
        assert lines[0] == list(schema["properties"])
        assert len(lines) == len(rows) + 1
    with services.db.session() as session:
        stored = session.get(DwhExport, export_id)
        assert stored is not None and stored.rows["cases"] == 2
        assert stored.sha256 == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "kri.dwh.export")
        ).one()
        assert entry.object_id == str(export_id) and '"2026-03-18"' in entry.detail


def test_the_next_day_holds_only_the_changes_since_the_previous_cutoff(
    services: Any, world: Any, settings: Settings, tmp_path: Path
) -> None:
    with services.db.session() as session:
        seeded = seed(session)
        export(session, settings, date(2026, 3, 18), tmp_path)
        old = session.get(Case, seeded["old"])
        assert old is not None
        old.updated_at = datetime(2026, 3, 18, 10, 0, tzinfo=UTC)
        export(session, settings, date(2026, 3, 19), tmp_path)
    folder = tmp_path / "2026-03-19"
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert manifest["changed_from"] == "2026-03-17T23:00:00Z"
    assert manifest["changed_until"] == "2026-03-18T23:00:00Z"
    ids_out = sorted(c["id"] for c in read_jsonl(folder / "cases.jsonl"))
    assert ids_out == sorted([seeded["old"], seeded["after"]])
    assert [u["day"] for u in read_jsonl(folder / "usage_daily.jsonl")] == ["2026-03-17"]
    assert manifest["tables"]["risks"]["rows"] == 0
    assert (folder / "risks.csv").read_text("utf-8").count("\n") == 1  # the header only


def test_exports_are_immutable_sequential_and_wait_for_the_cutoff(
    services: Any, world: Any, settings: Settings, tmp_path: Path
) -> None:
    with services.db.session() as session:
        seed(session)
        export(session, settings, date(2026, 3, 18), tmp_path)
    before = (tmp_path / "2026-03-18" / "manifest.json").read_bytes()
    with services.db.session() as session:
        with pytest.raises(Conflict, match="exists .*immutable"):
            export(session, settings, date(2026, 3, 18), tmp_path)
        with pytest.raises(Conflict, match="sequential"):
            export(session, settings, date(2026, 3, 17), tmp_path)
        with pytest.raises(Invalid, match="cut-off"):
            dwh.export_day(session, settings, date(2026, 3, 19), tmp_path, NOW)
        with pytest.raises(Forbidden):
            dwh.export_day(
                session, settings, date(2026, 3, 20), tmp_path, NOW, Principal("x", "finance")
            )
        assert dwh.export_due(session, settings, NOW, tmp_path) is None  # done today
        with pytest.raises(Invalid, match="first day"):
            dwh.export_day(session, settings, date(1, 1, 1), tmp_path, NOW)
    assert (tmp_path / "2026-03-18" / "manifest.json").read_bytes() == before


def test_the_cutoff_follows_brussels_summer_time(settings: Settings) -> None:
    assert dwh.cutoff(settings, date(2026, 7, 1)) == datetime(2026, 6, 30, 22, tzinfo=UTC)
    assert dwh.cutoff(settings, date(2026, 3, 18)) == datetime(2026, 3, 17, 23, tzinfo=UTC)


def test_cli_export(tmp_path: Path, monkeypatch: Any) -> None:
    import typer
    from typer.testing import CliRunner

    from kri.dwh_cli import app as dwh_app
    from soc.core.settings import get_settings

    app = typer.Typer()
    app.add_typer(dwh_app, name="dwh")  # as the shell registers it: `soc dwh`

    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        run = runner.invoke(app, ["dwh", "export", "--date", "18-03-2026"])
        assert run.exit_code == 2 and "not a YYYY-MM-DD" in run.output, run.output
        run = runner.invoke(app, ["dwh", "export", "--date", "2026-03-18"])
        assert run.exit_code == 0, run.output
        assert "cases: 0 rows" in run.output and "manifest.json sha256" in run.output
        assert (tmp_path / "var" / "dwh" / "2026-03-18" / "cases.csv").is_file()
        run = runner.invoke(app, ["dwh", "export", "--date", "2026-03-18", "--out", str(tmp_path)])
        assert run.exit_code == 1 and "immutable" in run.output, run.output
    finally:
        get_settings.cache_clear()


@pytest.fixture
def api(client: TestClient) -> TestClient:
    """The client (the shell mounts the DWH router)."""
    return client


def test_api_export_list_and_download(api: TestClient, world: Any) -> None:
    for user, day in (("admin", "2026-03-18"), ("authority", "2026-03-19")):
        res = api.post("/api/v1/kri/dwh/exports", json={"date": day}, headers=world[user].headers)
        assert res.status_code == 201, res.text
        assert res.json()["day"] == day and "cases.csv" in res.json()["files"]
    export_id = res.json()["id"]
    res = api.post(
        "/api/v1/kri/dwh/exports", json={"date": "2026-03-19"}, headers=world["admin"].headers
    )
    assert res.status_code == 409
    for bad in ({"date": 20260318}, {"date": "2026-3-18"}, {"date": "2026-03-18", "x": 1}, {}):
        res = api.post("/api/v1/kri/dwh/exports", json=bad, headers=world["admin"].headers)
        assert res.status_code == 422, bad
    res = api.get("/api/v1/kri/dwh/exports", headers=world["authority"].headers)
    assert [e["day"] for e in res.json()] == ["2026-03-19", "2026-03-18"]
    base = f"/api/v1/kri/dwh/exports/{export_id}/files"
    res = api.get(f"{base}/manifest.json", headers=world["authority"].headers)
    assert res.status_code == 200 and res.json()["day"] == "2026-03-19"
    res = api.get(f"{base}/cases.csv", headers=world["admin"].headers)
    assert res.status_code == 200 and res.text.startswith("id,tenant,provider,")
    assert res.headers["content-type"].startswith("text/csv")
    assert api.get(f"{base}/nothing.csv", headers=world["admin"].headers).status_code == 404
    assert api.get(f"{base}/soc.db.json", headers=world["admin"].headers).status_code == 422
    assert api.get(f"{base}/..%2Fsoc.db", headers=world["admin"].headers).status_code in (
        404,
        422,
    )
    missing = "/api/v1/kri/dwh/exports/999999/files/manifest.json"
    assert api.get(missing, headers=world["admin"].headers).status_code == 404


@pytest.mark.parametrize(
    "user",
    [
        "soc_analyst", "finance", "customer-alpha", "risk_owner-alpha", "provider-prov-a",
        "soc_analyst-prov-a",
    ],
)  # fmt: skip
def test_only_admin_and_authority_reach_the_feed(api: TestClient, world: Any, user: str) -> None:
    """Every other role is 403 on every route, also for an export that exists."""
    admin = world["admin"].headers
    res = api.post("/api/v1/kri/dwh/exports", json={"date": "2026-03-18"}, headers=admin)
    export_id = res.json()["id"]
    headers = world[user].headers
    assert api.get("/api/v1/kri/dwh/exports", headers=headers).status_code == 403
    res = api.post("/api/v1/kri/dwh/exports", json={"date": "2026-03-19"}, headers=headers)
    assert res.status_code == 403
    path = f"/api/v1/kri/dwh/exports/{export_id}/files/manifest.json"
    assert api.get(path, headers=headers).status_code == 403
    assert api.get("/api/v1/kri/dwh/exports").status_code == 401


def test_the_beat_task_exports_today_once(
    services: Any, world: Any, settings: Settings, tmp_path: Path
) -> None:
    """`export_due` (the daily beat task) exports the local day once; a second run is a no-op."""
    late_evening = datetime(2026, 3, 18, 23, 30, tzinfo=UTC)  # already the 19th in Brussels
    with services.db.session() as session:
        seed(session)
        row = dwh.export_due(session, settings, late_evening, tmp_path)
        assert row is not None and row.day == date(2026, 3, 19)
        assert dwh.export_due(session, settings, late_evening, tmp_path) is None
    assert (tmp_path / "2026-03-19" / "manifest.json").is_file()
