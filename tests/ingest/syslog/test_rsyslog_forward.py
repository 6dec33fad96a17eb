"""rsyslog as a real relay in front of the receiver: Debian's rsyslogd (started by
deploy/shippers.sh) takes RFC 3164 lines from `logger` and forwards them with its stock
`omfwd` over TCP, octet-counted RFC 5424 (RSYSLOG_SyslogProtocol23Format), to a tenant
port. Every line is stored for that tenant with its program kept, and the SigmaHQ rule in
the line raises its alert.

Skips when rsyslog cannot be installed (no root, no apt); fails in CI.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from detections.models import Alert
from tests.ingest.syslog.test_receiver import BUFFER_OVERFLOW, Rig, free_port, logger
from tests.ingest.syslog.test_receiver import rig as rig  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[3]
SHIPPERS = ROOT / "deploy" / "shippers.sh"

RSYSLOG_CONF = """
global(workDirectory="{state}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="relay")
ruleset(name="relay") {{
  action(type="omfwd" target="127.0.0.1" port="{tenant}" protocol="tcp"
         TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
}}
syslog.* action(type="omfile" file="{state}/internal.log")
"""


@pytest.fixture(scope="module")
def rsyslog_installed() -> None:
    done = subprocess.run(
        [str(SHIPPERS), "install"], capture_output=True, text=True, timeout=900, cwd=ROOT
    )
    if done.returncode != 0:
        message = f"deploy/shippers.sh install failed: {done.stderr[-1500:]}"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)


def wait_listening(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"rsyslog never listened on TCP {port}")


def test_rsyslog_forwards_octet_counted_rfc5424(
    rig: Rig,  # noqa: F811
    rsyslog_installed: None,
    tmp_path: Path,
) -> None:
    port, state = free_port(), tmp_path / "rsyslog"
    state.mkdir()
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(state=state, port=port, tenant=rig.ports["tenant"]))
    done = subprocess.run(
        [str(SHIPPERS), "start", "rsyslog", str(conf), str(state)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    try:
        wait_listening(port)
        for n in range(5):
            logger(
                "--port", str(port), "--tcp", "--rfc3164", "-t", "sshd",
                message=f"relayed line {n}",
            )  # fmt: skip
        logger("--port", str(port), "--tcp", "--rfc3164", "-t", "kernel",
               message="stack smashing detected relayed")  # fmt: skip
        assert rig.wait(rig.acme, "relayed line", 5) == 5
        assert rig.wait(rig.acme, "stack smashing detected relayed", 1) == 1
        assert rig.count(rig.globex, "relayed") == 0
        event = rig.services.store.search(rig.acme, text="relayed line 0").events[0]
        assert event.data["program"] == "sshd"
        assert event.data["host"]
        end = time.monotonic() + 10
        while True:
            with rig.services.db.read_session() as session:
                alerts = session.scalars(
                    select(Alert.rule_id).where(Alert.tenant_id == rig.acme)
                ).all()
            if alerts or time.monotonic() > end:
                break
            time.sleep(0.05)
        assert BUFFER_OVERFLOW in alerts
    finally:
        subprocess.run([str(SHIPPERS), "stop", "rsyslog", str(state)], timeout=60, cwd=ROOT)
