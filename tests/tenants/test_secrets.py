"""Secrets at rest: the key ring (soc.core.secrets), `enc:` settings, the encrypted webhook
signing keys in the database (no plaintext in the file), the migration that encrypts existing
rows, and rotation to a new key while reads keep working (`soc secrets rotate`)."""

from __future__ import annotations

import logging
import sqlite3
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from soc.cli import app as cli_app
from soc.cmdb.models import Subscription
from soc.core import secrets
from soc.core.mail_outbox import deliver_due
from soc.core.migrate import alembic_config, upgrade
from soc.core.settings import Settings, get_settings
from soc.services import Services
from tests.cmdb.status_fixtures import add_ci
from tests.conftest import World
from tests.mail.test_mail import queue_one
from tests.smtp_server import Login, SmtpServer, free_port

K1, K2 = secrets.new_key(), secrets.new_key()


def ring(*keys: str) -> secrets.Keyring:
    return secrets.Keyring(secrets.parse_keys(",".join(keys)))


def test_the_ring_encrypts_with_the_first_key_and_opens_with_any() -> None:
    old, both, new = ring(K1), ring(K2, K1), ring(K2)
    value = old.encrypt("s3cr3t-pässword")
    assert value.startswith("enc:") and "s3cr3t" not in value
    assert old.encrypt("same") != old.encrypt("same")  # random IV: equal secrets do not show
    assert both.decrypt(value) == "s3cr3t-pässword"  # the old key still opens it
    assert not both.is_current(value) and old.is_current(value)
    rotated = both.rotate(value)
    assert both.is_current(rotated) and new.decrypt(rotated) == "s3cr3t-pässword"
    with pytest.raises(secrets.SecretKeyError, match="not in SOC_SECRET_KEYS"):
        old.decrypt(rotated)
    assert new.decrypt("plain") == "plain"  # settings given in plaintext keep working
    with pytest.raises(secrets.SecretKeyError, match="key 2 of SOC_SECRET_KEYS"):
        secrets.parse_keys(f"{K1},not-a-key")


def test_settings_given_encrypted_are_read_as_plaintext(tmp_path: Path) -> None:
    value = ring(K1).encrypt("smtp-pass")
    token = ring(K1).encrypt("sn-token")
    settings = Settings(
        data_dir=tmp_path, secret_keys=f"{K2},{K1}", smtp_password=value, servicenow_token=token
    )
    assert settings.smtp_password == "smtp-pass" and settings.servicenow_token == "sn-token"
    with pytest.raises(ValidationError, match="not in SOC_SECRET_KEYS"):
        Settings(data_dir=tmp_path, secret_keys=K2, smtp_password=value)
    with pytest.raises(ValidationError, match="no key to open an encrypted setting"):
        Settings(data_dir=tmp_path / "empty", smtp_password=value)
    assert not (tmp_path / "empty" / "secret.key").exists()  # reading settings makes no key


def test_without_keys_a_key_is_generated_once_into_the_data_dir(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="soc.core.secrets"):
        first = secrets.keyring_for(None, tmp_path / "var")
    path = tmp_path / "var" / "secret.key"
    assert "SOC_SECRET_KEYS is not set" in caplog.text and str(path) in caplog.text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets.parse_keys(path.read_text()) == first.keys
    # Another process (no cache) finds the same key; a second installation gets its own.
    assert secrets._file_keys(tmp_path / "var", create=False) == first.keys
    assert secrets.keyring_for(None, tmp_path / "other").keys != first.keys


def raw_secrets(services: Services) -> list[str]:
    with services.db.read_session() as session:
        rows = session.execute(sa.text("SELECT webhook_secret FROM status_subscriptions"))
        return [row[0] for row in rows]


def test_webhook_keys_are_encrypted_at_rest_and_survive_rotation(
    client: TestClient, world: World, services: Services, settings: Settings
) -> None:
    app = add_ci(services.db, "Payroll", tenants=("alpha",))
    made = client.post(
        "/api/v1/status/subscriptions",
        json={"ci_id": app, "email": None, "webhook_url": "https://hooks.alpha.example/status"},
        headers=world["customer-alpha"].headers,
    )
    assert made.status_code == 201, made.text
    secret = made.json()["webhook_secret"]
    [stored] = raw_secrets(services)
    assert stored.startswith("enc:") and secret not in stored
    services.db.engine.dispose()
    database = settings.data_dir / "soc.db"
    on_disk = b"".join(p.read_bytes() for p in database.parent.glob("soc.db*"))
    assert secret.encode() not in on_disk and stored.encode() in on_disk
    with services.db.read_session() as session:
        assert session.scalars(sa.select(Subscription.webhook_secret)).one() == secret

    # Rotation: the new key first, the old one kept; reads work before, during and after.
    old_key = (settings.data_dir / "secret.key").read_text().strip()
    new_key = secrets.new_key()
    both = secrets.install(settings.model_copy(update={"secret_keys": f"{new_key},{old_key}"}))
    try:
        with services.db.read_session() as session:
            assert session.scalars(sa.select(Subscription.webhook_secret)).one() == secret
        with services.db.session() as session:
            [report] = secrets.rotate_stored(
                session, both, [("status_subscriptions", "webhook_secret")]
            )
        assert (report.older, report.rotated) == (1, 1)
        [rotated] = raw_secrets(services)
        assert ring(new_key).decrypt(rotated) == secret
        with pytest.raises(secrets.SecretKeyError):
            ring(old_key).decrypt(rotated)
        secrets.install(settings.model_copy(update={"secret_keys": new_key}))  # old key dropped
        with services.db.read_session() as session:
            assert session.scalars(sa.select(Subscription.webhook_secret)).one() == secret
        answer = client.get("/api/v1/status/subscriptions", headers=world["customer-alpha"].headers)
        assert answer.status_code == 200
    finally:
        secrets.install(settings)


