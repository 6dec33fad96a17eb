"""The monthly follow-up of open audit findings (B10): one report per tenant with open
specific findings and one common, each open action's status and proposed mitigation
(flagged when missing), archived immutable with its hash in the audit log."""

from __future__ import annotations

import hashlib

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from risk.followup import verify_followup
from risk.models import RiskFollowUp
from soc.core.audit import AuditEntry
from soc.core.principal import SYSTEM
from soc.services import Services
from tenants import service as tenant_service
from tests.conftest import World
from tests.risk.test_actions_api import API, make_action, status_of


def findings(client: TestClient, world: World) -> dict[str, dict]:
    made = {
        "alpha": make_action(
            client,
            world,
            register="audit_finding",
            title="Weak TLS",
            origin="Pen test 2026-Q1",
            proposed_mitigation="Disable TLS 1.0",
        ),
        "alpha_bare": make_action(
            client, world, register="audit_finding", title="No MFA", origin="ISO audit"
        ),
        "beta": make_action(
            client,
            world,
            register="audit_finding",
            title="Old OS",
            tenant="beta",
            owner_provider="prov-b",
            origin="Security analysis",
        ),
        "common": make_action(
            client,
            world,
            register="audit_finding",
            title="Shared SIEM gap",
            scope="common",
            tenant=None,
            proposed_mitigation="Add a collector",
        ),
        "handled": make_action(client, world, register="audit_finding", title="Fixed"),
        "corrective": make_action(client, world, title="not a finding"),
    }
    handled = client.post(  # handled today (never before the item was created)
        f"{API}/actions/{made['handled']['id']}/notes",
        json={"text": "fixed", "status": "handled"},
        headers=world["admin"].headers,
    )
    assert handled.status_code == 201, handled.text
    client.post(
        f"{API}/actions/{made['alpha']['id']}/notes",
        json={"text": "change planned for 12 May", "progress_pct": 40},
        headers=world["provider-prov-a"].headers,
    )
    return made


def generate(client: TestClient, world: World, month: str = "2026-04", actor: str = "admin"):
    return client.post(f"{API}/followups", json={"month": month}, headers=world[actor].headers)


def test_monthly_followup_is_archived_immutable(
    client: TestClient, world: World, services: Services
) -> None:
    made = findings(client, world)
    answer = generate(client, world)
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    assert [r["tenant"] for r in rows] == [None, "alpha", "beta"]
    by_tenant = {r["tenant"]: r for r in rows}
    detail = client.get(
        f"{API}/followups/{by_tenant['alpha']['id']}", headers=world["customer-alpha"].headers
    ).json()
    assert detail["verified"] is True and detail["body"]["month"] == "2026-04"
    entries = {e["id"]: e for e in detail["body"]["actions"]}
    assert set(entries) == {made["alpha"]["id"], made["alpha_bare"]["id"]}
    weak = entries[made["alpha"]["id"]]
    assert weak["status"] == "in_progress" and weak["progress_pct"] == 40
    assert weak["origin"] == "Pen test 2026-Q1" and weak["mitigation_missing"] is False
    assert weak["last_note"]["text"] == "change planned for 12 May"
    assert weak["owner"]["provider"] == "prov-a"
    assert entries[made["alpha_bare"]["id"]]["mitigation_missing"] is True
    common = client.get(
        f"{API}/followups/{by_tenant[None]['id']}", headers=world["authority"].headers
    ).json()
    assert [e["id"] for e in common["body"]["actions"]] == [made["common"]["id"]]
    # The hash is of the canonical body and sits in the audit chain.
    with services.db.session() as session:
        row = session.get(RiskFollowUp, by_tenant["alpha"]["id"])
        assert row is not None
        assert row.sha256 == hashlib.sha256(row.body.encode()).hexdigest()
        assert (
            row.body == orjson.dumps(orjson.loads(row.body), option=orjson.OPT_SORT_KEYS).decode()
        )
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "risk.followup.archived", AuditEntry.object_id == str(row.id)
            )
        ).one()
        archived = orjson.loads(entry.detail)
        assert (archived["sha256"], archived["month"]) == (row.sha256, "2026-04")
        original_body = row.body
    # A second run (after more findings, one of a tenant without a report) returns the same
    # rows, unchanged, and adds none.
    make_action(client, world, register="audit_finding", title="Late finding")
    with services.db.session() as session:
        tenant_service.create_tenant(session, SYSTEM, "gamma", "Gamma")
    make_action(client, world, register="audit_finding", title="Gamma's", tenant="gamma")
    again = generate(client, world).json()
    assert [(r["id"], r["sha256"]) for r in again] == [(r["id"], r["sha256"]) for r in rows]
    with services.db.session() as session:
        row = session.get(RiskFollowUp, by_tenant["alpha"]["id"])
        assert row is not None and row.body == original_body
        assert len(session.scalars(select(RiskFollowUp)).all()) == 3
    # Another month is a new report.
    may = generate(client, world, "2026-05").json()
    assert {r["id"] for r in may}.isdisjoint({r["id"] for r in rows})


