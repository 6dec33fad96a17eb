"""OpenSearch event store: per-tenant period indices (see ingest.store.lifecycle) under one
composable index template.

Documents are `{"@timestamp", "received_at", "size", "host", "tenant_id", "data": {event}}` with
the event's stable id as `_id`, written with `op_type=create`, so a replayed batch never
duplicates. Every string under `data` is a keyword with a lowercase normalizer (Sigma matches
case-insensitively) and a `.text` sub-field for full-text search; numbers are longs that ignore
malformed values, so a field that changes type never makes an event unstorable. An event the
mapping still refuses is stored with its data kept unindexed under `data_unparsed`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import ConnectionError as Unreachable
from opensearchpy.exceptions import NotFoundError, TransportError

from ingest.events import Event
from ingest.store import lifecycle
from ingest.store.base import HuntQuery, SearchPage, StoreStats
from ingest.store.lifecycle import IndexName

log = logging.getLogger(__name__)
# loaded at (monotonic), the indices, their (primary bytes, docs), the write-blocked ones
Catalogue = tuple[float, list[IndexName], dict[str, tuple[int, int]], set[str]]

TEMPLATE_VERSION = 3
# Only what write() reads of a bulk answer: parsing the full echo costs as much as the request.
BULK_FILTER = "errors,items.*._id,items.*.status,items.*.error"
MAX_KEYWORD_CHARS = 8191  # a Lucene term is at most 32766 bytes: 8191 chars of up to 4 bytes


def index_template(prefix: str, replicas: int = 0) -> dict[str, Any]:
    return {
        "index_patterns": [f"{prefix}-*"],
        "priority": 100,
        "version": TEMPLATE_VERSION,
        "template": {
            "settings": {
                "number_of_shards": 1,
                "number_of_replicas": replicas,
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
        replicas: int | None = None,
        primary_gb: float = lifecycle.DEFAULT_PRIMARY_GB,
        catalogue_ttl: float = 30.0,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.chunk_size = chunk_size
        self.max_chunk_bytes = max_chunk_bytes
        self.max_retries = max_retries
        self.refresh_on_write = refresh
        self._template_ready = False
        self.replicas_setting = replicas
        self.primary_gb = primary_gb
        self.catalogue_ttl = catalogue_ttl
        # tenant -> (loaded at, its indices, primary bytes of each): what write() resolves against
        self._catalogue: dict[int, Catalogue] = {}
        self._ism: bool | None = None

    # -- setup -----------------------------------------------------------------------------
    def ensure_template(self) -> None:
        """The index template (replicas from the setting or the cluster's size) and, where the
        ISM plugin is installed, the default retention policy: at start-up and on first write."""
        if self._template_ready:
            return
        nodes = int(self.client.cluster.health().get("number_of_data_nodes", 1))
        replicas = lifecycle.replicas_for(self.replicas_setting, nodes)
        self.client.indices.put_index_template(
            name=self.prefix, body=index_template(self.prefix, replicas)
        )
        if self.ism_available():
            self._put_policy(365)
        self._template_ready = True

    def index_name(self, tenant_id: int, when: datetime) -> str:
        """The index an event of this time is written to now."""
        target, _ = self._resolve(tenant_id, when)
        return target

    def tenant_pattern(self, tenant_id: int) -> str:
        return f"{self.prefix}-{tenant_id}-*"

    def close(self) -> None:
        self.client.close()

    def refresh(self, tenant_id: int | None = None) -> None:
        target = self.tenant_pattern(tenant_id) if tenant_id is not None else f"{self.prefix}-*"
        self.client.indices.refresh(index=target, ignore_unavailable=True, allow_no_indices=True)

    # -- lifecycle -------------------------------------------------------------------------
    def _load(self, tenant_id: int) -> tuple[list[IndexName], dict[str, tuple[int, int]], set[str]]:
        """The tenant's indices, their (primary bytes, docs) and which are write-blocked."""
        pattern = self.tenant_pattern(tenant_id)
        rows = self.client.cat.indices(
            index=pattern, format="json", h="index,pri.store.size,docs.count", bytes="b"
        )
        settings = self.client.indices.get_settings(
            index=pattern,
            name="index.blocks.write",
            flat_settings=True,
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        indices, sizes = [], {}
        for row in rows:
            parsed = lifecycle.parse_index(self.prefix, row["index"])
            if parsed is None or parsed.tenant_id != tenant_id:
                continue
            indices.append(parsed)
            sizes[parsed.name] = (
                int(row.get("pri.store.size") or 0),
                int(row.get("docs.count") or 0),
            )
        blocked = {
            name
            for name, body in settings.items()
            if str(body.get("settings", {}).get("index.blocks.write", "false")) == "true"
        }
        self._catalogue[tenant_id] = (time.monotonic(), indices, sizes, blocked)
        return indices, sizes, blocked

    def _known(
        self, tenant_id: int, fresh: bool = False
    ) -> tuple[list[IndexName], dict[str, tuple[int, int]], set[str]]:
        entry = self._catalogue.get(tenant_id)
        if fresh or entry is None or time.monotonic() - entry[0] > self.catalogue_ttl:
            return self._load(tenant_id)
        return entry[1], entry[2], entry[3]

    def forget(self, tenant_id: int | None = None) -> None:
        """Drop the cached index list (another process rolled over or deleted)."""
        if tenant_id is None:
            self._catalogue.clear()
        else:
            self._catalogue.pop(tenant_id, None)

    def monthly_bytes(self, tenant_id: int) -> int:
        """Primary bytes of the tenant's indices covering the last 30 days: its size class."""
        indices, sizes, _ = self._known(tenant_id)
        since = datetime.now(UTC) - timedelta(days=30)
        return sum(sizes.get(ix.name, (0, 0))[0] for ix in indices if ix.end > since)

    def _resolve(
        self, tenant_id: int, when: datetime, fresh: bool = False
    ) -> tuple[str, list[str]]:
        """(the index to create the event in, the other indices whose span holds its time and
        so may hold a first copy)."""
        indices, sizes, blocked = self._known(tenant_id, fresh)
        covering = [ix for ix in indices if ix.start <= when < ix.end]
        current = [ix for ix in covering if ix.generation > 0]
        if not current:
            if not fresh and time.monotonic() - self._catalogue[tenant_id][0] > 1.0:
                return self._resolve(
                    tenant_id, when, fresh=True
                )  # another writer may have opened it
            period = lifecycle.period_for(self.monthly_bytes(tenant_id), self.primary_gb)
            target = lifecycle.index_name(
                self.prefix, tenant_id, lifecycle.token_for(when, period), 1
            )
            return target, [ix.name for ix in covering]
        # The widest span wins (a class change mid-span keeps filling the span it started).
        widest = min(current, key=lambda ix: (ix.start, -ix.end.timestamp(), ix.token))
        newest = max(
            (ix for ix in current if ix.token == widest.token), key=lambda ix: ix.generation
        )
        full = sizes.get(newest.name, (0, 0))[0] >= self.primary_gb * lifecycle.GB
        if full and newest.name not in blocked:
            self._close(newest.name)
            blocked.add(newest.name)
        if newest.name in blocked:
            target = lifecycle.index_name(
                self.prefix, tenant_id, newest.token, newest.generation + 1
            )
        else:
            target = newest.name
        return target, [ix.name for ix in covering if ix.name != target]

    def _close(self, index: str) -> None:
        """A full index takes no more writes: the span continues in its next generation."""
        self.client.indices.put_settings(index=index, body={"index.blocks.write": True})
        log.info("event index %s is full; its span continues in the next generation", index)

    def close_full_indices(self, tenant_id: int) -> list[str]:
        """Write-block the tenant's open indices past the primary-size target (what ISM's
        `full` state does; the beat task's fallback). Returns the indices closed."""
        indices, sizes, blocked = self._known(tenant_id, fresh=True)
        closed = []
        for ix in indices:
            full = sizes.get(ix.name, (0, 0))[0] >= self.primary_gb * lifecycle.GB
            if ix.generation and ix.name not in blocked and full:
                self._close(ix.name)
                closed.append(ix.name)
        self.forget(tenant_id)
        return closed

    def ism_available(self) -> bool:
        """Whether the Index State Management plugin answers (not in the minimal distribution)."""
        if self._ism is None:
            try:
                self.client.transport.perform_request("GET", "/_plugins/_ism/policies")
                self._ism = True
            except Unreachable:
                raise  # unreachable says nothing about the plugin
            except TransportError:  # no handler (400), or not allowed to manage it (403)
                self._ism = False
        return self._ism

    def _put_policy(self, retention_days: int) -> str:
        pid = lifecycle.policy_id(self.prefix, retention_days)
        try:
            self.client.transport.perform_request(
                "PUT",
                f"/_plugins/_ism/policies/{pid}",
                body=lifecycle.ism_policy(retention_days, self.primary_gb),
            )
        except TransportError as exc:
            if exc.status_code != 409:  # installed before (the body depends only on its id)
                raise
        return pid

    def attach_policy(self, tenant_id: int, retention_days: int) -> bool:
        """Put the tenant's indices (old daily ones too) under its retention's ISM policy;
        False where ISM is not installed (the beat task then does it all)."""
        if not self.ism_available():
            return False
        pid = self._put_policy(retention_days)
        pattern = self.tenant_pattern(tenant_id)
        body = {"policy_id": pid}
        self.client.transport.perform_request("POST", f"/_plugins/_ism/add/{pattern}", body=body)
        # already managed (e.g. under an older retention): switch; a no-op for the same policy
        self.client.transport.perform_request(
            "POST", f"/_plugins/_ism/change_policy/{pattern}", body=body
        )
        return True

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

    def _plan(self, events: Sequence[Event]) -> tuple[dict[str, str], set[str]]:
        """Each event's target index, and the ids already stored in another index of its span
        (one realtime mget, only for events whose span has more than one index)."""
        targets: dict[str, str] = {}
        lookups: list[dict[str, str]] = []
        resolved: dict[tuple[int, str], tuple[str, list[str]]] = {}
        for event in events:
            # events of one span resolve alike; the key is the day (the shortest span)
            key = (event.tenant_id, _day(event.event_time))
            if key not in resolved:
                resolved[key] = self._resolve(event.tenant_id, event.event_time)
            target, others = resolved[key]
            targets[event.id] = target
            lookups += [{"_index": other, "_id": event.id} for other in others]
        stored: set[str] = set()
        for i in range(0, len(lookups), 5000):
            answer = self.client.mget(body={"docs": lookups[i : i + 5000]}, _source=False)
            stored.update(doc["_id"] for doc in answer["docs"] if doc.get("found"))
        return targets, stored

    def write(self, events: Sequence[Event], batch_id: str | None = None) -> list[str]:
        """Bulk-create in bounded chunks, retrying 429s with backoff; returns the new ids.

        Connection failures propagate (the spooling wrapper keeps the events); a document the
        mapping refuses is stored again with its data unindexed, never dropped. An event sent
        to an index another process has just closed is resolved again and re-sent.
        """
        if not events:
            return []
        self.ensure_template()
        new_ids: list[str] = []
        pending = list(events)
        for _attempt in range(5):
            blocked = self._write_once(pending, batch_id, new_ids)
            if not blocked:
                return new_ids
            for tenant_id in {e.tenant_id for e in blocked}:
                self.forget(tenant_id)
            pending = blocked
        raise RuntimeError(f"OpenSearch kept refusing {len(pending)} events: indices closed")

    def _write_once(
        self, events: Sequence[Event], batch_id: str | None, new_ids: list[str]
    ) -> list[Event]:
        targets, stored = self._plan(events)
        fresh = [e for e in events if e.id not in stored]
        refused: list[Event] = []
        blocked: list[Event] = []
        by_id = {e.id: e for e in fresh}
        actions = (
            {
                "_op_type": "create",  # the first writer wins, and keeps its batch_id
                "_index": targets[e.id],
                "_id": e.id,
                "_source": self._source(e, batch_id),
            }
            for e in fresh
        )
        for ok, item in helpers.streaming_bulk(
            self.client,
            actions,
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
            elif result.get("status") == 403 and "block" in str(result.get("error")):
                blocked.append(by_id[result["_id"]])
            else:
                raise RuntimeError(f"OpenSearch refused event {result.get('_id')}: {result}")
        self._note_created({targets[e.id] for e in fresh})
        for event in refused:
            log.warning("event %s refused by the mapping; storing its data unindexed", event.id)
            body = self._source(event, batch_id) | {"data": {}, "data_unparsed": event.data}
            self.client.create(
                index=targets[event.id], id=event.id, body=body, refresh=self.refresh_on_write
            )
            new_ids.append(event.id)
        return blocked

    def _note_created(self, names: set[str]) -> None:
        """Indices that bulk may just have created join the cached lists (a write must see them
        as its span's index without a reload)."""
        for name in names:
            parsed = lifecycle.parse_index(self.prefix, name)
            entry = self._catalogue.get(parsed.tenant_id) if parsed else None
            if parsed and entry and all(ix.name != name for ix in entry[1]):
                entry[1].append(parsed)

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
        """Delete the tenant's events older than the cut-off; returns events removed. Indices
        whose whole span is older go at once; the one the cut-off falls in loses its older
        events by query (retention is a maximum). Also closes full indices and puts the
        tenant's indices under the ISM policy for this retention, where ISM is installed."""
        removed = 0
        try:
            indices, sizes, _ = self._known(tenant_id, fresh=True)
        except NotFoundError:
            return 0
        for ix in indices:
            if ix.end <= older_than:
                self.client.indices.delete(index=ix.name, ignore_unavailable=True)
                removed += sizes.get(ix.name, (0, 0))[1]
            elif ix.start < older_than:
                removed += self._delete_older(ix.name, older_than)
        self.forget(tenant_id)
        if removed or indices:
            self.close_full_indices(tenant_id)
            days = max(1, round((datetime.now(UTC) - older_than).total_seconds() / 86400))
            try:
                self.attach_policy(tenant_id, min(days, 365))
            except TransportError as exc:  # the deletes above already enforce the rule
                if isinstance(exc, Unreachable):
                    raise
                log.warning("ISM policy not attached to tenant %s's indices: %s", tenant_id, exc)
        return removed

    def _delete_older(self, index: str, older_than: datetime) -> int:
        """Delete an index's events before the cut-off by id (the minimal distribution has no
        _delete_by_query); bounded pages, refreshed so the next page does not see them again."""
        removed = 0
        query = {"range": {"@timestamp": {"lt": older_than.isoformat()}}}
        self.client.indices.refresh(index=index)
        while True:
            hits = self.client.search(
                index=index, body={"size": 5000, "_source": False, "query": query}
            )["hits"]["hits"]
            if not hits:
                return removed
            actions = ({"_op_type": "delete", "_index": index, "_id": h["_id"]} for h in hits)
            done, _ = helpers.bulk(self.client, actions, raise_on_error=False, refresh=True)
            removed += int(done)
            if len(hits) < 5000:
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
