"""Embedded mode (`soc run`, SQLite database and event store) SIGKILLed in the middle of a
stream of ingest requests and started again: every event whose request was answered 2xx is
stored after the restart, once, metered once and (the whoami ones) alerted once; shippers
resend what was not acknowledged, as they do after a lost connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.faults.procs import Server, report, wait_until
from tests.faults.traffic import Shipper, batch, detected, make_tenant, server_errors, tally

BATCHES, SIZE, KILL_AFTER = 40, 50, 10


def stored_ids(data: Path, tenant_id: int) -> list[str]:
    with sqlite3.connect(data / "events.sqlite") as events:
        return [
            r[0] for r in events.execute("SELECT id FROM events WHERE tenant_id=?", (tenant_id,))
        ]


def metered(data: Path, tenant_id: int) -> int:
    with sqlite3.connect(data / "soc.db") as db:
        row = db.execute(
            "SELECT coalesce(sum(events), 0) FROM usage_daily WHERE tenant_id=?", (tenant_id,)
        ).fetchone()
    return int(row[0])


def test_embedded_server_sigkilled_mid_ingest(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    url = f"sqlite:///{data}/soc.db"
    tenant = make_tenant(url)
    server = Server(
        data,
        {"SOC_INGEST_RECOVERY_GRACE_SECONDS": "2", "SOC_INGEST_RECOVERY_EVERY_SECONDS": "1"},
    )
    server.start()
    try:
        bodies = [batch(n, SIZE, "embedded") for n in range(BATCHES)]
        shipper = Shipper(server.url, tenant.key, bodies, senders=3).start()
        assert wait_until(lambda: shipper.acknowledged >= KILL_AFTER, 60), "no ingest before"
        server.kill9()
        acknowledged_at_kill = shipper.acknowledged
        before_restart = set(shipper.ids)
        server.start()
        assert shipper.join(90), f"{shipper.acknowledged}/{BATCHES} acknowledged"
        want_alerts = len(range(0, SIZE, 5)) * BATCHES
        wait_until(
            lambda: (
                len(set(detected(url, tenant.id).alerts)) >= want_alerts
                and metered(data, tenant.id) >= BATCHES * SIZE
            ),
            30,
            0.5,
        )
        ids = stored_ids(data, tenant.id)
        found = detected(url, tenant.id)
        meter = metered(data, tenant.id)
    finally:
        server.stop()
    accepted, stored, lost, duplicated = tally(shipper.ids, ids)
    report(
        "embedded_sigkill",
        accepted,
        stored,
        lost,
        duplicated + found.duplicated + max(0, meter - stored),
        acknowledged_at_kill=acknowledged_at_kill,
        metered=meter,
        alerts=len(found.alerts),
        ingest_answers=dict(shipper.statuses),
    )
    assert 0 < acknowledged_at_kill < BATCHES, "the kill did not land mid-stream"
    assert shipper.statuses[0] > 0, "no request met the dead server: the test proved nothing"
    assert before_restart <= set(ids)  # what was acknowledged before the kill survived it
    assert not server_errors(shipper.statuses), dict(shipper.statuses)
    assert accepted == BATCHES * SIZE and lost == 0 and duplicated == 0
    assert meter == stored  # metered once each
    assert len(set(found.alerts)) == want_alerts and found.duplicated == 0
