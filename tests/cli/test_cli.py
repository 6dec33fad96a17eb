"""The `soc` command line on a real SQLite database in a temp dir."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soc.cli import app
from soc.settings import get_settings

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


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
    with sqlite3.connect(data_dir / "soc.db") as db:
        stored = db.execute("SELECT key_hash FROM api_keys").fetchone()[0]
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

    db = sqlite3.connect(data_dir / "soc.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    db.execute("DROP TRIGGER audit_log_no_update")  # an attacker with file access
    db.execute("DROP TRIGGER audit_log_no_delete")
    db.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    db.commit()
    code, out = soc("audit", "verify")
    assert code == 1 and "entry 2: content does not match its hash" in out

    db.execute("UPDATE audit_log SET actor = 'cli' WHERE id = 2")  # put it back
    db.execute("DELETE FROM audit_log WHERE id = 3")
    db.commit()
    db.close()
    code, out = soc("audit", "verify")
    assert code == 1 and "entry 4" in out and "missing" in out


def test_demo_is_idempotent(data_dir: Path) -> None:
    code, out = soc("demo")
    assert code == 0 and "admin" in out and "ingest key" in out
    code, out = soc("demo")
    assert code == 0 and "ingest key" not in out
    with sqlite3.connect(data_dir / "soc.db") as db:
        assert db.execute("SELECT count(*) FROM tenants").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM cases").fetchone()[0] >= 3
