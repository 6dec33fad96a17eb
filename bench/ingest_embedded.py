"""Embedded ingest throughput: the product's ingest path vs a plain store write, same events.

The product path parses NDJSON, normalises and flattens each event, writes it to the SQLite
event store, meters it and runs the built-in Sigma rules. The baseline writes the already
normalised events straight into a second SQLite store (no parsing, metering or detection).

    .venv/bin/python bench/ingest_embedded.py [--events 50000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from ingest.events import normalise
from ingest.store.sqlite import SQLiteEventStore
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM, TenantRef
from soc.core.settings import Settings
from soc.services import build_services
from tenants import service as tenant_service

IMAGES = [
    "C:\\Windows\\System32\\notepad.exe",
    "C:\\Windows\\System32\\whoami.exe",
    "C:\\Program Files\\App\\app.exe",
    "C:\\Windows\\System32\\svchost.exe",
]


def make_lines(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        image = rng.choice(IMAGES)
        event = {
            "Event": {
                "System": {
                    "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                    "EventID": 1,
                    "Channel": "Microsoft-Windows-Sysmon/Operational",
                    "Computer": f"ws-{i % 200}",
                    "EventRecordID": i,
                    "TimeCreated": {"#attributes": {"SystemTime": "2026-11-24T10:00:00.000000Z"}},
                },
                "EventData": {
                    "Image": image,
                    "CommandLine": f"{image} --run {i} " + "x" * rng.randint(200, 1200),
                    "ParentImage": "C:\\Windows\\explorer.exe",
                    "User": "DEMO\\jan",
                    "Hashes": "SHA256=" + f"{rng.getrandbits(256):064x}",
                },
            }
        }
        lines.append(orjson.dumps(event))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    lines = make_lines(args.events)
    total_bytes = sum(len(line) for line in lines)
    batches = [b"\n".join(lines[i : i + args.batch]) for i in range(0, len(lines), args.batch)]

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "var")
        upgrade(settings.sqlalchemy_url)
        services = build_services(settings)
        with services.db.session() as session:
            tenant_id = tenant_service.create_tenant(session, SYSTEM, "bench", "Bench").id
        started = time.perf_counter()
        for body in batches:
            with services.db.session() as session:
                services.ingestor.ingest_body(
                    session,
                    TenantRef(tenant_id),
                    body,
                    "application/x-ndjson",
                    settings.max_event_bytes,
                )
        product = time.perf_counter() - started
        stored = services.store.stats(tenant_id).events
        services.close()

        baseline_store = SQLiteEventStore(Path(tmp) / "baseline.sqlite")
        now = datetime.now(UTC)
        events = [normalise(orjson.loads(line), line, tenant_id, now) for line in lines]
        started = time.perf_counter()
        for i in range(0, len(events), args.batch):
            baseline_store.write(events[i : i + args.batch])
        baseline = time.perf_counter() - started
        baseline_store.close()

    mb = total_bytes / 1e6
    print(f"events: {args.events} ({mb:.1f} MB, batches of {args.batch}), stored: {stored}")
    print(f"product ingest path : {args.events / product:10,.0f} events/s {mb / product:7.1f} MB/s")
    print(
        f"baseline store write: {args.events / baseline:10,.0f} events/s {mb / baseline:7.1f} MB/s"
    )
    print(f"ratio product/baseline: {baseline / product:.2f}")


if __name__ == "__main__":
    main()
