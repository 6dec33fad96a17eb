"""EVTX upload throughput: POST /api/v1/ingest/evtx on a real `soc run` server against parsing
the same file locally (chunk reader + flattening, no HTTP, no store).

The file is built from the SigmaHQ corpus's EVTX chunks repeated (`--repeat`): 96 chunks of
64 KiB holding 120 records, so most records of a large file are duplicates and records per MB
are far fewer than in a production log (a full chunk holds ~100 records): the MB/s figures
are the upload/parse path's, the records/s the store's dedup path's.

    .venv/bin/python -m bench.ingest_evtx [--repeat 15] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

from ingest.evtx_reader import EvtxRecord, iter_evtx_path
from soc.core.db import Database
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from tenants import service as tenant_service

ROOT = Path(__file__).resolve().parents[1]
REGRESSION = ROOT.parent / "shared" / "corpus" / "sigmahq" / "regression_data"


def build_file(path: Path, repeat: int) -> None:
    files = sorted(REGRESSION.glob("**/*.evtx"))
    chunks = []
    for f in files:
        data = f.read_bytes()
        chunks += [data[i : i + 65536] for i in range(4096, len(data), 65536)]
    chunks *= repeat
    header = bytearray(files[0].read_bytes()[:4096])
    struct.pack_into("<QQQ", header, 8, 0, len(chunks) - 1, 1 << 32)
    struct.pack_into("<H", header, 42, min(len(chunks), 0xFFFF))
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    path.write_bytes(bytes(header) + b"".join(chunks))


def parse_locally(path: Path) -> tuple[float, int]:
    started, records = time.perf_counter(), 0
    for item in iter_evtx_path(path):
        if isinstance(item, EvtxRecord):
            orjson.dumps(item.event)
            records += 1
    return time.perf_counter() - started, records


def start_server(base: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    url = f"sqlite:///{base / 'var' / 'soc.db'}"
    (base / "var").mkdir()
    upgrade(url)
    db = Database(url)
    with db.session() as session:
        tenant_service.create_tenant(session, SYSTEM, "bench", "Bench")
        _, key = tenant_service.create_api_key(session, SYSTEM, "bench", "bench")
    db.engine.dispose()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = os.environ | {"SOC_DATA_DIR": str(base / "var"), "SOC_DATABASE_URL": url}
    process = subprocess.Popen(
        [sys.executable, "-m", "soc.cli", "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    address = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{address}/api/v1/health", timeout=1).status_code == 200:
                return process, address, key
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("server did not start")


def upload(address: str, key: str, path: Path) -> tuple[float, dict[str, object]]:
    def stream() -> Iterator[bytes]:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk

    headers = {
        "X-API-Key": key,
        "Content-Type": "application/octet-stream",
        "Content-Length": str(path.stat().st_size),
    }
    started = time.perf_counter()
    answer = httpx.post(
        f"{address}/api/v1/ingest/evtx", content=stream(), headers=headers, timeout=900
    )
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    return elapsed, answer.json()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        path = base / "bench.evtx"
        build_file(path, args.repeat)
        mb = path.stat().st_size / 1e6
        process, address, key = start_server(base)
        try:
            for run in range(1, args.runs + 1):
                local, records = parse_locally(path)
                http, out = upload(address, key, path)
                print(
                    f"run {run}: {mb:.1f} MB, {records} records; local parse {mb / local:.0f} MB/s"
                    f" ({records / local:,.0f} rec/s); HTTP upload+ingest {mb / http:.0f} MB/s"
                    f" ({records / http:,.0f} rec/s, new {out['new']}); ratio {local / http:.2f}"
                )
        finally:
            process.terminate()
            process.wait(timeout=20)


if __name__ == "__main__":
    main()
