"""rsyslog and syslog-ng as real relays in front of the receiver: Debian's rsyslogd and
syslog-ng (started by deploy/shippers.sh) take RFC 3164 lines from `logger` and forward them
over TCP to a tenant port, rsyslog with its stock `omfwd` (octet-counted RFC 5424,
RSYSLOG_SyslogProtocol23Format), syslog-ng with its `syslog()` destination (RFC 5424 with
octet counting). Every line is stored for that tenant with its program kept, and the SigmaHQ rule in
the line raises its alert.

Skips when the shippers cannot be installed (no root, no apt); fails in CI.
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


SYSLOG_NG_CONF = """@version: 3.38
options {{ stats-freq(0); keep-hostname(yes); }};
source s_in {{ network(transport("tcp") ip("127.0.0.1") port({port})); }};
destination d_soc {{ syslog("127.0.0.1" transport("tcp") port({tenant})); }};
destination d_internal {{ file("{state}/internal.log"); }};
log {{ source(s_in); destination(d_soc); }};
log {{ source {{ internal(); }}; destination(d_internal); }};
"""


@pytest.fixture(scope="module")
def shippers_installed() -> None:
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


def relay(rig: Rig, name: str, template: str, tmp_path: Path, word: str) -> None:
    """Start the shipper `name` with `template`, send through it, assert stored and detected."""
    port, state = free_port(), tmp_path / name
    state.mkdir()
    conf = tmp_path / f"{name}.conf"
    conf.write_text(template.format(state=state, port=port, tenant=rig.ports["tenant"]))
    done = subprocess.run(
        [str(SHIPPERS), "start", name, str(conf), str(state)],
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
                message=f"{word} line {n}",
            )  # fmt: skip
        logger("--port", str(port), "--tcp", "--rfc3164", "-t", "kernel",
               message=f"stack smashing detected {word}")  # fmt: skip
        assert rig.wait(rig.acme, f"{word} line", 5) == 5
        assert rig.wait(rig.acme, f"stack smashing detected {word}", 1) == 1
        assert rig.count(rig.globex, word) == 0
        event = rig.services.store.search(rig.acme, text=f"{word} line 0").events[0]
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
        subprocess.run([str(SHIPPERS), "stop", name, str(state)], timeout=60, cwd=ROOT)


def test_rsyslog_forwards_octet_counted_rfc5424(
    rig: Rig,  # noqa: F811
    shippers_installed: None,
    tmp_path: Path,
) -> None:
    relay(rig, "rsyslog", RSYSLOG_CONF, tmp_path, "relayed")


def test_syslog_ng_forwards_rfc5424(
    rig: Rig,  # noqa: F811
    shippers_installed: None,
    tmp_path: Path,
) -> None:
    relay(rig, "syslog-ng", SYSLOG_NG_CONF, tmp_path, "forwarded")
