"""Debian's log shippers ship to /es with their stock Elasticsearch outputs: rsyslog's
`omelasticsearch` and syslog-ng's `elasticsearch-http()`, each started by deploy/shippers.sh
as a real process with its own config. Each one reads a file of events (the SigmaHQ samples,
one JSON object a line) and takes syslog lines over TCP, and ships both in `_bulk`; the test
asserts that every event and line is stored and that the samples raised their cases.

Skips when the Debian packages cannot be installed (no root, no apt); fails in CI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.ingest.test_es_clients import (
    CORPUS,
    SAMPLES,
    EsServer,
    free_port,
    running_server,
    sample_events,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPERS = ROOT / "deploy" / "shippers.sh"
SYSLOG_LINES = 25

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(
        not all((CORPUS / s).exists() for _, s in SAMPLES), reason="SigmaHQ corpus not present"
    ),
]


@pytest.fixture(scope="module")
def shipper_paths() -> dict[str, str]:
    """deploy/shippers.sh install: the SOC_* paths it prints."""
    done = subprocess.run(
        [str(SHIPPERS), "install"], capture_output=True, text=True, timeout=900, cwd=ROOT
    )
    if done.returncode != 0:
        message = f"deploy/shippers.sh install failed: {done.stderr[-1500:]}"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    paths = {}
    for line in done.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        paths[name] = value
    return paths


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EsServer]:
    with running_server(tmp_path_factory.mktemp("shippers")) as running:
        yield running


def events_file(path: Path, host: str) -> Path:
    """The SigmaHQ samples, one compact JSON object a line, as an agent writes them."""
    path.write_text(
        "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in sample_events(host))
    )
    return path


def send_syslog(port: int, host: str) -> None:
    """RFC 3164 lines over TCP (LF framing), as a network device sends them."""
    lines = [
        f"<38>Dec  2 13:00:{n:02d} {host} sshd[4{n:03d}]: Accepted password for admin"
        f" from 10.0.0.{n} port 22 ssh2\n"
        for n in range(SYSLOG_LINES)
    ]
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall("".join(lines).encode())
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the shipper never listened on TCP {port}")


def wait_for_events(server: EsServer, host: str, expected: int, log: Path) -> None:
    total = -1
    for _ in range(240):
        answer = httpx.get(
            f"{server.url}/api/v1/events",
            params={"tenant": "alpha", "q": host, "limit": 1},
            headers=server.analyst,
        )
        assert answer.status_code == 200, answer.text
        total = answer.json()["total"]
        if total >= expected:
            break
        time.sleep(0.5)
    shipper_log = log.read_text()[-3000:] if log.exists() else "(no shipper log)"
    assert total == expected, (
        f"{total} of {expected} events from {host}\n--- shipper:\n{shipper_log}\n"
        f"--- server:\n{server.log.read_text()[-3000:]}"
    )


def assert_detected(server: EsServer, host: str) -> None:
    cases = httpx.get(f"{server.url}/api/v1/cases", headers=server.analyst).json()["items"]
    raised = [c["title"] for c in cases if c["host"] == host]
    assert len(raised) == len(SAMPLES), raised
    assert any("Bitsadmin" in title for title in raised), raised


@contextmanager
def started(name: str, conf: Path, state: Path) -> Iterator[None]:
    """The shipper running (deploy/shippers.sh start), stopped after."""
    done = subprocess.run(
        [str(SHIPPERS), "start", name, str(conf), str(state)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    try:
        yield
    finally:
        subprocess.run([str(SHIPPERS), "stop", name, str(state)], timeout=60, cwd=ROOT)


RSYSLOG_CONF = """
global(workDirectory="{state}" maxMessageSize="64k")
module(load="imfile" PollingInterval="1")
module(load="imtcp")
module(load="omelasticsearch")
template(name="event" type="string" string="%msg%")
template(name="syslogdoc" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="program" name="programname" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="facility" name="syslogfacility-text" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}}
ruleset(name="events") {{
  action(type="omelasticsearch" server="{es}" template="event" searchIndex="logs-rsyslog"
         bulkmode="on" uid="rsyslog" pwd="{key}" errorfile="{state}/es-errors.json")
}}
ruleset(name="syslog") {{
  action(type="omelasticsearch" server="{es}" template="syslogdoc" searchIndex="logs-syslog"
         bulkmode="on" uid="rsyslog" pwd="{key}" errorfile="{state}/es-errors.json")
}}
input(type="imfile" File="{events}" Tag="events" ruleset="events")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="syslog")
syslog.* action(type="omfile" file="{state}/internal.log")
"""


def test_rsyslog_omelasticsearch_ships_and_detects(
    server: EsServer, shipper_paths: dict[str, str], tmp_path: Path
) -> None:
    host, port, state = "rsyslog-host", free_port(), tmp_path / "rsyslog"
    state.mkdir()
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        RSYSLOG_CONF.format(
            state=state,
            es=f"{server.url}/es/",
            key=server.key,
            events=events_file(tmp_path / "events.jsonl", host),
            port=port,
        )
    )
    with started("rsyslog", conf, state):
        send_syslog(port, host)
        wait_for_events(server, host, len(SAMPLES) + SYSLOG_LINES, state / "internal.log")
        assert_detected(server, host)
        assert not (state / "es-errors.json").exists(), (state / "es-errors.json").read_text()


SYSLOG_NG_CONF = """@version: 3.38
@include "{scl}/elasticsearch/elastic-http.conf"
options {{ stats-freq(0); keep-hostname(yes); }};
source s_events {{ file("{events}" follow-freq(1) flags(no-parse)); }};
source s_syslog {{ network(transport("tcp") ip("127.0.0.1") port({port})); }};
destination d_events {{
  elasticsearch-http(url("{es}/_bulk") index("logs-syslog-ng") type("")
                     user("syslog-ng") password("{key}") template("$MSG") batch-timeout(500));
}};
destination d_syslog {{
  elasticsearch-http(url("{es}/logs-syslog/_bulk") index("logs-syslog") type("")
                     user("syslog-ng") password("{key}") batch-timeout(500));
}};
destination d_internal {{ file("{state}/internal.log"); }};
log {{ source(s_events); destination(d_events); }};
log {{ source(s_syslog); destination(d_syslog); }};
log {{ source {{ internal(); }}; destination(d_internal); }};
"""


def test_syslog_ng_elasticsearch_http_ships_and_detects(
    server: EsServer, shipper_paths: dict[str, str], tmp_path: Path
) -> None:
    host, port, state = "syslog-ng-host", free_port(), tmp_path / "syslog-ng"
    state.mkdir()
    conf = tmp_path / "syslog-ng.conf"
    conf.write_text(
        SYSLOG_NG_CONF.format(
            scl=shipper_paths["SOC_SYSLOG_NG_SCL"],
            events=events_file(tmp_path / "events.jsonl", host),
            port=port,
            es=f"{server.url}/es",
            key=server.key,
            state=state,
        )
    )
    with started("syslog-ng", conf, state):
        send_syslog(port, host)
        wait_for_events(server, host, len(SAMPLES) + SYSLOG_LINES, state / "internal.log")
        assert_detected(server, host)
