"""asyncio syslog listeners (UDP, TCP, TLS) feeding the ingest pipeline in group commits.

One flush runs at a time and takes everything received meanwhile (up to `batch_max` per
tenant), so batches grow with the load and stay small when it is light. A TCP (or TLS)
connection reads on while a flush is being stored, so the next batch fills meanwhile (reading
and parsing overlap the store's waits, and a batch is thousands of messages, not one read),
but it stops reading as soon as `batch_max` messages wait to be stored or a flush is failing
(store or ingest gate full, database busy), and reads again once everything waiting is
stored: the kernel's window then pushes back on the sender and nothing is dropped. UDP cannot
push back: past `udp_queue_max` messages waiting, datagrams are dropped and counted
(`SyslogStats.udp_dropped`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ingest.gate import IngestGate
from ingest.parse import Parsed
from ingest.service import StoredBatch
from ingest.store.base import StoreBusy
from ingest.syslog.framing import Framer
from ingest.syslog.parse import Bad
from ingest.syslog.records import to_record
from ingest.syslog.tenancy import TenantResolver
from soc.core.errors import Unavailable
from soc.core.principal import TenantRef

log = logging.getLogger(__name__)
Ingest = Callable[[TenantRef, Sequence[Parsed]], StoredBatch]
BACKOFF_MAX = 2.0


@dataclass
class SyslogStats:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    udp_dropped: int = 0
    retries: int = 0
    connections: int = 0
    last_reject: str = ""
    reasons: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str, peer: str) -> None:
        self.rejected += 1
        key = reason[:80]
        if key in self.reasons or len(self.reasons) < 100:
            self.reasons[key] = self.reasons.get(key, 0) + 1
        self.last_reject = f"{peer}: {reason}"
        if self.rejected <= 10 or self.rejected % 1000 == 0:
            log.warning(
                "syslog message from %s refused (%d so far): %s", peer, self.rejected, reason
            )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, StoreBusy | Unavailable):
        return True
    from sqlalchemy.exc import OperationalError  # database busy or down

    return isinstance(exc, OperationalError)


class Batcher:
    """Group commit of parsed messages per tenant; futures resolve once stored."""

    def __init__(self, ingest: Ingest, gate: IngestGate, stats: SyslogStats, batch_max: int):
        self.ingest, self.gate, self.stats, self.batch_max = ingest, gate, stats, batch_max
        self._pending: dict[int, list[Parsed]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self.queued = 0
        self.failing = False  # the last flush attempt failed; it is being retried
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def add(self, tenant_id: int, item: Parsed) -> None:
        self.add_many([(tenant_id, item)])

    def add_many(self, items: Sequence[tuple[int, Parsed]]) -> None:
        if not items:
            return
        pending = self._pending
        for tenant_id, item in items:
            waiting = pending.get(tenant_id)
            if waiting is None:
                waiting = pending[tenant_id] = []
            waiting.append(item)
        self.queued += len(items)
        self._wake.set()

    def backlogged(self) -> bool:
        """True when readers should stop until what waits is stored (back-pressure)."""
        return self.failing or self.queued >= self.batch_max

    def done(self) -> asyncio.Future[None]:
        """Resolves once everything added so far is stored."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._wake.set()
        return future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                self._release()
                continue
            taken, self._pending = self._pending, {}
            waiters, self._waiters = self._waiters, []
            for tenant_id, items in taken.items():
                # Even parts of at most batch_max (5,001 is two of 2,501, not 5,000 and 1).
                parts = -(-len(items) // self.batch_max)
                size = -(-len(items) // parts)
                for at in range(0, len(items), size):
                    await self._store(tenant_id, items[at : at + size])
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            if self._pending or self._waiters:
                self._wake.set()

    def _release(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _store(self, tenant_id: int, items: list[Parsed]) -> None:
        backoff, failures = 0.05, 0
        while True:
            try:
                async with self.gate.slot():
                    batch = await asyncio.to_thread(self.ingest, TenantRef(tenant_id), items)
                self.stats.stored += len(batch.new_ids)
                self.stats.duplicates += batch.duplicates
                self.queued -= len(items)
                self.failing = False
                return
            except Exception as exc:
                self.failing = True
                self.stats.retries += 1
                if not _retryable(exc):
                    failures += 1
                    if failures >= 5:  # replays are idempotent; a poison batch still ends
                        log.exception("syslog batch of %d messages failed", len(items))
                        for _ in items:
                            self.stats.reject(f"store error: {type(exc).__name__}", "store")
                        self.queued -= len(items)
                        self.failing = False
                        return
                log.warning("syslog batch waits (%s); retrying in %.2f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    async def drain(self) -> None:
        await self.done()
        if self._task is not None:
            self._task.cancel()


class Receiver:
    """Turns frames into stored messages: parse, tenant, hand to the batcher."""

    def __init__(
        self, resolver: TenantResolver, batcher: Batcher, stats: SyslogStats, max_bytes: int
    ):
        self.resolver, self.batcher, self.stats, self.max_bytes = (
            resolver,
            batcher,
            stats,
            max_bytes,
        )

    def take(self, frame: bytes | Bad, port: int, peer: str) -> None:
        self.take_all([frame], port, peer)

    def take_all(self, frames: Sequence[bytes | Bad], port: int, peer: str) -> None:
        """A read's frames in one pass (per message only what it needs: no method calls on
        the batcher, one wake-up)."""
        stats, resolver, max_bytes = self.stats, self.resolver, self.max_bytes
        address = peer.rsplit(":", 1)[0]
        taken: list[tuple[int, Parsed]] = []
        for frame in frames:
            stats.received += 1
            if isinstance(frame, Bad):
                stats.reject(frame.reason, peer)
                continue
            record = to_record(frame, max_bytes)
            if isinstance(record, Bad):
                stats.reject(record.reason, peer)
                continue
            fields, raw, key = record
            tenant = resolver.tenant_of(port, key)
            if isinstance(tenant, Bad):
                stats.reject(tenant.reason, peer)
                continue
            if "host" not in fields:
                fields["host"] = address
            taken.append((tenant, Parsed(stats.received, raw, fields)))
        self.batcher.add_many(taken)


class StreamProtocol(asyncio.Protocol):
    def __init__(self, receiver: Receiver, port: int) -> None:
        self.receiver, self.port = receiver, port
        self.framer = Framer(receiver.max_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.receiver.stats.connections += 1

    def data_received(self, data: bytes) -> None:
        self.receiver.take_all(self.framer.feed(data), self.port, self.peer)
        batcher = self.receiver.batcher
        if batcher.backlogged() and not self.paused:
            assert self.transport is not None
            self.paused = True  # read further only once everything waiting is stored
            self.transport.pause_reading()
            batcher.done().add_done_callback(self._resume)

    def _resume(self, _: asyncio.Future[None]) -> None:
        self.paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def eof_received(self) -> bool | None:
        self.receiver.take_all(self.framer.close(), self.port, self.peer)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.receiver.stats.connections -= 1
        self.transport = None


class DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: Receiver, port: int, queue_max: int) -> None:
        self.receiver, self.port, self.queue_max = receiver, port, queue_max

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self.receiver.batcher.queued >= self.queue_max:
            self.receiver.stats.udp_dropped += 1
            if self.receiver.stats.udp_dropped in (1, 10, 100) or (
                self.receiver.stats.udp_dropped % 10_000 == 0
            ):
                log.warning(
                    "syslog UDP: %d datagrams dropped (store behind)",
                    self.receiver.stats.udp_dropped,
                )
            return
        self.receiver.take(data.rstrip(b"\n"), self.port, f"{addr[0]}:{addr[1]}")


@dataclass
class Listener:
    proto: str  # udp, tcp or tls
    port: int


class SyslogServer:
    def __init__(
        self,
        receiver: Receiver,
        host: str,
        listeners: Sequence[Listener],
        tls: ssl.SSLContext | None = None,
        udp_queue_max: int = 50_000,
    ) -> None:
        self.receiver, self.host, self.listeners = receiver, host, list(listeners)
        self.tls, self.udp_queue_max = tls, udp_queue_max
        self._closers: list[Callable[[], object]] = []
        self.bound: list[Listener] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.receiver.batcher.start()
        for item in self.listeners:
            if item.proto == "udp":
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(
                        DatagramProtocol, self.receiver, item.port, self.udp_queue_max
                    ),
                    local_addr=(self.host, item.port),
                )
                port = transport.get_extra_info("sockname")[1]
                self._closers.append(transport.close)
            else:
                if item.proto == "tls" and self.tls is None:
                    raise ValueError("a TLS listener needs a certificate and key")
                server = await loop.create_server(
                    functools.partial(StreamProtocol, self.receiver, item.port),
                    self.host,
                    item.port,
                    ssl=self.tls if item.proto == "tls" else None,
                )
                port = server.sockets[0].getsockname()[1]
                self._closers.append(server.close)
            self.bound.append(Listener(item.proto, port))

    async def stop(self) -> None:
        """Stop listening, then store what was received."""
        for close in self._closers:
            close()
        await self.receiver.batcher.drain()
