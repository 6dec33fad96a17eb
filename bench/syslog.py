"""Syslog over TCP into the embedded SQLite store: messages/s end to end (received, parsed,
stored, metered, detected with the built-in rules), against parse-only throughput in the same
run. The receiver runs in this process on one event loop (plus the store's writer thread);
the sender is a child process.

    .venv/bin/python bench/syslog.py [--messages 50000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.syslog.build import build_server  # noqa: E402
from ingest.syslog.records import to_record  # noqa: E402
from soc.core.migrate import upgrade  # noqa: E402
from soc.core.principal import Principal  # noqa: E402
from soc.core.settings import Settings  # noqa: E402
from soc.services import build_services  # noqa: E402
from tenants.tenancy import create_tenant  # noqa: E402


def lines(run: int, count: int) -> list[bytes]:
    return [
        b"<38>1 2026-12-03T10:00:00.%06dZ web%02d sshd %d - - Failed password for user%d "
        b"from 10.1.%d.%d port 22 ssh2 run %d"
        % (i % 10**6, i % 50, 1000 + i % 9000, i, i % 250, i % 200, run)
        for i in range(count)
    ]


def send(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(payload)


async def one_run(settings: Settings, run: int, count: int) -> float:
    services = build_services(settings)
    server, _ = build_server(
        settings, services.db, services.pipeline.ingest_items, services.ingest_gate
    )
    await server.start()
    payload = b"".join(b"%d %s" % (len(m), m) for m in lines(run, count))
    stats = server.receiver.stats
    start = time.perf_counter()
    port = server.bound[0].port
    sender = multiprocessing.Process(target=send, args=(port, payload))
    sender.start()
    while stats.stored + stats.duplicates + stats.rejected < count:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    sender.join()
    await server.stop()
    services.close()
    assert stats.rejected == 0, stats.reasons
    return count / elapsed


def parse_only(count: int) -> float:
    data = lines(99, count)
    start = time.perf_counter()
    for line in data:
        to_record(line, 65536)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        settings = Settings(
            data_dir=Path(tmp),
            syslog_host="127.0.0.1",
            syslog_tenant_ports={f"tcp/{port}": "bench"},
        )
        upgrade(settings.sqlalchemy_url)
        services = build_services(settings)
        with services.db.session() as session:
            create_tenant(session, Principal(actor="bench", role="admin"), "bench", "Bench")
        services.close()
        rates = [asyncio.run(one_run(settings, run, args.messages)) for run in range(args.runs)]
        baseline = [parse_only(args.messages) for _ in range(args.runs)]
    print(
        f"syslog TCP end to end ({args.messages} messages x {args.runs} runs): "
        f"{min(rates):,.0f}-{max(rates):,.0f} msgs/s (median {statistics.median(rates):,.0f})"
    )
    print(
        f"parse only (baseline, same run): {min(baseline):,.0f}-{max(baseline):,.0f} msgs/s; "
        f"end to end is {statistics.median(rates) / statistics.median(baseline):.2f} of it"
    )


if __name__ == "__main__":
    main()
