"""A full disk under the spool: a production server (`soc run`, OpenSearch store) loses its
OpenSearch (a forwarder in between is cut; the shared node is never touched), spools to a 2 MB
tmpfs until it is full, and then answers 507 with Retry-After and an error body, never a 500.
When OpenSearch answers again the spool drains (freeing the space), the refused batches are
taken on their retry, and every event answered 2xx is stored once."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.faults.procs import Server, Switch, report, wait_until
from tests.faults.traffic import (
    Shipper,
    batch,
    drop_opensearch_prefix,
    make_tenant,
    opensearch_ids,
    server_errors,
    tally,
)
from tests.services import service_url

BATCHES, SIZE, PAD, CUT_AFTER = 70, 60, 400, 5


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs (needs root and CAP_SYS_ADMIN: skipped when mount is refused)."""
    where = tmp_path / "spool"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or 'refused'}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def test_full_disk_under_the_spool(small_disk: Path, tmp_path: Path) -> None:
    opensearch = service_url("opensearch")
    target = urlsplit(opensearch)
    switch = Switch(target.hostname or "127.0.0.1", target.port or 9200)
    switch.up()
    prefix = f"soc-faults-disk-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "var"
    data.mkdir()
    tenant = make_tenant(f"sqlite:///{data}/soc.db")
    server = Server(
        data,
        {
            "SOC_MODE": "production",
            "SOC_OPENSEARCH_URL": switch.url,
            "SOC_OPENSEARCH_INDEX_PREFIX": prefix,
            "SOC_DETECT_IN_WORKER": "false",
            "SOC_REDIS_URL": service_url("redis"),
            "SOC_SPOOL_DIR": str(small_disk),
            "SOC_INGEST_RECOVERY_GRACE_SECONDS": "3",
            "SOC_INGEST_RECOVERY_EVERY_SECONDS": "1",
        },
    )
    server.start()
    try:
        bodies = [batch(n, SIZE, "disk", pad=PAD) for n in range(BATCHES)]
        shipper = Shipper(server.url, tenant.key, bodies, senders=2).start()
        assert wait_until(lambda: shipper.acknowledged >= CUT_AFTER, 60), "no ingest before"
        switch.down()
        assert wait_until(lambda: shipper.statuses[507] >= 3, 90), dict(shipper.statuses)
        spooled_when_full = len(list(small_disk.glob("*.ndjson")))
        acknowledged_when_full = shipper.acknowledged
        switch.up()
        assert shipper.join(90), f"{shipper.acknowledged}/{BATCHES} acknowledged"
        drained = wait_until(lambda: not any(small_disk.iterdir()), 30, 0.5)
        left = sorted(p.name for p in small_disk.iterdir())
        stored_ids = opensearch_ids(opensearch, prefix)
    finally:
        server.stop()
        switch.down()
        drop_opensearch_prefix(opensearch, prefix)
    accepted, stored, lost, duplicated = tally(shipper.ids, stored_ids)
    report(
        "spool_disk_full",
        accepted,
        stored,
        lost,
        duplicated,
        spooled_batches_when_full=spooled_when_full,
        acknowledged_when_full=acknowledged_when_full,
        ingest_answers=dict(shipper.statuses),
        refusals=dict(shipper.refusals),
    )
    assert spooled_when_full > 0, "nothing was spooled: the test proved nothing"
    assert not server_errors(shipper.statuses), dict(shipper.statuses)
    assert not shipper.no_retry_after and not shipper.bad_bodies, shipper.bad_bodies[:3]
    assert drained, f"the spool kept files after it drained: {left[:5]}"
    assert accepted == BATCHES * SIZE and lost == 0 and duplicated == 0
