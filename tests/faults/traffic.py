"""What the fault tests send and count: batches of distinct events (some raise the built-in
whoami rule), shippers that resend a batch until it is answered 2xx (as Beats and Fluent Bit
do), a tenant to send them for, and the tallies every fault test prints."""

from __future__ import annotations

import copy
import itertools
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from soc.core.db import Database
from soc.core.migrate import upgrade
from soc.core.principal import SYSTEM
from tenants import service as tenant_service
from tests.helpers import benign_event, whoami_event

PASSWORD = "fault-tolerant-harbour-7"


@dataclass
class Tenant:
    id: int
    key: str
    customer: str = "cust-acme"


def make_tenant(url: str, slug: str = "acme", migrate: bool = True) -> Tenant:
    """Migrate `url`, then a tenant with an ingest key and a customer user `cust-<slug>` (no
    second factor: its password is enough for a bearer token)."""
    if migrate:
        upgrade(url)
    db = Database(url)
    try:
        with db.session() as session:
            tenant = tenant_service.create_tenant(session, SYSTEM, slug, slug.title())
            _, key = tenant_service.create_api_key(session, SYSTEM, slug, "faults")
            tenant_service.create_user(
                session, SYSTEM, f"cust-{slug}", PASSWORD, "customer", slug, None
            )
            return Tenant(tenant.id, key, f"cust-{slug}")
    finally:
        db.engine.dispose()


def login(base_url: str, username: str = "cust-acme") -> dict[str, str]:
    answer = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": username, "password": PASSWORD},
        timeout=30,
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def batch(n: int, size: int, run: str, whoami_every: int = 5, pad: int = 0) -> bytes:
    """Batch `n` of `size` distinct events; every `whoami_every`-th one a whoami start on a
    host of its own (`<run>-<n>-<i>`), so each raises one alert and one case. The benign ones
    carry `pad` more bytes of command line."""
    lines = []
    for i in range(size):
        if i % whoami_every == 0:
            lines.append(whoami_event(f"{run}-{n}-{i}", 3, marker=f"{run}-{n}-{i}"))
        else:
            event = benign_event(n * 10_000 + i)
            event["CommandLine"] += f" {run} " + "x" * pad
            lines.append(event)
    return b"\n".join(orjson.dumps(line) for line in lines)


def whoami_count(count: int, size: int, whoami_every: int = 5) -> int:
    return count * len(range(0, size, whoami_every))


