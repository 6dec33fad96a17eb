"""Embedded ingest throughput: the product's ingest path vs a plain store write, same events.

The product path parses NDJSON, normalises and flattens each event, writes it to the SQLite
event store, meters it and runs the built-in Sigma rules. The baseline writes the already
normalised events straight into a second SQLite store (no parsing, metering or detection).

The ratio is baseline time / product time, wall clock and CPU time of this process; both
paths run `--runs` times, alternating, so load on a shared machine hits them alike.

    .venv/bin/python bench/ingest_embedded.py [--events 50000] [--batch 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

# Run as a script, bench/ comes first on the path and its kri.py would shadow the kri package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.events import normalise  # noqa: E402
from ingest.store.sqlite import SQLiteEventStore  # noqa: E402
from soc.core.migrate import upgrade  # noqa: E402
from soc.core.principal import SYSTEM, TenantRef  # noqa: E402
from soc.core.settings import Settings  # noqa: E402
from soc.services import build_services  # noqa: E402
from tenants import service as tenant_service  # noqa: E402

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


def run_once(lines: list[bytes], batch: int, tmp: Path) -> tuple[float, float, float, float, int]:
    """(product wall, product CPU, baseline wall, baseline CPU, events stored) in seconds."""
    batches = [b"\n".join(lines[i : i + batch]) for i in range(0, len(lines), batch)]
    settings = Settings(data_dir=tmp / "var")
    upgrade(settings.sqlalchemy_url)
    services = build_services(settings)
    with services.db.session() as session:
        tenant_id = tenant_service.create_tenant(session, SYSTEM, "bench", "Bench").id
    cpu, started = time.process_time(), time.perf_counter()
    for body in batches:
        with services.db.session() as session:
            services.ingestor.ingest_body(
                session,
                TenantRef(tenant_id),
                body,
                "application/x-ndjson",
                settings.max_event_bytes,
            )
    product, product_cpu = time.perf_counter() - started, time.process_time() - cpu
    stored = services.store.stats(tenant_id).events
    services.close()

    baseline_store = SQLiteEventStore(tmp / "baseline.sqlite")
    now = datetime.now(UTC)
    events = [normalise(orjson.loads(line), line, tenant_id, now) for line in lines]
    cpu, started = time.process_time(), time.perf_counter()
    for i in range(0, len(events), batch):
        baseline_store.write(events[i : i + batch])
    baseline, baseline_cpu = time.perf_counter() - started, time.process_time() - cpu
    baseline_store.close()
    return product, product_cpu, baseline, baseline_cpu, stored


def span(values: list[float], fmt: str = ",.0f") -> str:
    return f"{min(values):{fmt}}-{max(values):{fmt}} (median {statistics.median(values):{fmt}})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lines = make_lines(args.events)
    mb = sum(len(line) for line in lines) / 1e6
    results = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run_once(lines, args.batch, Path(tmp)))
        product, product_cpu, baseline, baseline_cpu, stored = results[-1]
        print(
            f"run {run + 1}: product {args.events / product:,.0f} events/s, "
            f"baseline {args.events / baseline:,.0f} events/s, ratio {baseline / product:.2f} "
            f"(CPU {baseline_cpu / product_cpu:.2f}), stored {stored}",
            flush=True,
        )
    n = args.events
    print(f"events: {n} ({mb:.1f} MB, batches of {args.batch}) x {args.runs} runs")
    print(f"product ingest path : {span([n / r[0] for r in results])} events/s")
    print(f"baseline store write: {span([n / r[2] for r in results])} events/s")
    print(f"ratio product/baseline, wall: {span([r[2] / r[0] for r in results], '.2f')}")
    print(f"ratio product/baseline, CPU:  {span([r[3] / r[1] for r in results], '.2f')}")


if __name__ == "__main__":
    main()
