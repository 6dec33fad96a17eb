"""Ingest admission: past the working slots and the waiting queue, an ingest request is refused
at once with Retry-After (503 on /api/v1/ingest, an Elasticsearch-style 429 on /es/_bulk),
before its body is read, while the requests already admitted finish and are stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from soc.app import create_app
from soc.core.settings import Settings
from soc.services import Services
from tests.conftest import World
from tests.helpers import benign_event, key_headers, ndjson


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"ingest_slots": 1, "ingest_queue": 0, "ingest_wait_seconds": 0.5}
    )


class SlowBody:
    """An ingest body whose last line arrives only when `release` is set: the request holds its
    slot meanwhile (the slot is taken before the body is read)."""

    def __init__(self, first: bytes, last: bytes) -> None:
        self.first, self.last = first, last
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started.set()
        self.sent += len(self.first)
        yield self.first
        await self.release.wait()
        self.sent += len(self.last)
        yield self.last


def test_over_capacity_ingest_is_refused_with_retry_after_and_nothing_is_lost(
    services: Services, settings: Settings, world: World
) -> None:
    app = create_app(settings, services)
    headers = {**key_headers(world.keys["alpha"]), "Content-Type": "application/x-ndjson"}

    async def run() -> tuple[httpx.Response, httpx.Response, httpx.Response, SlowBody]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://soc.test") as client:
            slow = SlowBody(ndjson(benign_event(1)) + b"\n", ndjson(benign_event(2)))
            admitted = asyncio.create_task(
                client.post("/api/v1/ingest", content=slow, headers=headers)
            )
            await slow.started.wait()
            refused_body = SlowBody(ndjson(benign_event(3)), b"")
            refused = await client.post("/api/v1/ingest", content=refused_body, headers=headers)
            bulk = await client.post(
                "/es/_bulk",
                content=b'{"create":{}}\n' + ndjson(benign_event(4)) + b"\n",
                headers=headers,
            )
            slow.release.set()
            return await admitted, refused, bulk, refused_body

    admitted, refused, bulk, refused_body = asyncio.run(run())
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "busy"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused_body.sent == 0  # refused before a byte of its body was read
    assert bulk.status_code == 429, bulk.text
    assert bulk.json()["error"]["type"] == "es_rejected_execution_exception"
    assert "Retry-After" in bulk.headers
    assert admitted.status_code == 200, admitted.text
    assert admitted.json()["accepted"] == 2
    tenant_id = 1
    assert services.store.stats(tenant_id).events == 2  # only the admitted request's events


def test_a_request_waits_for_a_slot_within_the_bound(
    services: Services, settings: Settings, world: World
) -> None:
    """With room in the queue, a second request waits for the first and is then served."""
    services.ingest_gate.queue, services.ingest_gate.wait_seconds = 4, 5.0
    app = create_app(settings, services)
    headers = {**key_headers(world.keys["alpha"]), "Content-Type": "application/x-ndjson"}

    async def run() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://soc.test") as client:
            slow = SlowBody(ndjson(benign_event(1)) + b"\n", ndjson(benign_event(2)))
            first = asyncio.create_task(
                client.post("/api/v1/ingest", content=slow, headers=headers)
            )
            await slow.started.wait()
            second = asyncio.create_task(
                client.post("/api/v1/ingest", content=ndjson(benign_event(3)), headers=headers)
            )
            await asyncio.sleep(0.2)
            slow.release.set()
            return await first, await second

    first, second = asyncio.run(run())
    assert (first.status_code, second.status_code) == (200, 200), second.text
