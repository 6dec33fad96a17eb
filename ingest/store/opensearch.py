"""OpenSearch event store: per-tenant daily indices under one composable index template.

Documents are `{"@timestamp", "received_at", "size", "host", "tenant_id", "data": {event}}` with
the event's stable id as `_id`, written with `op_type=create`, so a replayed batch never
duplicates. Every string under `data` is a keyword with a lowercase normalizer (Sigma matches
case-insensitively) and a `.text` sub-field for full-text search; numbers are longs that ignore
malformed values, so a field that changes type never makes an event unstorable. An event the
mapping still refuses is stored with its data kept unindexed under `data_unparsed`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import NotFoundError

from ingest.events import Event
from ingest.store.base import HuntQuery, SearchPage, StoreStats

log = logging.getLogger(__name__)

TEMPLATE_VERSION = 3
# Only what write() reads of a bulk answer: parsing the full echo costs as much as the request.
BULK_FILTER = "errors,items.*._id,items.*.status,items.*.error"
MAX_KEYWORD_CHARS = 8191  # a Lucene term is at most 32766 bytes: 8191 chars of up to 4 bytes


def index_template(prefix: str) -> dict[str, Any]:
    return {
        "index_patterns": [f"{prefix}-*"],
        "priority": 100,
        "version": TEMPLATE_VERSION,
        "template": {
            "settings": {
                "number_of_shards": 1,
                "number_of_replicas": 0,
                "index.mapping.total_fields.limit": 10000,
                "index.mapping.ignore_malformed": True,
                "analysis": {
                    "normalizer": {"lowercase": {"type": "custom", "filter": ["lowercase"]}}
                },
            },
            "mappings": {
                "date_detection": False,
                "numeric_detection": False,
                "dynamic_templates": [
                    {
                        "strings": {
                            "match_mapping_type": "string",
                            "mapping": {
                                "type": "keyword",
                                "normalizer": "lowercase",
                                "ignore_above": MAX_KEYWORD_CHARS,
                                "fields": {"text": {"type": "text"}},
                            },
                        }
                    },
                    {
                        "longs": {
                            "match_mapping_type": "long",
                            "mapping": {"type": "long", "ignore_malformed": True},
                        }
                    },
                    {
                        "doubles": {
                            "match_mapping_type": "double",
                            "mapping": {"type": "double", "ignore_malformed": True},
                        }
                    },
                ],
                "properties": {
                    "@timestamp": {"type": "date"},
                    "received_at": {"type": "date"},
                    "size": {"type": "long"},
                    "host": {"type": "keyword"},
                    "event_id": {"type": "keyword"},
                    "batch_id": {"type": "keyword"},
                    "tenant_id": {"type": "integer"},
                    "data_unparsed": {"type": "object", "enabled": False},
                    "data": {
                        "properties": {
                            "EventID": {"type": "long", "ignore_malformed": True},
                            "Computer": {"type": "keyword", "normalizer": "lowercase"},
                            "Channel": {"type": "keyword", "normalizer": "lowercase"},
                            "Provider_Name": {"type": "keyword", "normalizer": "lowercase"},
                            "CommandLine": {
                                "type": "keyword",
                                "normalizer": "lowercase",
                                "ignore_above": MAX_KEYWORD_CHARS,
                                "fields": {"text": {"type": "text"}},
                            },
                        }
                    },
                },
            },
        },
    }


def _day(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y.%m.%d")


class OpenSearchEventStore:
    def __init__(
        self,
        client: OpenSearch,
        prefix: str = "soc-events",
        chunk_size: int = 2000,
        max_chunk_bytes: int = 20 * 1024 * 1024,
        max_retries: int = 5,
        refresh: bool | str = False,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.chunk_size = chunk_size
        self.max_chunk_bytes = max_chunk_bytes
        self.max_retries = max_retries
        self.refresh_on_write = refresh
        self._template_ready = False

    # -- setup -----------------------------------------------------------------------------
    def ensure_template(self) -> None:
        if self._template_ready:
            return
        self.client.indices.put_index_template(name=self.prefix, body=index_template(self.prefix))
        self._template_ready = True

    def index_name(self, tenant_id: int, when: datetime) -> str:
        return f"{self.prefix}-{tenant_id}-{_day(when)}"

    def tenant_pattern(self, tenant_id: int) -> str:
        return f"{self.prefix}-{tenant_id}-*"

    def close(self) -> None:
        self.client.close()

    def refresh(self, tenant_id: int | None = None) -> None:
        target = self.tenant_pattern(tenant_id) if tenant_id is not None else f"{self.prefix}-*"
        self.client.indices.refresh(index=target, ignore_unavailable=True, allow_no_indices=True)

    # -- write -----------------------------------------------------------------------------
    @staticmethod
    def _source(event: Event, batch_id: str | None) -> dict[str, Any]:
        source = {
            "@timestamp": event.event_time.isoformat(),
            "received_at": event.received_at.isoformat(),
            "size": event.size,
            "host": event.host,
            "event_id": event.id,
            "tenant_id": event.tenant_id,
            "data": event.data,
        }
        if batch_id is not None:
            source["batch_id"] = batch_id
        return source

    def _actions(self, events: Sequence[Event], batch_id: str | None) -> Iterator[dict[str, Any]]:
        for event in events:
            yield {
                "_op_type": "create",  # the first writer wins, and keeps its batch_id
                "_index": self.index_name(event.tenant_id, event.event_time),
                "_id": event.id,
                "_source": self._source(event, batch_id),
            }

    def write(self, events: Sequence[Event], batch_id: str | None = None) -> list[str]:
        """Bulk-create in bounded chunks, retrying 429s with backoff; returns the new ids.

        Connection failures propagate (the spooling wrapper keeps the events); a document the
        mapping refuses is stored again with its data unindexed, never dropped.
        """
        if not events:
            return []
        self.ensure_template()
        new_ids: list[str] = []
        refused: list[Event] = []
        by_id = {e.id: e for e in events}
        for ok, item in helpers.streaming_bulk(
            self.client,
            self._actions(events, batch_id),
            chunk_size=self.chunk_size,
            max_chunk_bytes=self.max_chunk_bytes,
            max_retries=self.max_retries,
            initial_backoff=1,
            max_backoff=30,
            raise_on_error=False,
            raise_on_exception=True,
            refresh=self.refresh_on_write,
            filter_path=BULK_FILTER,
        ):
            result = item["create"]
            if ok:
                new_ids.append(result["_id"])
            elif result.get("status") == 409:
                continue  # already stored: a replay
            elif result.get("status") == 400:
                refused.append(by_id[result["_id"]])
            else:
                raise RuntimeError(f"OpenSearch refused event {result.get('_id')}: {result}")
        for event in refused:
            log.warning("event %s refused by the mapping; storing its data unindexed", event.id)
            body = self._source(event, batch_id) | {"data": {}, "data_unparsed": event.data}
            self.client.create(
                index=self.index_name(event.tenant_id, event.event_time),
                id=event.id,
                body=body,
                refresh=self.refresh_on_write,
            )
            new_ids.append(event.id)
        return new_ids

    # -- read ------------------------------------------------------------------------------
    def _event(self, hit: dict[str, Any]) -> Event:
        src = hit["_source"]
        return Event(
            id=hit["_id"],
            tenant_id=src["tenant_id"],
            received_at=datetime.fromisoformat(src["received_at"]),
            event_time=datetime.fromisoformat(src["@timestamp"]),
            size=src["size"],
            host=src.get("host", ""),
            data=src.get("data") or src.get("data_unparsed"),
        )

    def _search(self, tenant_id: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.search(  # type: ignore[no-any-return]
            index=self.tenant_pattern(tenant_id),
            body=body,
            ignore_unavailable=True,
            allow_no_indices=True,
        )

    def get(self, tenant_id: int, event_id: str) -> Event | None:
        found = self.get_many(tenant_id, [event_id])
        return found[0] if found else None

    def get_many(self, tenant_id: int, event_ids: Sequence[str]) -> list[Event]:
        ids = list(event_ids)
        out: list[Event] = []
        for i in range(0, len(ids), 1000):
            part = ids[i : i + 1000]
            answer = self._search(
                tenant_id, {"size": len(part), "query": {"ids": {"values": part}}}
            )
            out.extend(self._event(h) for h in answer["hits"]["hits"])
        return sorted(out, key=lambda e: e.event_time)

    @staticmethod
    def _time_filter(start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
        if start is None and end is None:
            return []
        bounds: dict[str, str] = {}
        if start is not None:
            bounds["gte"] = start.isoformat()
        if end is not None:
            bounds["lt"] = end.isoformat()
        return [{"range": {"@timestamp": bounds}}]

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
        must: list[dict[str, Any]] = []
        if host:
            must.append({"term": {"host": {"value": host, "case_insensitive": True}}})
        for name, value in (fields or {}).items():
            # Strings are lower-case-normalised keywords: a match is an exact, case-blind term;
            # lenient, so a text value against a numeric field matches nothing, not a 400.
            must.append({"match": {f"data.{name}": {"query": str(value), "lenient": True}}})
        if text:
            must += [
                {
                    "query_string": {
                        "query": f"*{_escape(text)}*",
                        "fields": ["data.*"],
                        "analyze_wildcard": True,
                        "lenient": True,
                    }
                }
            ]
        body = {
            "from": offset,
            "size": limit,
            "track_total_hits": True,
            "sort": [{"@timestamp": "desc"}, {"event_id": "asc"}],
            "query": {"bool": {"must": must, "filter": self._time_filter(start, end)}},
        }
        answer = self._search(tenant_id, body)
        return SearchPage(
            total=answer["hits"]["total"]["value"],
            events=[self._event(h) for h in answer["hits"]["hits"]],
        )

    def iter_query(
        self,
        tenant_id: int,
        query: dict[str, Any],
        start: datetime | None = None,
        end: datetime | None = None,
        page: int = 2000,
    ) -> Iterator[Event]:
        """All events matching a query in time order, paged with search_after."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": page,
                "sort": [{"@timestamp": "asc"}, {"event_id": "asc"}],
                "query": {"bool": {"must": [query], "filter": self._time_filter(start, end)}},
            }
            if after is not None:
                body["search_after"] = after
            hits = self._search(tenant_id, body)["hits"]["hits"]
            if not hits:
                return
            yield from (self._event(h) for h in hits)
            after = hits[-1]["sort"]

    def hunt(
        self,
        tenant_id: int,
        rule: HuntQuery,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Event]:
        """Run the rule as an OpenSearch query (see detections.hunting)."""
        return list(self.iter_query(tenant_id, rule.query_for("opensearch"), start, end))

    def events_of_batch(self, tenant_id: int, batch_id: str) -> list[Event]:
        """The events this batch created first. Refreshes first: recovery must see every
        document written, not only those the periodic refresh has made searchable yet."""
        self.refresh(tenant_id)
        return list(self.iter_query(tenant_id, {"term": {"batch_id": batch_id}}))

    def retention(self, tenant_id: int, older_than: datetime) -> int:
        """Delete whole daily indices whose day ends before the cut-off; returns events removed."""
        cutoff = _day(older_than)
        removed = 0
        try:
            indices = self.client.cat.indices(
                index=self.tenant_pattern(tenant_id), format="json", h="index,docs.count"
            )
        except NotFoundError:
            return 0
        for row in indices:
            day = row["index"].rsplit("-", 1)[-1]
            if day < cutoff:
                self.client.indices.delete(index=row["index"])
                removed += int(row.get("docs.count") or 0)
        return removed

    def stats(self, tenant_id: int) -> StoreStats:
        answer = self._search(
            tenant_id,
            {
                "size": 0,
                "track_total_hits": True,
                "aggs": {
                    "bytes": {"sum": {"field": "size"}},
                    "first": {"min": {"field": "@timestamp"}},
                    "last": {"max": {"field": "@timestamp"}},
                },
            },
        )
        aggs = answer.get("aggregations", {})

        def when(name: str) -> datetime | None:
            value = aggs.get(name, {}).get("value")
            return datetime.fromtimestamp(value / 1000, UTC) if value is not None else None

        return StoreStats(
            events=answer["hits"]["total"]["value"],
            bytes=int(aggs.get("bytes", {}).get("value") or 0),
            first_event=when("first"),
            last_event=when("last"),
        )


def _escape(text: str) -> str:
    special = '\\+-=&|><!(){}[]^"~*?:/ '
    return "".join(f"\\{c}" if c in special else c for c in text)