def test_tampering_is_detected(client: TestClient, world: World, services: Services) -> None:
    findings(client, world)
    rows = generate(client, world).json()
    alpha = next(r for r in rows if r["tenant"] == "alpha")
    with services.db.session() as session:
        row = session.get(RiskFollowUp, alpha["id"])
        assert row is not None
        assert verify_followup(session, row.id) is True
        row.body = row.body.replace("Weak TLS", "All fine")
    with services.db.session() as session:
        assert verify_followup(session, alpha["id"]) is False
    got = client.get(f"{API}/followups/{alpha['id']}", headers=world["admin"].headers).json()
    assert got["verified"] is False
    # Rehashing the row does not help: the audit chain holds the archived hash.
    with services.db.session() as session:
        row = session.get(RiskFollowUp, alpha["id"])
        assert row is not None
        row.sha256 = hashlib.sha256(row.body.encode()).hexdigest()
    with services.db.session() as session:
        assert verify_followup(session, alpha["id"]) is False


def test_followup_roles_and_isolation(client: TestClient, world: World) -> None:
    findings(client, world)
    for actor in ("authority", "customer-alpha", "provider-prov-a", "soc_analyst-prov-a"):
        assert generate(client, world, actor=actor).status_code == 403, actor
    assert generate(client, world, month="2026-13").status_code == 422
    rows = generate(client, world, actor="soc_analyst").json()
    ids = {r["tenant"]: r["id"] for r in rows}

    def listed(actor: str) -> set[str | None]:
        answer = client.get(f"{API}/followups", headers=world[actor].headers)
        assert answer.status_code == 200
        return {r["tenant"] for r in answer.json()["items"]}

    assert listed("customer-alpha") == {None, "alpha"}
    assert listed("provider-prov-b") == {None, "beta"}
    assert listed("authority") == {None, "alpha", "beta"}
    assert status_of(client, world, "finance", "GET", f"{API}/followups") == 403
    url = f"{API}/followups/{ids['alpha']}"
    assert status_of(client, world, "customer-beta", "GET", url) == 404
    assert status_of(client, world, "provider-prov-b", "GET", url) == 404
    assert status_of(client, world, "finance", "GET", url) == 403
    assert status_of(client, world, "risk_owner-alpha", "GET", url) == 200


def test_cli_warn_and_followup(tmp_path, monkeypatch) -> None:
    """`soc risk warn` and `soc risk followup` (registered on a Typer app as risk/cli.py
    does) on a fresh SQLite database."""
    import typer
    from typer.testing import CliRunner

    from risk.actions_cli import register
    from soc.core.settings import get_settings

    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("SOC_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        app = typer.Typer()
        register(app)
        runner = CliRunner()
        warned = runner.invoke(app, ["warn", "--today", "2026-04-01"])
        assert warned.exit_code == 0, warned.output
        assert "checked 0, warned 0 (late 0)" in warned.output
        assert runner.invoke(app, ["warn", "--today", "1-4-2026"]).exit_code == 2
        made = runner.invoke(app, ["followup", "--month", "2026-04"])
        assert made.exit_code == 0, made.output
        assert "2026-04 common" in made.output
        again = runner.invoke(app, ["followup", "--month", "2026-04"])
        assert again.output == made.output  # archived once
        assert runner.invoke(app, ["followup", "--month", "2026-4"]).exit_code == 2
    finally:
        get_settings.cache_clear()