def insert_minimal_row(raw: sqlite3.Connection, table: str) -> None:
    """Row id 1 with a value in each required column (the schema of that revision)."""
    columns = raw.execute(f"PRAGMA table_info({table})").fetchall()
    values = {"id": 1}
    for _, name, kind, notnull, default, _ in columns:
        if notnull and default is None and name != "id":
            text = "VARCHAR" in kind.upper() or "TEXT" in kind.upper() or "JSON" in kind.upper()
            values[name] = "{}" if "JSON" in kind.upper() else "x" if text else 0
            if "DATETIME" in kind.upper():
                values[name] = "2026-12-01 00:00:00"
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    raw.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(values.values()))


def test_the_migration_encrypts_old_rows_and_the_cli_rotates_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_file = tmp_path / "var" / "soc.db"
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SOC_SECRET_KEYS", K1)
    get_settings.cache_clear()
    url = get_settings().sqlalchemy_url
    try:
        upgrade(url, "0022")
        with sqlite3.connect(db_file) as raw:
            insert_minimal_row(raw, "cmdb_cis")
            raw.execute(
                "INSERT INTO status_subscriptions (id, ci_id, webhook_url, webhook_secret, "
                "created_at) VALUES (1, 1, 'https://x.example', 'plain-signing-key', "
                "'2026-12-01 00:00:00')"
            )
        upgrade(url)
        with sqlite3.connect(db_file) as raw:
            [(value,)] = raw.execute("SELECT webhook_secret FROM status_subscriptions").fetchall()
        assert value.startswith("enc:") and ring(K1).decrypt(value) == "plain-signing-key"

        env_file = tmp_path / "soc.env"
        smtp = ring(K1).encrypt("smtp-pass")
        env_file.write_text(f"SOC_SMTP_HOST=mail.example\nSOC_SMTP_PASSWORD='{smtp}'\n")
        monkeypatch.setenv("SOC_SECRET_KEYS", f"{K2},{K1}")
        get_settings.cache_clear()
        runner = CliRunner()
        status = runner.invoke(cli_app, ["secrets", "status"])
        assert "status_subscriptions.webhook_secret\tcurrent 0\tolder key 1" in status.output
        done = runner.invoke(cli_app, ["secrets", "rotate", "--env-file", str(env_file)])
        assert done.exit_code == 0, done.output
        assert "1 re-encrypted" in done.output and "1 value(s) re-encrypted" in done.output
        with sqlite3.connect(db_file) as raw:
            [(value,)] = raw.execute("SELECT webhook_secret FROM status_subscriptions").fetchall()
        assert ring(K2).decrypt(value) == "plain-signing-key"
        line = env_file.read_text().splitlines()[1]
        assert line.startswith("SOC_SMTP_PASSWORD='enc:") and line.endswith("'")
        assert ring(K2).decrypt(line.split("'")[1]) == "smtp-pass"

        command.downgrade(alembic_config(url), "0022")  # the plaintext goes back
        with sqlite3.connect(db_file) as raw:
            [(value,)] = raw.execute("SELECT webhook_secret FROM status_subscriptions").fetchall()
        assert value == "plain-signing-key"
    finally:
        get_settings.cache_clear()


def test_an_encrypted_smtp_password_logs_in_to_a_real_relay(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment holds only the `enc:` form; the mailer logs in with the plaintext."""
    login = Login("soc-mailer", "relay-pass")
    server = SmtpServer(free_port(), login=login)
    server.start()
    try:
        for name, value in {
            "SOC_DATA_DIR": str(tmp_path / "env"),
            "SOC_SECRET_KEYS": f"{K2},{K1}",
            "SOC_SMTP_HOST": "127.0.0.1",
            "SOC_SMTP_PORT": str(server.port),
            "SOC_SMTP_USERNAME": "soc-mailer",
            "SOC_SMTP_PASSWORD": ring(K1).encrypt("relay-pass"),
        }.items():
            monkeypatch.setenv(name, value)
        configured = Settings()
        assert configured.smtp_password == "relay-pass"
        assert queue_one(services) == 1
        assert deliver_due(services.db, settings=configured) == 1
    finally:
        server.stop()
    assert login.logins == ["soc-mailer"] and len(server.inbox.messages()) == 1
