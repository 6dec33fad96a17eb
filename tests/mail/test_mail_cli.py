"""`soc users mail-profile` and `soc mail list|deliver|replay` on a real SQLite database and a
real local SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soc.cli import app
from soc.core.db import Database
from soc.core.mail_outbox import Mail, enqueue
from soc.core.settings import get_settings
from tests.smtp_server import SmtpServer, free_port

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path / "var"))
    port = free_port()
    monkeypatch.setenv("SOC_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SOC_SMTP_PORT", str(port))
    monkeypatch.setenv("SOC_MAIL_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def soc(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_profile_list_replay_deliver(data_dir: Path) -> None:
    assert soc("migrate")[0] == 0
    assert (
        soc("users", "create", "fin", "--role", "finance", "--password", "long-enough-pw")[0] == 0
    )
    code, out = soc(
        "users", "mail-profile", "fin", "--email", "fin@soc.example", "--language", "nl"
    )
    assert code == 0 and "fin@soc.example (nl), on" in out
    code, out = soc("users", "mail-profile", "fin", "--email", "not an address")
    assert code == 1 and "not an e-mail address" in out
    assert soc("users", "mail-profile", "nobody", "--opt-out")[0] == 1
    db = Database(get_settings().sqlalchemy_url)
    with db.session() as session:
        enqueue(session, [Mail("cli.1", "test", "fin@soc.example", "nl", "Hallo", "Tekst")])
    db.engine.dispose()
    assert soc("mail", "deliver")[1].strip() == "0 mail(s) sent"  # no relay: dead (1 attempt)
    code, out = soc("mail", "list", "--state", "dead")
    assert code == 0 and "dead\t1\ttest\tfin@soc.example\tHallo" in out
    server = SmtpServer(int(get_settings().smtp_port))
    server.start()
    try:
        assert soc("mail", "replay")[1].strip() == "1 mail(s) queued again"
        assert soc("mail", "deliver")[1].strip() == "1 mail(s) sent"
    finally:
        server.stop()
    assert [m["Subject"] for m in server.inbox.messages()] == ["Hallo"]
    assert "sent\t0" in soc("mail", "list")[1]
