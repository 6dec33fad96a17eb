"""Syslog over TCP into the embedded SQLite store, end to end: received, framed, parsed, tenant
resolved, stored, metered and detected with the built-in rules (`soc syslog`'s path in embedded
mode). The receiver runs in this process, pinned to one core (its event loop and the store's
writer thread share that core); the sender is a child process pinned to the other core.

It prints, per run and as ranges:
- msgs/s: wall clock from the connection to the last message stored;
- msgs per CPU-second: the receiver process's CPU time (all its threads), the less noisy
  figure on a shared machine;
- two baselines from the same process, same bytes: a raw TCP read on the same event loop
  (bytes counted, nothing else) and framing + parsing alone; the ratios are against them.

`--store-format both` (the default) alternates the store's current file format with the former
WITHOUT ROWID one (`old`) in the same process, each in its own file, and prints their ratio.

    .venv/bin/python bench/syslog.py [--messages 50000] [--runs 3] [--no-pin]
        [--store-format both|new|old] [--stages]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.events import normalise  # noqa: E402
from ingest.parse import Parsed  # noqa: E402
from ingest.service import meter_events  # noqa: E402
from ingest.store import sqlite as sqlite_store  # noqa: E402
from ingest.syslog.build import build_server  # noqa: E402
from ingest.syslog.framing import Framer  # noqa: E402
from ingest.syslog.records import to_record  # noqa: E402
from soc.core.db import utcnow  # noqa: E402
from soc.core.migrate import upgrade  # noqa: E402
from soc.core.principal import Principal, TenantRef  # noqa: E402
from soc.core.settings import Settings  # noqa: E402
from soc.services import build_services  # noqa: E402
from tenants.tenancy import create_tenant  # noqa: E402

MAX_BYTES = 65536
_NEW_FORMAT = sqlite_store.SQLiteEventStore._open_schema


def _legacy_schema(self: sqlite_store.SQLiteEventStore) -> None:
    self._conn.executescript(sqlite_store.LEGACY_SCHEMA)


def store_format(settings: Settings, name: str) -> Settings:
    """Settings whose store file has the given format (old: as before the rowid table)."""
    sqlite_store.SQLiteEventStore._open_schema = (  # type: ignore[method-assign]
        _legacy_schema if name == "old" else _NEW_FORMAT
    )
    path = settings.data_dir / f"events-{name}.sqlite"
    return settings.model_copy(update={"event_db_path": path})


@dataclass
class Rate:
    wall: float  # messages per second of wall clock
    cpu: float  # messages per CPU-second of this process
    before: int = 0  # events the store held before the run (its cost grows with the table)


def lines(run: int, count: int) -> list[bytes]:
    return [
        b"<38>1 2026-12-03T10:00:00.%06dZ web%02d sshd %d - - Failed password for user%d "
        b"from 10.1.%d.%d port 22 ssh2 run %d"
        % (i % 10**6, i % 50, 1000 + i % 9000, i, i % 250, i % 200, run)
        for i in range(count)
    ]


def octet_counted(messages: list[bytes]) -> bytes:
    return b"".join(b"%d %s" % (len(m), m) for m in messages)


def send(port: int, payload: bytes, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(payload)


def start_sender(port: int, payload: bytes, cpu: int | None) -> multiprocessing.process.BaseProcess:
    sender = multiprocessing.get_context("fork").Process(target=send, args=(port, payload, cpu))
    sender.start()
    return sender


async def one_run(
    settings: Settings, tenant_id: int, run: int, count: int, sender_cpu: int | None
) -> Rate:
    services = build_services(settings)
    server, _ = build_server(
        settings, services.db, services.pipeline.ingest_items, services.ingest_gate
    )
    await server.start()
    before = services.store.stats(tenant_id).events
    payload = octet_counted(lines(run, count))
    stats = server.receiver.stats
    cpu, start = time.process_time(), time.perf_counter()
    sender = start_sender(server.bound[0].port, payload, sender_cpu)
    while stats.stored + stats.duplicates + stats.rejected < count:
        await asyncio.sleep(0.005)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    sender.join()
    await server.stop()
    stored = services.store.stats(tenant_id).events
    services.close()
    assert stats.rejected == 0 and stats.duplicates == 0, stats.as_dict()
    assert stored == before + count, (stored, before, count)  # every message, once
    return Rate(count / elapsed, count / cpu, before)


class _Counting(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[None], expect: int) -> None:
        self.done, self.expect, self.got = done, expect, 0

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        if self.got >= self.expect and not self.done.done():
            self.done.set_result(None)


async def raw_read(count: int, sender_cpu: int | None) -> Rate:
    """The same bytes read on this event loop and only counted: what TCP alone costs."""
    payload = octet_counted(lines(98, count))
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    server = await loop.create_server(lambda: _Counting(done, len(payload)), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cpu, start = time.process_time(), time.perf_counter()
    sender = start_sender(port, payload, sender_cpu)
    await done
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    sender.join()
    server.close()
    return Rate(count / elapsed, count / max(cpu, 1e-6))


def parse_only(count: int) -> Rate:
    """Framing and parsing of the same stream, no socket and no store."""
    payload = octet_counted(lines(99, count))
    cpu, start = time.process_time(), time.perf_counter()
    framer = Framer(MAX_BYTES)
    for at in range(0, len(payload), 256 * 1024):
        for frame in framer.feed(payload[at : at + 256 * 1024]):
            assert isinstance(frame, bytes)
            to_record(frame, MAX_BYTES)
    return Rate(count / (time.perf_counter() - start), count / (time.process_time() - cpu))


def stages(settings: Settings, tenant_id: int, run: int, count: int) -> dict[str, float]:
    """CPU microseconds per message of each stage of the path, one after the other on the same
    messages in batches of `syslog_batch_max` (no socket, no event loop): where the time goes."""
    payload = octet_counted(lines(run, count))
    services = build_services(settings)
    tenant, size = TenantRef(tenant_id), settings.syslog_batch_max
    print(f"stages run (store held {services.store.stats(tenant_id).events:,} events)")
    out: dict[str, float] = {}

    def timed(name: str, work: Callable[[], object]) -> Any:
        start = time.process_time()
        result = work()
        out[name] = (time.process_time() - start) * 1e6 / count
        return result

    framer = Framer(MAX_BYTES)
    frames: list[Any] = timed(
        "framing",
        lambda: [
            f
            for at in range(0, len(payload), 256 * 1024)
            for f in framer.feed(payload[at : at + 256 * 1024])
        ],
    )
    records: list[Any] = timed(
        "parse (to_record)", lambda: [to_record(f, MAX_BYTES) for f in frames]
    )
    items = timed(
        "receiver objects",
        lambda: [
            Parsed(n, raw, fields | {"host": fields.get("host", "127.0.0.1")})
            for n, (fields, raw, _) in enumerate(records)
        ],
    )
    received = utcnow()
    events = timed(
        "normalise", lambda: [normalise(i.obj, i.raw, tenant_id, received) for i in items]
    )
    parts = [events[at : at + size] for at in range(0, count, size)]
    timed(
        "store write (SQLite)", lambda: [services.store.write(p, uuid.uuid4().hex) for p in parts]
    )

    def meter() -> None:
        for part in parts:
            with services.db.session() as session:
                meter_events(session, part)
                session.commit()

    def detect() -> None:
        for part in parts:
            with services.db.session() as session:
                services.pipeline.detect_and_raise(session, tenant, part)
                session.commit()

    timed("meter", meter)
    timed("detect + alerts", detect)
    services.close()
    return out


def span(values: list[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f} (median {statistics.median(values):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    parser.add_argument("--stages", action="store_true", help="also CPU per stage")
    parser.add_argument("--store-format", choices=["both", "new", "old"], default="both")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    receiver_cpu = sender_cpu = None
    if not args.no_pin and len(cores) >= 2:
        # Before any thread starts: threads inherit the affinity (the store's writer too).
        receiver_cpu, sender_cpu = cores[0], cores[1]
        os.sched_setaffinity(0, {receiver_cpu})
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
            tenant_id = create_tenant(
                session, Principal(actor="bench", role="admin"), "bench", "Bench"
            ).id
        services.close()
        formats = ["new", "old"] if args.store_format == "both" else [args.store_format]
        full: dict[str, list[Rate]] = {name: [] for name in formats}
        raw, parse = [], []
        for run in range(args.runs):  # alternating, so load changes hit all alike
            for name in formats:
                rate = asyncio.run(
                    one_run(store_format(settings, name), tenant_id, run, args.messages, sender_cpu)
                )
                full[name].append(rate)
                print(
                    f"run {run + 1} {name} format (store held {rate.before:,} events): "
                    f"end to end {rate.wall:,.0f} msgs/s, {rate.cpu:,.0f} msgs/CPU-s",
                    flush=True,
                )
            raw.append(asyncio.run(raw_read(args.messages, sender_cpu)))
            parse.append(parse_only(args.messages))
            print(
                f"run {run + 1}: raw read {raw[-1].wall:,.0f} msgs/s; "
                f"parse only {parse[-1].cpu:,.0f} msgs/CPU-s",
                flush=True,
            )
        per_stage = [
            stages(store_format(settings, name), tenant_id, 90 + run, args.messages)
            for run in range(args.runs if args.stages else 0)
            for name in formats[:1]
        ]
    if per_stage:
        print("CPU per message by stage (same messages, one stage after the other):")
        for name in per_stage[0]:
            values = [one[name] for one in per_stage]
            print(f"  {name:22s} {min(values):6.1f}-{max(values):6.1f} us")
        totals = [sum(one.values()) for one in per_stage]
        print(f"  {'sum':22s} {min(totals):6.1f}-{max(totals):6.1f} us")
    where = f"receiver pinned to CPU {receiver_cpu}" if receiver_cpu is not None else "not pinned"
    print(
        f"syslog TCP (octet counted) -> framed, parsed, stored (SQLite), metered, detected "
        f"(built-in rules); {args.messages} messages x {args.runs} runs, {where}:"
    )
    for name in formats:
        print(f"  end to end ({name} format): {span([r.wall for r in full[name]])} msgs/s")
        print(f"  end to end ({name} format): {span([r.cpu for r in full[name]])} msgs/CPU-s")
    print(f"  baseline raw read: {span([r.wall for r in raw])} msgs/s (same bytes, same loop)")
    print(f"  baseline parse:    {span([r.cpu for r in parse])} msgs per CPU-second")
    first = full[formats[0]]
    to_raw = statistics.median(r.wall for r in first) / statistics.median(r.wall for r in raw)
    to_parse = statistics.median(r.cpu for r in first) / statistics.median(r.cpu for r in parse)
    print(
        f"  ratios (medians, {formats[0]} format): end to end / raw read {to_raw:.2f}; "
        f"end to end / parse (CPU) {to_parse:.2f}"
    )
    if len(formats) == 2:
        cpu = [n.cpu / o.cpu for n, o in zip(full["new"], full["old"], strict=True)]
        print(f"  new / old format, msgs per CPU-second, run by run: {span_ratio(cpu)}")


def span_ratio(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f} (median {statistics.median(values):.2f})"


if __name__ == "__main__":
    main()
