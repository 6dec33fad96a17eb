"""Admission control for ingest requests: a few work at once, the rest wait briefly or are
turned away with Retry-After.

The stores take one writer at a time, so more ingest requests working at once only hold the
server's worker threads (which the analysts' pages need) and lengthen every answer. Waiting
happens on the event loop, holding no thread; past the queue bound or the wait, the request is
refused before its body is parsed, so nothing of it was accepted and a retry is safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from soc.core.errors import Unavailable
from soc.core.i18n import N_


class IngestGate:
    def __init__(self, slots: int, queue: int, wait_seconds: float, retry_after: int) -> None:
        self.slots, self.queue, self.wait_seconds = slots, queue, wait_seconds
        self.retry_after = retry_after
        self._loop: asyncio.AbstractEventLoop | None = None
        self._free = asyncio.Semaphore(slots)
        self._waiting = 0

    def _semaphore(self) -> asyncio.Semaphore:
        # One semaphore per event loop: a test client may start a new loop for the same app.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._free, self._waiting = loop, asyncio.Semaphore(self.slots), 0
        return self._free

    def _refuse(self, why: str) -> Unavailable:
        return Unavailable(
            N_("ingest is at capacity ({why}); retry later"), self.retry_after, why=why
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        free = self._semaphore()
        if free.locked() and self._waiting >= self.queue:
            raise self._refuse(f"{self._waiting} requests already waiting")
        self._waiting += 1
        try:
            await asyncio.wait_for(free.acquire(), self.wait_seconds)
        except TimeoutError:
            raise self._refuse(f"no slot within {self.wait_seconds:g} s") from None
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            free.release()
