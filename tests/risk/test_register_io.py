"""Importing an existing register (CSV, XLSX) with a per-row report and nothing half-applied,
and exporting the visible register in the same columns, so an export re-imports."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from risk.models import Risk, RiskAction, RiskTenant
from soc.core.audit import AuditEntry
from soc.services import Services
from tests.conftest import World

API = "/api/v1/risk"

ISOLATION_COVERED = {
    ("POST", "/api/v1/risk/import"),
    ("GET", "/api/v1/risk/export"),
}

DUTCH_CSV = (
    "ID;Titel;Omschrijving;Categorie;Bron;Scope;Klanten;Waarschijnlijkheid;Impact;"
    "Eigenaar;Reviewdatum;Opmerking\n"
    "R-1;Phishing op mailboxen;Veel klikken;operationeel;audit;specifiek;alpha;4;3;"
    "Jan Peeters;31/12/2026;x\n"
    "R-2;Leverancier zonder SOC2;;strategisch;provider;gemeenschappelijk;;2;5;;;\n"
    "R-3;Back-ups niet getest;;operationeel;audit;specifiek;alpha;hoog;3;;;\n"
)


def upload(
    client: TestClient,
    who: Any,
    kind: str,
    name: str,
    data: bytes,
    dry_run: bool = False,
    code: int = 200,
) -> Any:
    answer = client.post(
        f"{API}/import?kind={kind}&dry_run={'true' if dry_run else 'false'}",
        files={"file": (name, data, "application/octet-stream")},
        headers=who.headers,
    )
    assert answer.status_code == code, answer.text
    return answer.json()


def count(services: Services, model: type[Risk] | type[RiskAction]) -> int:
    with services.db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_csv_with_one_bad_row_applies_nothing(
    client: TestClient, world: World, services: Services
) -> None:
    admin = world["admin"]
    body = upload(client, admin, "risks", "register.csv", DUTCH_CSV.encode(), code=422)
    assert body["applied"] is False and body["errors"] == 1 and body["ok"] == 2
    by_row = {r["row"]: r for r in body["report"]}
    assert by_row[4]["status"] == "error" and "likelihood" in by_row[4]["message"]
    assert by_row[4]["external_ref"] == "R-3"
    assert by_row[2]["status"] == by_row[3]["status"] == "ok"
    assert by_row[2]["id"] is None  # nothing was kept
    assert body["ignored_columns"] == ["Opmerking"]
    assert count(services, Risk) == 0
    with services.db.session() as session:
        actions = set(session.scalars(select(AuditEntry.action)))
        assert "risk.created" not in actions and "risk.register.imported" not in actions
    # the same file as a preview: the report, status 200, still nothing written
    preview = upload(client, admin, "risks", "register.csv", DUTCH_CSV.encode(), dry_run=True)
    assert preview["dry_run"] is True and preview["errors"] == 1 and not preview["applied"]
    assert count(services, Risk) == 0


def test_clean_csv_applies_every_row(client: TestClient, world: World, services: Services) -> None:
    clean = "\n".join(DUTCH_CSV.splitlines()[:3]) + "\n"
    preview = upload(client, world["admin"], "risks", "r.csv", clean.encode(), dry_run=True)
    assert (preview["ok"], preview["errors"], preview["applied"]) == (2, 0, False)
    assert count(services, Risk) == 0
    body = upload(client, world["soc_analyst"], "risks", "r.csv", clean.encode())
    assert (body["ok"], body["errors"], body["applied"]) == (2, 0, True)
    ids = [r["id"] for r in body["report"]]
    with services.db.session() as session:
        first = session.get(Risk, ids[0])
        assert first is not None
        assert (first.title, first.category, first.scope) == (
            "Phishing op mailboxen",
            "operational",
            "specific",
        )
        assert (first.likelihood, first.impact, first.owner_name) == (4, 3, "Jan Peeters")
        assert first.review_date is not None and first.review_date.isoformat() == "2026-12-31"
        assert session.scalars(
            select(RiskTenant.tenant_id).where(RiskTenant.risk_id == ids[0])
        ).all()
        second = session.get(Risk, ids[1])
        assert second is not None and (second.category, second.scope) == ("strategic", "common")
        summary = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "risk.register.imported")
        ).one()
        assert summary.actor == "user:soc_analyst"
    assert count(services, Risk) == 2


def _workbook(tmp_path: Path, rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        [
            "external_ref",
            "Register",
            "Title",
            "scope",
            "Klant",
            "owner_provider",
            "Vervaldatum",
            "service",
            "window_start",
            "window_end",
            "outside_ecosystem",
        ]
    )
    for row in rows:
        sheet.append(row)
    path = tmp_path / "actions.xlsx"
    book.save(path)
    return path.read_bytes()


ACTION_ROWS: list[list[Any]] = [
    [
        "A-1",
        "Corrective action",
        "Rotate keys",
        "specific",
        "alpha",
        "prov-a",
        datetime(2026, 4, 8),
        "",
        None,
        None,
        "nee",
    ],
    [
        "A-2",
        "verbetervoorstel",
        "New mail relay",
        "common",
        None,
        "prov-b",
        "2026-05-18",
        "Mail",
        "2026-05-01",
        "2026-05-10",
        False,
    ],
]


def test_xlsx_bad_row_then_clean_import(
    client: TestClient, world: World, services: Services, tmp_path: Path
) -> None:
    admin = world["admin"]
    bad = [*ACTION_ROWS, ["A-3", "complaint", "Slow answers", "common", None, None, "soon"]]
    body = upload(client, admin, "actions", "a.xlsx", _workbook(tmp_path, bad), code=422)
    errors = [r for r in body["report"] if r["status"] == "error"]
    assert [(e["row"], e["external_ref"]) for e in errors] == [(4, "A-3")]
    assert "due" in errors[0]["message"]
    assert count(services, RiskAction) == 0
    body = upload(client, admin, "actions", "a.xlsx", _workbook(tmp_path, ACTION_ROWS))
    assert (body["ok"], body["applied"]) == (2, True)
    with services.db.session() as session:
        rows = {a.external_ref: a for a in session.scalars(select(RiskAction))}
        assert set(rows) == {"A-1", "A-2"}
        assert rows["A-1"].register == "corrective_action"
        assert rows["A-1"].due.isoformat() == "2026-04-08" and rows["A-1"].tenant_id == 1
        assert rows["A-2"].register == "improvement_proposal"
        assert rows["A-2"].decision == "pending" and rows["A-2"].service == "Mail"
    # the same file again: duplicates, nothing changed, nothing counted twice
    again = upload(client, admin, "actions", "a.xlsx", _workbook(tmp_path, ACTION_ROWS))
    assert (again["ok"], again["duplicates"], again["errors"]) == (0, 2, 0)
    assert count(services, RiskAction) == 2
    # an imported common proposal is the authority's to decide, like any other
    proposal = next(r["id"] for r in body["report"] if r["external_ref"] == "A-2")
    answer = client.post(
        f"{API}/proposals/{proposal}/decision",
        json={"approve": True},
        headers=world["authority"].headers,
    )
    assert answer.status_code == 200 and answer.json()["decision"] == "approved", answer.text


def test_the_same_id_twice_in_a_file_is_an_error(
    client: TestClient, world: World, services: Services, tmp_path: Path
) -> None:
    rows = [ACTION_ROWS[1], ACTION_ROWS[1]]
    body = upload(client, world["admin"], "actions", "a.xlsx", _workbook(tmp_path, rows), code=422)
    assert body["report"][1]["message"] == "the same ID as row 2"
    assert count(services, RiskAction) == 0


def test_export_then_reimport_reports_duplicates(
    client: TestClient, world: World, services: Services, tmp_path: Path
) -> None:
    admin = world["admin"]
    clean = "\n".join(DUTCH_CSV.splitlines()[:3]) + "\n"
    upload(client, admin, "risks", "r.csv", clean.encode())
    upload(client, admin, "actions", "a.xlsx", _workbook(tmp_path, ACTION_ROWS))
    for kind, total in (("risks", 2), ("actions", 2)):
        for fmt in ("csv", "xlsx"):
            answer = client.get(f"{API}/export?kind={kind}&format={fmt}", headers=admin.headers)
            assert answer.status_code == 200, answer.text
            assert f"risk-{kind}.{fmt}" in answer.headers["content-disposition"]
            again = upload(client, admin, kind, f"export.{fmt}", answer.content, dry_run=True)
            assert (again["rows"], again["duplicates"], again["errors"]) == (total, total, 0), again
    assert count(services, Risk) == 2 and count(services, RiskAction) == 2
    text = client.get(f"{API}/export?kind=actions&format=csv", headers=admin.headers).text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["external_ref"] for r in rows] == ["A-1", "A-2"]
    assert rows[0]["due"] == "2026-04-08" and rows[0]["tenant"] == "alpha"
    xlsx = client.get(f"{API}/export?kind=risks&format=xlsx", headers=admin.headers).content
    sheet = load_workbook(io.BytesIO(xlsx)).worksheets[0]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:3] == ["external_ref", "title", "description"]


def test_an_exported_row_without_its_item_reimports(
    client: TestClient, world: World, services: Services, tmp_path: Path
) -> None:
    """A re-import of an export into a register that lacks the item creates it (the exported
    `action:<id>` reference names nothing there, so the row says so)."""
    export = "external_ref,register,title,scope,due\naction:77,complaint,Slow,common,2026-05-01\n"
    body = upload(client, world["admin"], "actions", "a.csv", export.encode(), code=422)
    assert "names no item" in body["report"][0]["message"]


def test_who_may_import_and_export(
    client: TestClient, world: World, services: Services, tmp_path: Path
) -> None:
    data = _workbook(tmp_path, ACTION_ROWS)
    for name in ("customer-alpha", "provider-prov-a", "authority", "risk_owner-alpha", "finance"):
        upload(client, world[name], "actions", "a.xlsx", data, code=403)
    assert count(services, RiskAction) == 0
    upload(client, world["admin"], "actions", "a.xlsx", data)
    for name in ("finance", "finance-prov-a"):
        answer = client.get(f"{API}/export?kind=actions", headers=world[name].headers)
        assert answer.status_code == 403, name

    def exported(name: str) -> set[str]:
        answer = client.get(f"{API}/export?kind=actions&format=csv", headers=world[name].headers)
        assert answer.status_code == 200, answer.text
        return {
            r["external_ref"] for r in csv.DictReader(io.StringIO(answer.text.lstrip("\ufeff")))
        }

    assert exported("customer-alpha") == {"A-1", "A-2"}
    assert exported("customer-beta") == {"A-2"}  # alpha's specific action stays alpha's
    assert exported("provider-prov-b") == {"A-2"}
    assert exported("provider-prov-a") == {"A-1", "A-2"}
    # risks not aligned with the authority never reach a customer, not even in an export
    clean = "\n".join(DUTCH_CSV.splitlines()[:3]) + "\n"
    upload(client, world["admin"], "risks", "r.csv", clean.encode())
    answer = client.get(f"{API}/export?kind=risks", headers=world["customer-alpha"].headers)
    assert answer.status_code == 200 and len(answer.text.strip().splitlines()) == 1


def test_bad_files_are_refused(client: TestClient, world: World, services: Services) -> None:
    admin = world["admin"]
    body = upload(client, admin, "risks", "x.csv", b"kolom;iets\nfoo;bar\n", code=422)
    assert "title" in body["detail"]
    upload(client, admin, "risks", "x.csv", b"", code=422)
    upload(client, admin, "risks", "x.xlsx", b"PK\x03\x04garbage", code=422)
    answer = client.post(f"{API}/import?kind=risks", content=b"title\nx\n", headers=admin.headers)
    assert answer.status_code == 415
    answer = client.post(
        f"{API}/import?kind=incidents",
        files={"file": ("a.csv", b"title\n", "text/csv")},
        headers=admin.headers,
    )
    assert answer.status_code == 422
    answer = client.get(f"{API}/export?kind=risks&format=pdf", headers=admin.headers)
    assert answer.status_code == 422


def test_cli_import_and_export(tmp_path: Path, monkeypatch: Any) -> None:
    """`soc risk import/export` on a fresh database: dry run, apply, duplicates, --as."""
    import typer
    from typer.testing import CliRunner

    from risk.io_cli import register
    from soc.core.cli import cli_session
    from soc.core.principal import SYSTEM
    from soc.core.settings import get_settings
    from tenants import service as tenant_service

    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        app = typer.Typer()
        register(app)
        runner = CliRunner()
        file = tmp_path / "actions.csv"
        file.write_text(
            "ID;Soort;Titel;Bereik;Vervaldatum\n"
            "K-1;klacht;Slow answers;gemeenschappelijk;08/04/2026\n"
            "K-2;complaint;Wrong invoice;common;2026-04-09\n",
            encoding="utf-8",
        )
        run = runner.invoke(app, ["import", str(file), "--kind", "actions", "--dry-run"])
        assert run.exit_code == 0, run.output
        assert "2 ok" in run.output and "dry run" in run.output
        run = runner.invoke(app, ["import", str(file), "--kind", "actions"])
        assert run.exit_code == 0 and "applied" in run.output, run.output
        run = runner.invoke(app, ["import", str(file), "--kind", "actions"])
        assert run.exit_code == 0 and "2 duplicate(s)" in run.output, run.output
        out = tmp_path / "out.xlsx"
        run = runner.invoke(
            app, ["export", "--kind", "actions", "--format", "xlsx", "--out", str(out)]
        )
        assert run.exit_code == 0 and "2 actions written" in run.output, run.output
        assert load_workbook(out).worksheets[0].max_row == 3
        bad = tmp_path / "bad.csv"
        bad.write_text("title,register,scope,due\nX,complaint,common,soon\n", encoding="utf-8")
        run = runner.invoke(app, ["import", str(bad), "--kind", "actions"])
        assert run.exit_code == 1 and "row 2" in run.output, run.output
        with cli_session() as session:
            tenant_service.create_tenant(session, SYSTEM, "alpha", "Alpha")
            tenant_service.create_user(
                session, SYSTEM, "cust", "correct-horse-battery", "customer", "alpha", None
            )
        run = runner.invoke(app, ["import", str(file), "--kind", "actions", "--as", "cust"])
        assert run.exit_code == 1 and "risk.import" in run.output, run.output
        run = runner.invoke(app, ["import", str(file), "--kind", "actions", "--as", "nobody"])
        assert run.exit_code == 1 and "no user" in run.output, run.output
        run = runner.invoke(app, ["import", str(file), "--kind", "incidents"])
        assert run.exit_code == 2
    finally:
        get_settings.cache_clear()


def test_reimporting_a_risk_register_by_its_ids(
    client: TestClient, world: World, services: Services
) -> None:
    """The source register's own IDs are stored on the risks (`risks.external_ref`), so a
    second import of the same file is duplicates, and an export writes those IDs back."""
    clean = ("\n".join(DUTCH_CSV.splitlines()[:3]) + "\n").encode()
    first = upload(client, world["admin"], "risks", "r.csv", clean)
    with services.db.session() as session:
        stored = {r.id: r.external_ref for r in session.scalars(select(Risk))}
    assert stored == {r["id"]: r["external_ref"] for r in first["report"]}
    assert set(stored.values()) == {"R-1", "R-2"}
    again = upload(client, world["admin"], "risks", "r.csv", clean)
    assert (again["ok"], again["duplicates"]) == (0, 2)
    assert [r["status"] for r in again["report"]] == ["duplicate", "duplicate"]
    assert count(services, Risk) == 2
    text = client.get(f"{API}/export?kind=risks&format=csv", headers=world["admin"].headers).text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["external_ref"] for r in rows] == ["R-1", "R-2"]


def test_cell_values_are_read_leniently_but_checked() -> None:
    from datetime import date

    import pytest

    from risk.register_columns import ACTION_COLUMNS, RowProblem, convert

    col = {c.field: c for c in ACTION_COLUMNS}
    assert convert(col["due"], "8/4/2026") == "2026-04-08"
    assert convert(col["due"], "08.04.2026") == "2026-04-08"
    assert convert(col["due"], date(2026, 4, 8)) == "2026-04-08"
    assert convert(col["due"], "") is None
    for bad in ("31/02/2026", "April 8", "2026-13-01"):
        with pytest.raises(RowProblem):
            convert(col["due"], bad)
    assert convert(col["register"], "Corrigerende actie") == "corrective_action"
    assert convert(col["scope"], "Gemeenschappelijk") == "common"
    assert convert(col["ci_id"], 12.0) == 12
    with pytest.raises(RowProblem):
        convert(col["ci_id"], "12a")
    assert convert(col["outside_ecosystem"], "Ja") is True
    with pytest.raises(RowProblem):
        convert(col["outside_ecosystem"], "misschien")
    assert convert(col["title"], "'=1+1") == "=1+1"  # the export's escape is undone
