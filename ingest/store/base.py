"""The event-store interface that the SQLite and OpenSearch stores both implement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ingest.events import Event


class StoreBusy(Exception):
    """The store cannot take more events now (store down and spool full): the caller should
    answer 503 with Retry-After so shippers back off; nothing is accepted, so nothing is lost."""

    def __init__(self, message: str, retry_after: int = 30) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HuntQuery(Protocol):
    """A Sigma rule as a store needs it: the pySigma rule for query backends, a predicate for
    stores that evaluate in Python."""

    id: str
    sigma_rule: Any

    def matches(self, event: dict[str, Any]) -> bool: ...

    def query_for(self, store_kind: str) -> Any:
        """The rule in a store's own query language (e.g. "opensearch")."""


@dataclass
class SearchPage:
    total: int
    events: list[Event] = field(default_factory=list)


@dataclass
class StoreStats:
    events: int
    bytes: int
    first_event: datetime | None
    last_event: datetime | None


class EventStore(Protocol):
    def write(self, events: Sequence[Event], batch_id: str | None = None) -> list[str]:
        """Store events durably; return the ids that were new (replays are ignored). Each new
        event keeps `batch_id`, the ingest batch that stored it first, for `events_of_batch`."""

    def events_of_batch(self, tenant_id: int, batch_id: str) -> list[Event]:
        """The tenant's events that the batch stored first: what its meters and alerts cover
        (the recovery of a request that died between storing and recording)."""

    def get(self, tenant_id: int, event_id: str) -> Event | None: ...

    def get_many(self, tenant_id: int, event_ids: Sequence[str]) -> list[Event]: ...

    def search(
        self,
        tenant_id: int,
        start: datetime | None = None,
        end: datetime | None = None,
        text: str | None = None,
        limit: int = 100,
        offset: int = 0,
        *,
        host: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> SearchPage:
        """The tenant's events, newest first: in [start, end), containing `text`, on `host`
        (case-insensitive), and whose top-level field equals each value of `fields` (name ->
        value, compared case-insensitively as text)."""

    def hunt(
        self,
        tenant_id: int,
        rule: HuntQuery,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Event]: ...

    def retention(self, tenant_id: int, older_than: datetime) -> int:
        """Delete the tenant's events older than the cut-off; return how many went."""

    def stats(self, tenant_id: int) -> StoreStats: ...

    def close(self) -> None: ...
