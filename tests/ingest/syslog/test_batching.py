"""Group commit and read-ahead of the syslog receiver over real TCP into the embedded store:
a connection reads on while a batch is stored (so batches span many reads), stops reading
once `batch_max` messages wait or the store fails, and every accepted message is stored,
metered and detected exactly once, however the stream is split, replayed or spread over
connections. The ingest callable is wrapped only to observe batches or inject failures."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from detections.models import Alert
from detections.sources import load_ruleset
from ingest.events import normalise
from ingest.gate import IngestGate
from ingest.parse import Parsed
from ingest.service import StoredBatch
from ingest.store.base import StoreBusy
from ingest.store.sqlite import SQLiteEventStore
from ingest.syslog.build import build_server
from ingest.syslog.server import Batcher, SyslogServer, SyslogStats
from soc.core.principal import Principal, TenantRef
from soc.core.settings import Settings
from soc.services import Services, build_services
from tenants.models import UsageDaily
from tenants.tenancy import create_tenant

CORPUS_RULE = Path("/work/shared/corpus/sigmahq/rules/linux/builtin/lnx_buffer_overflows.yml")
ADMIN = Principal(actor="test", role="admin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Rig:
    services: Services
    server: SyslogServer
    port: int
    tenant: int
    batches: list[int] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)  # set: the store fails

    @property
    def stats(self) -> SyslogStats:
        return self.server.receiver.stats

    def wait_taken(self, count: int, seconds: float = 30) -> None:
        end = time.monotonic() + seconds
        while self.stats.stored + self.stats.duplicates < count and time.monotonic() < end:
            time.sleep(0.02)
        assert self.stats.stored + self.stats.duplicates == count, self.stats.as_dict()


def rig_for(
    services: Services, settings: Settings, tmp_path: Path, batch_max: int
) -> Iterator[Rig]:
    with services.db.session() as session:
        tenant = create_tenant(session, ADMIN, "acme", "Acme").id
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(CORPUS_RULE, rules / CORPUS_RULE.name)
    port = free_port()
    configured = settings.model_copy(
        update={
            "rules_dirs": [rules],
            "include_builtin_rules": False,
            "syslog_host": "127.0.0.1",
            "syslog_tenant_ports": {f"tcp/{port}": "acme"},
            "syslog_batch_max": batch_max,
        }
    )
    built = build_services(configured, ruleset=load_ruleset(configured))
    server, _ = build_server(configured, built.db, built.pipeline.ingest_items, built.ingest_gate)
    rig = Rig(built, server, port, tenant)
    real = server.receiver.batcher.ingest

    def observed(tenant_ref: TenantRef, items: Sequence[Parsed]) -> StoredBatch:
        if rig.hold.is_set():
            raise StoreBusy("injected: spool full", retry_after=1)
        rig.batches.append(len(items))
        return real(tenant_ref, items)

    server.receiver.batcher.ingest = observed
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    yield rig
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(20)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    built.close()


@pytest.fixture
def rig(services: Services, settings: Settings, tmp_path: Path) -> Iterator[Rig]:
    yield from rig_for(services, settings, tmp_path, batch_max=1000)


def framed(lines: Sequence[bytes]) -> bytes:
    return b"".join(b"%d %s" % (len(line), line) for line in lines)


def lines(tag: str, count: int, pad: int = 0, smash_every: int = 0) -> list[bytes]:
    out = []
    for i in range(count):
        text = "stack smashing detected" if smash_every and i % smash_every == 0 else "ok"
        out.append(
            b"<14>1 - h%d app - - - %s %s %d %s"
            % (i % 7, tag.encode(), text.encode(), i, b"x" * pad)
        )
    return out


def send(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(payload)


def metered(rig: Rig) -> int:
    with rig.services.db.read_session() as session:
        return int(
            session.scalar(
                select(func.coalesce(func.sum(UsageDaily.events), 0)).where(
                    UsageDaily.tenant_id == rig.tenant
                )
            )
        )


def alerts(rig: Rig) -> int:
    with rig.services.db.read_session() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Alert).where(Alert.tenant_id == rig.tenant)
            )
        )


def test_reads_ahead_into_batches_spanning_many_reads(rig: Rig) -> None:
    # 1 KiB messages: a read of the socket holds at most 256 of them.
    count, batch_max = 3000, rig.server.receiver.batcher.batch_max
    reads: list[int] = []  # messages in each read of the socket
    take_all = rig.server.receiver.take_all

    def counting(frames: Sequence[Any], port: int, peer: str) -> None:
        reads.append(len(frames))
        take_all(frames, port, peer)

    rig.server.receiver.take_all = counting  # type: ignore[method-assign]
    send(rig.port, framed(lines("ahead", count, pad=1000, smash_every=100)))
    rig.wait_taken(count)
    assert sum(rig.batches) == count and max(rig.batches) <= batch_max
    assert max(rig.batches) > max(reads), (rig.batches, max(reads))  # a batch spans reads
    assert len(rig.batches) < len(reads)
    assert rig.stats.stored == count and rig.stats.duplicates == 0
    assert rig.services.store.stats(rig.tenant).events == count
    assert metered(rig) == count and alerts(rig) == count // 100


def test_store_failing_stops_reading_then_everything_is_stored_once(rig: Rig) -> None:
    rig.hold.set()
    count = 4000
    body = framed(lines("held", count, pad=2000, smash_every=50))
    sender = socket.socket()
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    sender.connect(("127.0.0.1", rig.port))
    sender.setblocking(False)
    sent, progress = 0, time.monotonic()
    while sent < len(body) and time.monotonic() - progress < 1.0:  # until it blocks for 1 s
        try:
            sent += sender.send(body[sent : sent + 65536])
            progress = time.monotonic()
        except BlockingIOError:
            time.sleep(0.05)
    assert sent < len(body), "the sender never blocked"
    batcher = rig.server.receiver.batcher
    # Read-ahead is bounded: the chunk that met the failure, not the whole stream.
    assert batcher.failing and batcher.queued <= batcher.batch_max
    assert rig.services.store.stats(rig.tenant).events == 0
    rig.hold.clear()
    sender.setblocking(True)
    sender.sendall(body[sent:])
    sender.close()
    rig.wait_taken(count)
    assert rig.stats.stored == count and rig.stats.duplicates == 0
    assert rig.services.store.stats(rig.tenant).events == count
    assert metered(rig) == count and alerts(rig) == count // 50


def test_connections_at_once_and_a_replay_store_each_message_once(rig: Rig) -> None:
    streams = [lines(f"conn{n}", 1500, pad=100, smash_every=25) for n in range(4)]
    payloads = [framed(s) for s in streams] + [framed(streams[0])]  # the last is a replay
    senders = [threading.Thread(target=send, args=(rig.port, p)) for p in payloads]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(30)
    rig.wait_taken(5 * 1500)
    assert rig.stats.stored == 4 * 1500 and rig.stats.duplicates == 1500
    assert rig.services.store.stats(rig.tenant).events == 4 * 1500
    assert metered(rig) == 4 * 1500  # the replay is neither metered nor detected again
    assert alerts(rig) == 4 * 1500 // 25
    assert max(rig.batches) <= rig.server.receiver.batcher.batch_max


def test_batcher_splits_evenly_and_done_waits_for_everything_added() -> None:
    sizes: list[int] = []

    def ingest(tenant: TenantRef, items: Sequence[Parsed]) -> StoredBatch:
        sizes.append(len(items))
        return StoredBatch()

    async def scenario() -> None:
        batcher = Batcher(ingest, IngestGate(2, 10, 1.0, 1), SyslogStats(), batch_max=5000)
        batcher.start()
        for i in range(5001):
            batcher.add(1, Parsed(i, b"x", {"message": "x"}))
        assert batcher.backlogged()  # 5,001 waiting: readers stop
        await asyncio.wait_for(batcher.done(), 10)
        assert batcher.queued == 0 and not batcher.backlogged()
        await batcher.drain()

    asyncio.run(scenario())
    assert sizes == [2501, 2500]


def test_sqlite_write_tells_new_from_stored_in_a_partial_replay(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.sqlite")
    now = datetime.now(UTC)

    def events(names: Sequence[str]) -> list[Any]:
        return [normalise({"message": n}, n.encode(), 1, now) for n in names]

    first = events([f"old {i}" for i in range(10)])
    assert set(store.write(first, "b1")) == {e.id for e in first}
    mixed = events([f"old {i}" for i in range(5)] + [f"new {i}" for i in range(5)] + ["new 0"])
    new = store.write(mixed, "b2")
    assert sorted(new) == sorted({e.id for e in mixed[5:10]})  # each new id once
    assert store.stats(1).events == 15
    assert {e.id for e in store.events_of_batch(1, "b2")} == set(new)  # the old keep b1
    assert store.write(mixed, "b3") == []
    store.close()
