"""OpenSearch fixtures: a real node (deploy/opensearch.sh), an index prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ingest.store.factory import opensearch_client
from ingest.store.opensearch import OpenSearchEventStore
from tests.services import service_url


@pytest.fixture(scope="session")
def opensearch_url() -> str:
    return service_url("opensearch")


@pytest.fixture
def os_store(opensearch_url: str) -> Iterator[OpenSearchEventStore]:
    prefix = f"soc-test-{uuid.uuid4().hex[:10]}"
    store = OpenSearchEventStore(opensearch_client(opensearch_url), prefix=prefix)
    yield store
    store.client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
    store.client.indices.delete_index_template(name=prefix, ignore=[404])
    store.close()
