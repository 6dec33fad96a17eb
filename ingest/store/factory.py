"""Build the event store the settings ask for."""

from __future__ import annotations

from typing import Any

import orjson

from ingest.store.base import EventStore


class OrjsonSerializer:
    """opensearch-py's serializer interface on orjson: bulk bodies encode several times faster."""

    mimetype = "application/json"

    def dumps(self, data: Any) -> str:
        if isinstance(data, str):
            return data
        return orjson.dumps(data, default=str).decode()

    def loads(self, s: str | bytes) -> Any:
        return orjson.loads(s)


def opensearch_client(
    url: str,
    user: str | None = None,
    password: str | None = None,
    verify_certs: bool = True,
    ca_certs: str | None = None,
    timeout: float = 30.0,
) -> Any:
    """An opensearch-py client; TLS and basic auth come from the URL scheme and credentials.

    `url` may list several nodes of one cluster, comma-separated: requests go round-robin and a
    node that stops answering is set aside while the others serve (opensearch-py retries a
    failed request on the next node)."""
    from opensearchpy import OpenSearch

    hosts = [part.strip() for part in url.split(",") if part.strip()]

    options: dict[str, Any] = {
        "timeout": timeout,
        "max_retries": 2,
        "retry_on_timeout": True,
        "serializer": OrjsonSerializer(),
    }
    if user:
        options["http_auth"] = (user, password or "")
    if any(host.startswith("https://") for host in hosts):
        options["verify_certs"] = verify_certs
        options["ssl_show_warn"] = verify_certs
        if ca_certs:
            options["ca_certs"] = ca_certs
    return OpenSearch(hosts=hosts, **options)


def build_store(settings: Any) -> EventStore:
    """SQLite file in embedded mode; OpenSearch behind a disk spool in production mode."""
    if settings.store_kind == "sqlite":
        from ingest.store.sqlite import SQLiteEventStore

        return SQLiteEventStore(settings.events_path)
    from ingest.store.opensearch import OpenSearchEventStore
    from ingest.store.spool import SpoolingStore

    client = opensearch_client(
        settings.opensearch_url,
        settings.opensearch_user,
        settings.opensearch_password,
        settings.opensearch_verify_certs,
        str(settings.opensearch_ca_certs) if settings.opensearch_ca_certs else None,
    )
    inner = OpenSearchEventStore(
        client,
        prefix=settings.opensearch_index_prefix,
        chunk_size=settings.opensearch_bulk_chunk,
        replicas=settings.opensearch_replicas,
        primary_gb=settings.opensearch_primary_gb,
    )
    return SpoolingStore(inner, settings.spool_path, max_bytes=settings.spool_max_bytes)
