"""The `soc` command line on a real SQLite database in a temp dir."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from soc.cli import app
from soc.core.db import Database
from soc.core.settings import get_settings
from tenants import service as tenant_service
from tests.services import create_database, drop_database, service_url

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_backend: str) -> Iterator[Path]:
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    name = None
    if db_backend == "postgresql":
        name, url = create_database(service_url("postgresql"))
        monkeypatch.setenv("SOC_DATABASE_URL", url)
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()
    if name:
        drop_database(service_url("postgresql"), name)


def sql(statement: str, *params: object) -> list[tuple]:
    """Run SQL directly on the CLI's database (SQLite file or PostgreSQL), as an intruder with
    file or superuser access would, outside the application."""
    url = get_settings().sqlalchemy_url
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            rows = db.execute(statement, params).fetchall()
        return rows
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as db:
        cur = db.execute(statement.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []


def soc(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_help_documents_every_command() -> None:
    code, out = soc("--help")
    assert code == 0
    for command in ("run", "migrate", "demo", "tenants", "users", "apikeys", "audit", "detect"):
        assert command in out


def test_tenant_user_and_key_lifecycle(data_dir: Path) -> None:
    assert soc("migrate")[0] == 0
    code, out = soc("tenants", "create", "acme", "--name", "Acme")
    assert code == 0 and "tenant acme created" in out
    code, out = soc("tenants", "create", "acme", "--name", "Acme")
    assert code == 1 and "already exists" in out
    code, out = soc("tenants", "create", "Bad Slug", "--name", "x")
    assert code == 1 and "slug" in out
    code, out = soc(
        "users", "create", "ann", "--role", "soc_analyst", "--password", "long-enough-pw"
    )
    assert code == 0 and "TOTP secret (shown once)" in out
    code, out = soc("users", "create", "bob", "--role", "customer", "--password", "long-enough-pw")
    assert code == 1 and "needs a tenant" in out
    code, out = soc("apikeys", "create", "acme", "--name", "beats")
    assert code == 0
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("soc_") and len(secret) > 40
    stored = sql("SELECT key_hash FROM api_keys")[0][0]
    assert secret not in stored
    assert soc("apikeys", "revoke", "1")[0] == 0
    code, out = soc("apikeys", "list", "acme")
    assert "revoked" in out
    assert soc("apikeys", "revoke", "99")[0] == 1


def test_audit_verify_detects_edited_and_deleted_rows(data_dir: Path) -> None:
    for slug in ("t1", "t2", "t3", "t4"):
        assert soc("tenants", "create", slug, "--name", slug)[0] == 0
    code, out = soc("audit", "verify")
    assert code == 0 and "4 entries verified" in out

    with pytest.raises(Exception, match="append-only"):
        sql("UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    if get_settings().sqlalchemy_url.startswith("sqlite"):  # an intruder removes the guard
        sql("DROP TRIGGER audit_log_no_update")
        sql("DROP TRIGGER audit_log_no_delete")
    else:
        sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    sql("UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    code, out = soc("audit", "verify")
    assert code == 1 and "entry 2: content does not match its hash" in out

    sql("UPDATE audit_log SET actor = 'cli' WHERE id = 2")  # put it back
    sql("DELETE FROM audit_log WHERE id = 3")
    code, out = soc("audit", "verify")
    assert code == 1 and "entry 4" in out and "missing" in out


def test_demo_is_idempotent(data_dir: Path) -> None:
    code, out = soc("demo")
    assert code == 0 and "admin" in out and "ingest key" in out
    code, out = soc("demo")
    assert code == 0 and "ingest key" not in out
    assert sql("SELECT count(*) FROM tenants")[0][0] == 1
    assert sql("SELECT count(*) FROM cases")[0][0] >= 3
    assert sql("SELECT count(*) FROM provider_tenants")[0][0] == 1  # its provider serves it
    # The risk register for every role: risks (one not yet aligned), actions of each kind,
    # an acceptance awaiting the authority, a deadline change awaiting the customer, and the
    # early warning of the action due within five working days already sent.
    assert sql("SELECT count(*) FROM risks")[0][0] == 3
    assert sql("SELECT count(*) FROM risks WHERE aligned_at IS NULL")[0][0] == 1
    assert sql("SELECT status FROM risk_acceptances") == [("requested",)]
    assert sql("SELECT status, approver FROM risk_deadline_changes") == [("pending", "customer")]
    registers = {r for (r,) in sql("SELECT register FROM risk_actions")}
    assert registers == {"mitigation", "improvement_proposal", "audit_finding"}
    assert sql("SELECT count(*) FROM risk_actions WHERE warned_on IS NOT NULL")[0][0] >= 1
    # KRIs: the shipped catalogue, computed values, the provider's submissions (one late,
    # which raised a non-conformity for the provider).
    assert sql("SELECT count(*) FROM kri_definitions")[0][0] >= 30
    assert sql("SELECT count(*) FROM kri_values WHERE source = 'computed'")[0][0] >= 1
    late = sql("SELECT count(*) FROM kri_values WHERE source = 'submitted' AND NOT on_time")
    assert late[0][0] == 1
    assert sql("SELECT count(*) FROM risk_nonconformities WHERE source = 'kri'")[0][0] == 1


def test_providers_serve_unserve_and_list(data_dir: Path) -> None:
    assert soc("tenants", "create", "acme", "--name", "Acme")[0] == 0
    assert soc("tenants", "create", "bolt", "--name", "Bolt")[0] == 0
    assert soc("providers", "create", "itco", "--name", "IT Co")[0] == 0
    code, out = soc("providers", "list")
    assert code == 0 and out.split("\t")[-1].strip() == "-"
    code, out = soc("providers", "serve", "itco", "acme")
    assert code == 0 and "itco serves acme" in out
    assert "(already)" in soc("providers", "serve", "itco", "acme")[1]
    assert soc("providers", "serve", "itco", "bolt")[0] == 0
    assert soc("providers", "list")[1].split("\t")[-1].strip() == "acme,bolt"
    code, out = soc("providers", "unserve", "itco", "acme")
    assert code == 0 and "no longer serves" in out
    assert soc("providers", "list")[1].split("\t")[-1].strip() == "bolt"
    code, out = soc("providers", "serve", "itco", "nope")
    assert code == 1 and "not found" in out
    actions = sql("SELECT action FROM audit_log WHERE action LIKE ? ORDER BY id", "provider.%serve")
    assert [a for (a,) in actions] == ["provider.serve", "provider.serve", "provider.unserve"]


def test_audit_anchor_detects_a_truncated_end(data_dir: Path) -> None:
    for slug in ("t1", "t2", "t3"):
        assert soc("tenants", "create", slug, "--name", slug)[0] == 0
    code, anchor = soc("audit", "head")
    assert code == 0 and anchor.strip().startswith("3:")
    assert soc("audit", "verify", "--anchor", anchor.strip())[0] == 0
    if get_settings().sqlalchemy_url.startswith("sqlite"):
        sql("DROP TRIGGER audit_log_no_delete")
    else:
        sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    sql("DELETE FROM audit_log WHERE id = 3")  # the newest entry: the chain alone is fine
    assert soc("audit", "verify")[0] == 0
    code, out = soc("audit", "verify", "--anchor", anchor.strip())
    assert code == 1 and "entry 3: the anchored entry is gone" in out
    assert soc("audit", "verify", "--anchor", "nonsense")[0] == 2


def test_users_create_applies_the_password_policy(data_dir: Path) -> None:
    def create(password: str) -> tuple[int, str]:
        return soc("users", "create", "carol", "--role", "finance", "--password", password)

    code, out = create(" " * 14)
    assert code == 1 and "whitespace" in out
    code, out = create("carol-in-finance")
    assert code == 1 and "username" in out
    code, out = create("1qaz2wsx3edc")
    assert code == 1 and "common" in out
    assert create("quiet-harbour-lamp")[0] == 0


def test_enroll_totp_ends_the_users_sessions(data_dir: Path) -> None:
    """Sessions opened before a TOTP (re-)enrolment end with it."""
    password = "quiet-harbour-lamp"
    assert soc("users", "create", "dave", "--role", "finance", "--password", password)[0] == 0
    db = Database(get_settings().sqlalchemy_url)
    try:
        tenant_service.login(db, "dave", password, None, 60)
        assert [bool(r) for (r,) in sql("SELECT revoked FROM auth_tokens")] == [False]
        code, out = soc("users", "enroll-totp", "dave")
        assert code == 0 and "TOTP secret" in out
        assert [bool(r) for (r,) in sql("SELECT revoked FROM auth_tokens")] == [True]
    finally:
        db.engine.dispose()
