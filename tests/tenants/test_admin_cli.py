"""The admin commands of `soc`: tenants onboard/update, users list/disable/enable/reset-password,
providers list; their output, their errors and exit codes, on a real SQLite database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soc.cli import app
from soc.core.db import Database
from soc.core.errors import DomainError
from soc.core.settings import get_settings
from tenants import service as tenant_service

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


def can_login(username: str, password: str) -> bool:
    db = Database(get_settings().sqlalchemy_url)
    try:
        tenant_service.login(db, username, password, None, 5)
        return True
    except DomainError:
        return False
    finally:
        db.engine.dispose()


def onboard_acme(*extra: str) -> tuple[int, str]:
    return soc(
        "tenants",
        "onboard",
        "acme",
        "--name",
        "Acme NV",
        "--retention-days",
        "90",
        "--plan",
        "enterprise",
        "--ceiling",
        "2000",
        "--user",
        "acme-ann",
        "--user",
        "acme-bob",
        "--disable-level",
        "high",
        *extra,
    )


def test_onboard_prints_the_secrets_once_and_creates_everything(data_dir: Path) -> None:
    code, out = onboard_acme()
    assert code == 0, out
    assert "tenant acme onboarded" in out and "plan enterprise" in out
    assert re.search(r"rules selected [1-9]", out)
    assert "SLA calendar: P1 " in out
    key = out.split("not shown again):\n")[1].splitlines()[0]
    assert key.startswith("soc_")
    passwords = dict(re.findall(r"portal user (\S+): initial password (\S+)", out))
    assert set(passwords) == {"acme-ann", "acme-bob"}
    assert can_login("acme-ann", passwords["acme-ann"])
    code, out = soc("tenants", "list")
    assert "acme\tAcme NV\tretention 90d" in out
    code, out = soc("apikeys", "list", "acme")
    assert code == 0 and key[:12] in out
    code, out = soc("users", "list", "--tenant", "acme")
    assert code == 0
    assert [line.split("\t")[1] for line in out.splitlines()] == ["acme-ann", "acme-bob"]


def test_onboard_failure_creates_nothing(data_dir: Path) -> None:
    assert onboard_acme()[0] == 0
    code, out = soc("tenants", "onboard", "other", "--name", "Other", "--user", "acme-ann")
    assert code == 1 and "already exists" in out
    code, out = soc("tenants", "list")
    assert "other" not in out
    code, out = soc("tenants", "onboard", "third", "--name", "T", "--disable-rule", "no-such")
    assert code == 1 and "not found" in out
    assert "third" not in soc("tenants", "list")[1]
    code, out = soc("tenants", "onboard", "fourth", "--name", "F", "--ceiling", "lots")
    assert code == 2 and "not an amount" in out
    code, out = soc("tenants", "onboard", "fifth", "--name", "F", "--plan", "gold")
    assert code == 1 and "plan must be one of" in out


def test_tenants_update(data_dir: Path) -> None:
    assert soc("tenants", "create", "acme", "--name", "Acme")[0] == 0
    code, out = soc("tenants", "update", "acme", "--name", "Acme BV", "--retention-days", "30")
    assert code == 0 and "name 'Acme BV', retention 30d" in out
    assert "acme\tAcme BV\tretention 30d" in soc("tenants", "list")[1]
    code, out = soc("tenants", "update", "acme")
    assert code == 2 and "--name" in out
    code, out = soc("tenants", "update", "acme", "--retention-days", "400")
    assert code == 1 and "between 1 and 365" in out
    code, out = soc("tenants", "update", "nope", "--name", "x")
    assert code == 1 and "not found" in out


def test_users_disable_enable_and_reset_password(data_dir: Path) -> None:
    assert onboard_acme()[0] == 0
    code, out = soc("users", "reset-password", "acme-ann")
    assert code == 0 and "sessions ended" in out
    fresh = out.split("new password (shown once): ")[1].strip()
    assert can_login("acme-ann", fresh)
    code, out = soc("users", "reset-password", "acme-ann", "--password", "acme-ann-secret-1")
    assert code == 1 and "username" in out  # the policy refuses a password with the username
    code, out = soc("users", "reset-password", "acme-ann", "--password", "plum-orbit-lantern")
    assert code == 0 and "shown once" not in out
    assert can_login("acme-ann", "plum-orbit-lantern") and not can_login("acme-ann", fresh)
    code, out = soc("users", "disable", "acme-ann")
    assert code == 0 and "disabled" in out
    assert not can_login("acme-ann", "plum-orbit-lantern")
    assert "acme-ann\tcustomer" in soc("users", "list", "--role", "customer")[1]
    assert "\tdisabled" in soc("users", "list", "--tenant", "acme")[1]
    assert soc("users", "enable", "acme-ann")[0] == 0
    assert can_login("acme-ann", "plum-orbit-lantern")
    code, out = soc("users", "disable", "nobody")
    assert code == 1 and "not found" in out
    code, out = soc("users", "list", "--role", "wizard")
    assert code == 1 and "unknown role" in out


def test_providers_list_and_help(data_dir: Path) -> None:
    assert soc("providers", "create", "prov-x", "--name", "Prov X")[0] == 0
    code, out = soc("providers", "list")
    assert code == 0 and "prov-x\tProv X\t-" in out
    code, out = soc("tenants", "onboard", "--help")
    assert code == 0 and "one transaction" in out and "--disable-level" in out
    for group, command in (("users", "list"), ("users", "disable"), ("users", "reset-password")):
        code, out = soc(group, command, "--help")
        assert code == 0 and "Usage" in out
    assert "update" in soc("tenants", "--help")[1]
