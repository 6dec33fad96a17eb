"""Production ingest throughput: the product's ingest path into OpenSearch vs a plain
opensearch-py `helpers.bulk` of the same events, on the same node, in the same run.

The product path parses NDJSON bodies, flattens and normalises each event, bulk-writes it to
the tenant's daily index (through the spool wrapper) and meters it; detection is handed to the
workers in production and is not part of this path. Both sides end with a refresh, so the
figures are "until searchable".

    .venv/bin/python bench/ingest_opensearch.py [--events 200000] [--batch 2000] [--url URL]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import orjson
from opensearchpy import OpenSearch, helpers

from bench.ingest_embedded import make_lines
from ingest.events import normalise
from ingest.service import Ingestor
from ingest.store.factory import opensearch_client
from ingest.store.opensearch import OpenSearchEventStore, index_template
from ingest.store.spool import SpoolingStore
from soc.core.db import Database
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM, TenantRef
from tenants import service as tenant_service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=2,
        help="ingest requests in flight at once, as shippers send them",
    )
    parser.add_argument(
        "--url", default=os.environ.get("SOC_TEST_OPENSEARCH_URL", "http://127.0.0.1:9200")
    )
    args = parser.parse_args()
    lines = make_lines(args.events)
    total_mb = sum(len(line) for line in lines) / 1e6
    bodies = [b"\n".join(lines[i : i + args.batch]) for i in range(0, len(lines), args.batch)]
    run = uuid.uuid4().hex[:6]
    client = opensearch_client(args.url, timeout=120)

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'soc.db'}"
        upgrade(url)
        db = Database(url)
        with db.session() as session:
            tenant_id = tenant_service.create_tenant(session, SYSTEM, "bench", "Bench").id
        store = OpenSearchEventStore(client, prefix=f"bench-product-{run}", chunk_size=args.batch)
        ingestor = Ingestor(SpoolingStore(store, Path(tmp) / "spool"))

        def ingest(body: bytes) -> None:
            with db.session() as session:
                ingestor.ingest_body(
                    session, TenantRef(tenant_id), body, "application/x-ndjson", 1 << 20
                )

        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(ingest, bodies))
        store.refresh()
        product = time.perf_counter() - started
        product_count = client.count(index=f"bench-product-{run}-*")["count"]
        db.engine.dispose()

    # Baseline: the same documents, already normalised, straight into helpers.bulk on a plain
    # client (opensearch-py's default serializer), one request at a time.
    client = OpenSearch(hosts=[args.url], timeout=120)
    prefix = f"bench-baseline-{run}"
    client.indices.put_index_template(name=prefix, body=index_template(prefix))
    now = datetime.now(UTC)
    events = [normalise(orjson.loads(line), line, tenant_id, now) for line in lines]
    actions = [
        {
            "_op_type": "create",
            "_index": f"{prefix}-1-{e.event_time:%Y.%m.%d}",
            "_id": e.id,
            "_source": OpenSearchEventStore._source(e, None),
        }
        for e in events
    ]
    started = time.perf_counter()
    helpers.bulk(client, actions, chunk_size=args.batch, max_chunk_bytes=20 * 1024 * 1024)
    client.indices.refresh(index=f"{prefix}-*")
    baseline = time.perf_counter() - started
    baseline_count = client.count(index=f"{prefix}-*")["count"]

    for name in (f"bench-product-{run}", prefix):
        client.indices.delete(index=f"{name}-*", ignore_unavailable=True)
        client.indices.delete_index_template(name=name, ignore=[404])
    print(
        f"events: {args.events} ({total_mb:.1f} MB, batches of {args.batch}, "
        f"{args.concurrency} product requests in flight); "
        f"stored: product {product_count}, baseline {baseline_count}"
    )
    print(
        f"product ingest path : {args.events / product:9,.0f} events/s "
        f"{total_mb / product:6.1f} MB/s ({product:.1f} s)"
    )
    print(
        f"helpers.bulk baseline: {args.events / baseline:9,.0f} events/s "
        f"{total_mb / baseline:6.1f} MB/s ({baseline:.1f} s)"
    )
    print(f"ratio product/baseline: {baseline / product:.2f}")


if __name__ == "__main__":
    main()