@dataclass
class Shipper:
    """Threads sending `bodies` to /api/v1/ingest; each body is resent (after the server's
    Retry-After, capped) until answered 2xx. Statuses, missing Retry-After headers and the ids
    of acknowledged events are kept."""

    base_url: str
    key: str
    bodies: list[bytes]
    senders: int = 2
    retry_cap: float = 0.5
    statuses: Counter[int] = field(default_factory=Counter)
    no_retry_after: Counter[int] = field(default_factory=Counter)
    bad_bodies: list[str] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)  # "<status> <error code>"
    ids: list[str] = field(default_factory=list)
    acknowledged: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: itertools.count[int] = field(default_factory=itertools.count)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Shipper:
        self._threads = [
            threading.Thread(target=self._ship, daemon=True) for _ in range(self.senders)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def join(self, seconds: float) -> bool:
        """True when every body was acknowledged within `seconds`."""
        deadline = time.monotonic() + seconds
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        return self.acknowledged == len(self.bodies)

    def _ship(self) -> None:
        headers = {"X-API-Key": self.key, "Content-Type": "application/x-ndjson"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=30) as client:
            while not self._stop.is_set():
                with self._lock:
                    i = next(self._next)
                if i >= len(self.bodies):
                    return
                self._send(client, self.bodies[i])

    def _send(self, client: httpx.Client, body: bytes) -> None:
        while not self._stop.is_set():
            wait = self.retry_cap
            try:
                answer = client.post("/api/v1/ingest", params={"return_ids": "true"}, content=body)
            except httpx.HTTPError:
                status = 0
            else:
                status = answer.status_code
                if 200 <= status < 300:
                    with self._lock:
                        self.statuses[status] += 1
                        self.ids += answer.json()["ids"]
                        self.acknowledged += 1
                    return
                self._note_refusal(answer)
            with self._lock:
                self.statuses[status] += 1
            self._stop.wait(wait)

    def _note_refusal(self, answer: httpx.Response) -> None:
        if answer.status_code in (429, 503, 507) and "retry-after" not in answer.headers:
            with self._lock:
                self.no_retry_after[answer.status_code] += 1
        try:
            body = answer.json()
            clear = bool(body.get("error")) and bool(body.get("detail"))
        except ValueError:
            body, clear = {}, False
        with self._lock:
            self.refusals[f"{answer.status_code} {body.get('error')}"] += 1
        if not clear:
            with self._lock:
                self.bad_bodies.append(f"{answer.status_code}: {answer.text[:200]}")


def server_errors(statuses: Counter[int]) -> dict[int, int]:
    """Answers that are neither success nor a clear refusal to retry (503, 507, 429)."""
    return {s: n for s, n in statuses.items() if s >= 500 and s not in (503, 507)}


def tally(accepted_ids: list[str], stored_ids: list[str]) -> tuple[int, int, int, int]:
    """accepted (distinct), stored (distinct), lost (accepted, not stored), duplicated
    (stored more than once)."""
    accepted, stored = set(accepted_ids), set(stored_ids)
    duplicated = len(stored_ids) - len(stored)
    return len(accepted), len(stored), len(accepted - stored), duplicated


def opensearch_ids(url: str, prefix: str) -> list[str]:
    """Every stored event id under an index prefix, once per stored copy (a copy in two
    indices counts twice)."""
    from opensearchpy import OpenSearch

    client = OpenSearch(url, timeout=30)
    try:
        client.indices.refresh(index=f"{prefix}-*", ignore_unavailable=True)
        found = client.search(
            index=f"{prefix}-*",
            body={"query": {"match_all": {}}, "_source": False, "size": 10_000},
            ignore_unavailable=True,
        )
        return [hit["_id"] for hit in found["hits"]["hits"]]
    finally:
        client.close()


def drop_opensearch_prefix(url: str, prefix: str) -> None:
    from opensearchpy import OpenSearch

    client = OpenSearch(url, timeout=30)
    try:
        client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        client.indices.delete_index_template(name=prefix, ignore=[404])
    finally:
        client.close()


@dataclass
class Detected:
    alerts: list[tuple[str, str]]  # (rule id, event id) of every alert row
    cases: list[tuple[str, str]]  # (rule id, host) of every case row

    @property
    def alerted_events(self) -> set[str]:
        return {event for _, event in self.alerts}

    @property
    def duplicated(self) -> int:
        """Alert rows beyond one per (rule, event), case rows beyond one per (rule, host)."""
        return len(self.alerts) - len(set(self.alerts)) + len(self.cases) - len(set(self.cases))


def detected(url: str, tenant_id: int) -> Detected:
    from sqlalchemy import select

    from detections.models import Alert
    from soc.cases.models import Case

    db = Database(url)
    try:
        with db.read_session() as session:
            alerts = session.execute(
                select(Alert.rule_id, Alert.event_id).where(Alert.tenant_id == tenant_id)
            ).all()
            cases = session.execute(
                select(Case.rule_id, Case.host).where(Case.tenant_id == tenant_id)
            ).all()
        return Detected([(r, e) for r, e in alerts], [(r, h) for r, h in cases])
    finally:
        db.engine.dispose()


# SigmaHQ regression samples (process creation, evtx_dump JSON) and their rules: each sample
# raises its own rule in this product (detections/KNOWN_GAPS.md lists none of them).
CORPUS_SAMPLES = (
    "proc_creation_win_wmic_recon_process",
    "proc_creation_win_wmic_terminate_application",
    "proc_creation_win_discovery_via_reg_queries",
    "proc_creation_win_powershell_base64_invoke",
)


def corpus_rules(into: Path) -> list[dict[str, Any]]:
    """Copy the samples' rules into `into` (the rule directory of the server and workers)
    and return the samples, parsed."""
    from tests.detections.conftest import CORPUS, REGRESSION

    into.mkdir(parents=True, exist_ok=True)
    samples = []
    for name in CORPUS_SAMPLES:
        folder = REGRESSION / "rules" / "windows" / "process_creation" / name
        shutil.copy(CORPUS / "rules" / "windows" / "process_creation" / f"{name}.yml", into)
        samples.append(orjson.loads(next(folder.glob("*.json")).read_bytes()))
    return samples


def corpus_batch(
    samples: list[dict[str, Any]], n: int, size: int, run: str, hosts: int = 6
) -> bytes:
    """Batch `n`: `size` distinct copies of the samples (own record id each), spread over a
    few hosts, so alerts of one rule and host group into one case."""
    lines = []
    for i in range(size):
        seq = n * size + i
        event = copy.deepcopy(samples[seq % len(samples)])
        system = event["Event"]["System"]
        system["EventRecordID"] = seq
        system["Computer"] = f"{run}-{seq % hosts}"
        lines.append(orjson.dumps(event))
    return b"\n".join(lines)
