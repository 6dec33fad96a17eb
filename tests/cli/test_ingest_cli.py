"""`soc ingest` against a real `soc run` server (its own SQLite database, one SigmaHQ rule):
EVTX streamed, JSON in NDJSON batches, per-file summaries and exit codes, a 503 retried; the
server's memory stays flat while a ~96 MB EVTX streams in; and the local mode (no --url)."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from detections.models import Alert
from soc.cli import app
from soc.core.db import Database
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from tenants import service as tenant_service
from tests.detections.conftest import CORPUS, corpus_available
from tests.evtx_samples import all_corpus_chunks, build_evtx, chunks_of, record_offsets

pytestmark = pytest.mark.skipif(not corpus_available(), reason="SigmaHQ corpus not available")

ROOT = Path(__file__).resolve().parents[2]
RULE = (
    CORPUS / "rules/windows/process_creation/proc_creation_win_reg_system_restore_modification.yml"
)
SAMPLE_DIR = (
    CORPUS / "regression_data/rules/windows/process_creation"
    "/proc_creation_win_reg_system_restore_modification"
)
EVTX = SAMPLE_DIR / "7c06ab9b-b1d2-4ba9-b06e-09491ded20d9.evtx"
DUMP_JSON = SAMPLE_DIR / "7c06ab9b-b1d2-4ba9-b06e-09491ded20d9.json"
RULE_ID = "7c06ab9b-b1d2-4ba9-b06e-09491ded20d9"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    key: str
    db_url: str
    pid: int


def prepare(data_dir: Path) -> tuple[str, str, Path]:
    """A migrated SQLite database with tenant `alpha` and its ingest key; the rule directory."""
    rules = data_dir.parent / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    shutil.copy(RULE, rules / RULE.name)
    url = f"sqlite:///{data_dir / 'soc.db'}"
    data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    db = Database(url)
    with db.session() as session:
        tenant_service.create_tenant(session, SYSTEM, "alpha", "Alpha")
        _, key = tenant_service.create_api_key(session, SYSTEM, "alpha", "cli")
    db.engine.dispose()
    return url, key, rules


def env_for(data_dir: Path, url: str, rules: Path) -> dict[str, str]:
    return os.environ | {
        "SOC_DATA_DIR": str(data_dir),
        "SOC_DATABASE_URL": url,
        "SOC_RULES_DIRS": f'["{rules}"]',
        "SOC_INCLUDE_BUILTIN_RULES": "false",
        "SOC_MODE": "embedded",
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("ingest-cli")
    url, key, rules = prepare(base / "var")
    port = free_port()
    log_path = base / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "soc.cli", "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env_for(base / "var", url, rules),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        address = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{address}/api/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None:
                    pytest.fail(log_path.read_text())
                time.sleep(0.1)
            yield Server(address, key, url, process.pid)
        finally:
            process.terminate()
            process.wait(timeout=20)


def run_cli(*args: str) -> tuple[int, list[dict], str]:
    result = CliRunner().invoke(app, ["ingest", *args])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, lines, result.stderr


def test_ships_evtx_and_json_with_a_summary_per_file(server: Server, tmp_path: Path) -> None:
    garbage = tmp_path / "notes.txt"
    garbage.write_text("hello\n")
    code, lines, err = run_cli(
        str(EVTX),
        str(DUMP_JSON),
        str(tmp_path / "missing.evtx"),
        str(garbage),
        "--url",
        server.url,
        "--key",
        server.key,
        "-q",
    )
    assert code == 1, err
    by_file = {Path(line["file"]).name: line for line in lines}
    assert by_file[EVTX.name]["format"] == "evtx"
    assert (by_file[EVTX.name]["accepted"], by_file[EVTX.name]["rejected"]) == (4, 0)
    assert by_file[DUMP_JSON.name]["format"] == "json"
    assert by_file[DUMP_JSON.name]["accepted"] == 4
    assert by_file["missing.evtx"]["failed"] == "no such file"
    assert "unrecognised format" in by_file["notes.txt"]["failed"]
    with Database(server.db_url).session() as session:
        rules = set(session.scalars(select(Alert.rule_id)))
    assert rules == {RULE_ID}


def test_a_corrupt_record_is_listed_and_a_bad_key_fails(server: Server, tmp_path: Path) -> None:
    six = next(CORPUS.glob("regression_data/**/5299fadf-f228-4526-8274-251db1960be9.evtx"))
    body = bytearray(build_evtx(chunks_of(six)))
    third = record_offsets(bytes(body), 4096)[2]
    body[third + 24 : third + 40] = b"\xfe" * 16
    damaged = tmp_path / "damaged.evtx"
    damaged.write_bytes(bytes(body))
    code, lines, err = run_cli(str(damaged), "--url", server.url, "--key", server.key)
    assert code == 0, err
    assert (lines[0]["accepted"], lines[0]["rejected"]) == (5, 1)
    assert lines[0]["errors"][0]["record"] == 3 and lines[0]["errors"][0]["offset"] == third
    assert f"record 3 at offset {third}" in err

    code, lines, err = run_cli(str(EVTX), "--url", server.url, "--key", "soc_wrong")
    assert code == 1
    assert "refused the ingest key (401)" in lines[0]["failed"]
    code, _, err = run_cli(str(EVTX), "--url", "ftp://x", "--key", "k")
    assert code == 2 and "http://" in err


def peak_rss_reset(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def test_server_memory_stays_flat_while_a_large_evtx_streams_in(
    server: Server, tmp_path: Path
) -> None:
    big = tmp_path / "big.evtx"
    big.write_bytes(build_evtx(all_corpus_chunks() * 15))  # 1,440 chunks, ~94 MB
    size = big.stat().st_size
    warm = tmp_path / "warm.evtx"  # a first batch: imports, thread pool, caches
    warm.write_bytes(build_evtx(all_corpus_chunks() * 2))
    assert run_cli(str(warm), "--url", server.url, "--key", server.key, "-q")[0] == 0
    peak_rss_reset(server.pid)
    before = rss_kib(server.pid, "VmRSS")
    code, lines, err = run_cli(str(big), "--url", server.url, "--key", server.key, "-q")
    assert code == 0, err
    assert lines[0]["accepted"] == 1800 and lines[0]["rejected"] == 0
    grown = (rss_kib(server.pid, "VmHWM") - before) * 1024
    print(f"server peak RSS +{grown / 1e6:.1f} MB for a {size / 1e6:.0f} MB upload")
    # Measured: +14 MB for 94 MB and for 252 MB alike (batches, caches): flat, not the body.
    assert grown < size / 3, (
        f"server peak RSS grew {grown / 1e6:.1f} MB for a {size / 1e6:.0f} MB upload"
    )


class _Busy(http.server.BaseHTTPRequestHandler):
    """Answers 503 + Retry-After to the first upload, then the shape of a real answer."""

    calls = 0

    def do_POST(self) -> None:  # noqa: N802 - the http.server interface
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).calls += 1
        if type(self).calls == 1:
            self.send_response(503)
            self.send_header("Retry-After", "0")
            body = b'{"error": "busy", "detail": "at capacity"}'
        else:
            self.send_response(200)
            body = json.dumps(
                {"accepted": 4, "duplicates": 0, "new": 4, "rejected": 0, "errors": [], "files": []}
            ).encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_503_is_retried_after_its_retry_after() -> None:
    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    thread = threading.Thread(target=stub.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{stub.server_address[1]}"
        code, lines, err = run_cli(str(EVTX), "--url", url, "--key", "k")
    finally:
        stub.shutdown()
    assert code == 0, err
    assert _Busy.calls == 2 and lines[0]["accepted"] == 4
    assert "retrying" in err


def test_without_url_it_ingests_into_the_local_stores(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    url, _, rules = prepare(data_dir)
    command = [sys.executable, "-m", "soc.cli", "ingest", str(EVTX), "--tenant", "alpha", "-q"]
    done = subprocess.run(
        command,
        env=env_for(data_dir, url, rules),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["accepted"] == 4
    with Database(url).session() as session:
        assert set(session.scalars(select(Alert.rule_id))) == {RULE_ID}
    done = subprocess.run(
        [*command[:-3], "--tenant", "nosuch"],
        env=env_for(data_dir, url, rules),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "nosuch" in done.stderr
