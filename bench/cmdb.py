"""CMDB correlation at scale (issue 11 item 7): 100,000 CIs and 300,000 relations.

A generated topology (applications on services on application components on VMs and
containers, on hypervisor and Kubernetes clusters of `min_healthy` members, behind load
balancers, firewalls, network devices and storage; a few shared core components serving
thousands; a handful of `depends_on` cycles) is bulk-written to a fresh, migrated SQLite
database (and PostgreSQL with ``--postgres URL``). Then, in one process:

- load: ``StatusEngine.load`` from the database (target < 10 s);
- one event's incremental update: ``apply_alert`` + ``update`` + ``root_causes`` of the
  applications whose state changed, p50/p99 (target p99 < 10 ms), against the baseline of a
  full recompute (``finalize``, target < 2 s) per event;
- sustained events/s through ``events.receive`` in requests of ``--batch`` events with every
  database write (target >= 1,000/s on one core), against the same events through the
  correlator alone (apply, update per batch, incidents), same run;
- peak RSS (target < 1.5 GB).

The event stream mixes new alerts, Alertmanager re-sends (duplicates) and resolutions, keeping
about ``--active`` alerts firing; one request holds one provider's events. The correlator's
final states after the in-memory run and after the database run must be the same.

    .venv/bin/python bench/cmdb.py [--cis 100000] [--relations 300000] [--events 20000]
        [--batch 100] [--postgres URL] [--profile] [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from soc.cmdb import events
from soc.cmdb.engine import StatusEngine, bump_revision
from soc.cmdb.events import EventInput
from soc.cmdb.models import CIName, CITenant, ConfigurationItem, ExternalId, Relation
from soc.cmdb.rules import APPLICATION, Correlator
from soc.core.db import Database
from soc.core.migrate import upgrade
from soc.core.principal import Principal, Scope
from soc.core.settings import Settings
from tenants.models import Provider, Tenant

# Of 100,000 CIs (scaled by --cis); CORE comes on top, cloud resources fill the rest.
TYPE_COUNTS = {
    "application": 2000,
    "service": 6000,
    "application_component": 20000,
    "database": 4000,
    "container": 18000,
    "vm": 30000,
    "server": 9000,
    "cluster": 1000,
    "load_balancer": 600,
    "firewall": 300,
    "network_device": 2500,
    "storage": 1500,
}
CORE = {
    "core-dns": "service",
    "core-idp": "service",
    "core-mq": "application_component",
    "core-db": "database",
    "core-lb": "load_balancer",
    "core-net": "network_device",
    "core-fw": "firewall",
    "core-san": "storage",
}
# Which providers (of --providers, split in three groups) own which types.
GROUP = {"network_device": 0, "firewall": 0, "load_balancer": 0, "storage": 1, "server": 1}
GROUP |= {"vm": 1, "cluster": 1, "cloud_resource": 1}
SEVERITY_WEIGHTS = {"critical": 25, "major": 30, "minor": 20, "warning": 25}
CHUNK = 10_000


def peak_mb() -> float:
    """Peak resident set size of this process so far, in MB (10^6 bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Topology:
    cis: list[dict[str, Any]] = field(default_factory=list)
    by_type: dict[str, list[int]] = field(default_factory=dict)
    tenants: list[tuple[int, int]] = field(default_factory=list)  # (ci, tenant)
    relations: dict[tuple[int, int, str], None] = field(default_factory=dict)
    core: dict[str, int] = field(default_factory=dict)
    cycles: int = 0

    def add(self, name: str, kind: str, provider: int) -> int:
        ci = len(self.cis) + 1
        self.cis.append({"id": ci, "name": name, "ci_type": kind, "provider_id": provider})
        self.by_type.setdefault(kind, []).append(ci)
        return ci

    def rel(self, source: int, target: int, kind: str = "depends_on") -> None:
        if source != target:
            self.relations[(source, target, kind)] = None

    def name(self, ci: int) -> str:
        return str(self.cis[ci - 1]["name"])

    def provider(self, ci: int) -> int:
        return int(self.cis[ci - 1]["provider_id"])


def generate(cis: int, relations: int, tenants: int, providers: int, seed: int) -> Topology:
    """CIs, tenants and relations of a realistic estate (see the module docstring)."""
    rng = random.Random(seed)
    topo = Topology()
    groups = [list(range(1, providers + 1))[g::3] for g in range(3)]
    for name, kind in CORE.items():
        topo.core[name] = topo.add(name, kind, groups[GROUP.get(kind, 2)][0])
    counts = {k: max(1, round(n * cis / 100_000)) for k, n in TYPE_COUNTS.items()}
    counts["cloud_resource"] = max(1, cis - len(CORE) - sum(counts.values()))
    for kind, n in counts.items():
        for i in range(n):
            topo.add(
                f"{kind.replace('_', '-')}-{i:06d}", kind, rng.choice(groups[GROUP.get(kind, 2)])
            )
    _apps(topo, rng, tenants)
    _infrastructure(topo, rng)
    _cycles(topo, rng)
    vms, peers = topo.by_type["vm"], topo.by_type["vm"] + topo.by_type["network_device"]
    while len(topo.relations) < relations:  # informational links (never propagate)
        topo.rel(rng.choice(vms), rng.choice(peers), "connects_to")
    return topo


def _apps(topo: Topology, rng: random.Random, tenants: int) -> None:
    """Applications down to the hosts their components run on; tenants of the shared CIs."""
    t = topo.by_type
    core = topo.core
    for app in t["application"]:
        served = rng.sample(range(1, tenants + 1), rng.randint(2, 5) if rng.random() < 0.1 else 1)
        topo.tenants += [(app, tenant) for tenant in sorted(served)]
        for service in rng.sample(t["service"], rng.randint(2, 4)):
            topo.rel(app, service)
    for ci in core.values():
        topo.tenants += [(ci, tenant) for tenant in range(1, tenants + 1)]
    for service in t["service"]:
        for component in rng.sample(t["application_component"], rng.randint(2, 4)):
            topo.rel(service, component)
        topo.rel(service, rng.choice(t["load_balancer"]))
        if rng.random() < 0.5:
            topo.rel(service, core["core-idp"])
        if rng.random() < 0.2:
            topo.rel(service, core["core-lb"])
    components = t["application_component"]
    for i, component in enumerate(components):
        host = rng.choice(t["container"] if rng.random() < 0.4 else t["vm"])
        topo.rel(component, host, "runs_on")
        for _ in range(rng.randint(0, 2)):  # to later components only: acyclic
            if i + 1 < len(components):
                topo.rel(component, rng.choice(components[i + 1 : i + 200]))
        if rng.random() < 0.75:
            topo.rel(component, rng.choice(t["database"]))
        if rng.random() < 0.5:
            topo.rel(component, rng.choice(t["cloud_resource"]))
        for name, share in (("core-dns", 0.25), ("core-mq", 0.1), ("core-db", 0.015)):
            if rng.random() < share:
                topo.rel(component, core[name])
    for database in t["database"]:
        topo.rel(database, rng.choice(t["vm"]), "runs_on")
        topo.rel(database, rng.choice(t["storage"]))


def _infrastructure(topo: Topology, rng: random.Random) -> None:
    """Clusters (hypervisors and Kubernetes), VMs, servers, network, storage."""
    t = topo.by_type
    clusters, vms, servers = t["cluster"], t["vm"], t["server"]
    hypervisors = clusters[: max(1, len(clusters) * 4 // 5)]
    kubernetes = clusters[len(hypervisors) :] or hypervisors
    members: dict[int, int] = {}
    clustered = servers[: len(servers) * 8 // 9]
    for i, server in enumerate(clustered):
        cluster = hypervisors[i % len(hypervisors)]
        topo.rel(server, cluster, "member_of")
        members[cluster] = members.get(cluster, 0) + 1
    standalone = servers[len(clustered) :] or servers
    nodes = vms[: len(kubernetes) * 10]
    for i, vm in enumerate(nodes):
        cluster = kubernetes[i % len(kubernetes)]
        topo.rel(vm, cluster, "member_of")
        members[cluster] = members.get(cluster, 0) + 1
    for cluster, count in members.items():
        topo.cis[cluster - 1]["min_healthy"] = max(1, count - 2)
    for container in t["container"]:
        topo.rel(container, rng.choice(kubernetes), "runs_on")
    for vm in vms:
        if rng.random() < 0.85:
            topo.rel(vm, rng.choice(hypervisors), "hosted_in")
        else:
            topo.rel(vm, rng.choice(standalone), "hosted_in")
        topo.rel(vm, rng.choice(t["storage"]))
    for server in servers:
        for net in rng.sample(t["network_device"], min(2, len(t["network_device"]))):
            topo.rel(server, net)
    for server in standalone:
        topo.rel(server, rng.choice(t["storage"]))
    for net in t["network_device"]:
        topo.rel(net, rng.choice(t["firewall"]))
        topo.rel(net, topo.core["core-net"])
    for kind, core in (("firewall", "core-fw"), ("storage", "core-san")):
        for ci in t[kind]:
            topo.rel(ci, topo.core[core])
    for ci in t["load_balancer"] + t["storage"]:
        topo.rel(ci, rng.choice(t["network_device"]))


def _cycles(topo: Topology, rng: random.Random) -> None:
    """A handful of depends_on loops among components and among services."""
    for kind, loops in (("application_component", 5), ("service", 1)):
        pool = topo.by_type[kind]
        for _ in range(loops):
            ring = rng.sample(pool, min(len(pool), rng.randint(2, 4)))
            if len(ring) > 1:
                for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
                    topo.rel(a, b)
                topo.cycles += 1


def write(db: Database, topo: Topology, tenants: int, providers: int) -> None:
    """Everything in one transaction, bulk inserts of CHUNK rows."""
    now = datetime.now(UTC)
    ci_defaults = {"environment": "production", "criticality": "medium", "always_on": False}
    ci_defaults |= {"source": "cmdb2", "attributes": {}, "created_at": now, "updated_at": now}
    rows: list[tuple[type[Any], list[dict[str, Any]]]] = [
        (
            Tenant,
            [{"id": i, "slug": f"t{i:03d}", "name": f"Tenant {i}"} for i in range(1, tenants + 1)],
        ),
        (
            Provider,
            [{"id": i, "slug": f"p{i}", "name": f"Provider {i}"} for i in range(1, providers + 1)],
        ),
        (ConfigurationItem, [{"min_healthy": None, **ci_defaults, **ci} for ci in topo.cis]),
        (CIName, [{"ci_id": ci["id"], "name": str(ci["name"]).lower()} for ci in topo.cis]),
        (
            ExternalId,
            [
                {"ci_id": ci["id"], "source": "cmdb2", "external_id": f"CI{ci['id']:08d}"}
                for ci in topo.cis
            ],
        ),
        (CITenant, [{"ci_id": ci, "tenant_id": tenant} for ci, tenant in topo.tenants]),
        (
            Relation,
            [
                {"from_ci_id": a, "to_ci_id": b, "rel_type": kind, "source": "cmdb2"}
                | {"created_by": "bench", "created_at": now}
                for a, b, kind in topo.relations
            ],
        ),
    ]
    with db.session() as session:
        for model, values in rows:
            for i in range(0, len(values), CHUNK):
                session.execute(insert(model), values[i : i + CHUNK])
        bump_revision(session)


@dataclass
class Batch:
    """One provider's request: its events and the request time."""

    provider: int
    events: list[EventInput]
    now: datetime
    alerts: list[tuple[tuple[int, str], int, str, bool]]  # (key, ci, severity, firing)


def make_stream(topo: Topology, count: int, size: int, active: int, seed: int) -> list[Batch]:
    """New alerts, re-sends and resolutions, keeping about `active` alerts firing."""
    rng = random.Random(seed)
    sources: dict[int, list[int]] = {}
    core = set(topo.core.values())
    for row in topo.cis:
        if row["id"] not in core:
            sources.setdefault(int(row["provider_id"]), []).append(int(row["id"]))
    providers = sorted(sources)
    firing: dict[int, dict[str, tuple[int, str, datetime]]] = {p: {} for p in providers}
    per_provider = max(1, active // len(providers))
    severities, weights = list(SEVERITY_WEIGHTS), list(SEVERITY_WEIGHTS.values())
    at = datetime.now(UTC) - timedelta(days=1)
    batches: list[Batch] = []
    serial = 0
    while serial < count:
        provider = rng.choice(providers)
        mine = firing[provider]
        batch = Batch(provider, [], at, [])
        for _ in range(min(size, count - serial)):
            serial += 1
            at += timedelta(milliseconds=10)
            roll = rng.random()
            if mine and roll < 0.15:  # Alertmanager re-sends a firing alert unchanged
                fp = rng.choice(list(mine))
                ci, severity, since = mine[fp]
                state, when = "firing", since
            elif not mine or (len(mine) < per_provider and roll < 0.6):
                ci = rng.choice(sources[provider])
                severity = rng.choices(severities, weights)[0]
                fp = f"{topo.name(ci)}/{rng.choice(('ping', 'cpu', 'disk', 'http'))}/{serial}"
                mine[fp] = (ci, severity, at)
                state, when = "firing", at
            else:
                fp = rng.choice(list(mine))
                ci, severity, _ = mine.pop(fp)
                state, when = "resolved", at
            batch.events.append(EventInput(fp, severity, state, when, ci=topo.name(ci)))
            batch.alerts.append(((provider, fp), ci, severity, state == "firing"))
        batch.now = at
        batches.append(batch)
    return batches


def clear(corr: Correlator[int]) -> None:
    """Resolve every alert: back to the state of an empty alert table."""
    touched: set[int] = set()
    for key, (ci, severity) in list(corr.alerts.items()):
        touched.update(corr.apply_alert(key, ci, severity, False))
    corr.update(touched)


def one_by_one(corr: Correlator[int], batches: list[Batch]) -> list[tuple[float, int]]:
    """(seconds, CIs changed) per event: state, propagation, root causes of the changed
    applications."""
    timings: list[tuple[float, int]] = []
    for batch in batches:
        for key, ci, severity, on in batch.alerts:
            started = time.perf_counter()
            changes = corr.update(corr.apply_alert(key, ci, severity, on))
            corr.root_causes_of(c.ci for c in changes if corr.ci_type[c.ci] == APPLICATION)
            timings.append((time.perf_counter() - started, len(changes)))
    return timings


def fan_out(timings: list[tuple[float, int]]) -> None:
    """How the time per event follows the number of CIs it changes."""
    for low, high in ((0, 0), (1, 100), (101, 1000), (1001, 10**9)):
        part = [t for t, n in timings if low <= n <= high]
        if part:
            print(
                f"  changing {low:,}-{min(high, 10**6):,} CIs: {len(part) / len(timings):6.1%} "
                f"of events, p50 {statistics.median(part) * 1e3:.3f} ms, "
                f"p99 {pct(part, 0.99) * 1e3:.2f} ms"
            )


def same_roots(corr: Correlator[int]) -> bool:
    """The memoised root causes of every application equal the per-CI walk (`root_paths`)."""
    apps = corr.applications()
    many = corr.root_causes_of(apps)
    return all(many[a] == sorted(corr.root_paths(a)) for a in apps)


def in_memory(corr: Correlator[int], batches: list[Batch]) -> tuple[float, float]:
    """(wall, CPU seconds) of the correlator's share of `events.receive`: apply every alert,
    one update per request, the incidents when something changed."""
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        touched: set[int] = set()
        for key, ci, severity, on in batch.alerts:
            touched.update(corr.apply_alert(key, ci, severity, on))
        if corr.update(touched):
            corr.incidents()
    return time.perf_counter() - wall, time.process_time() - cpu


def through_receive(
    db: Database, engine: StatusEngine, batches: list[Batch], profile: bool
) -> tuple[float, float]:
    """(wall, CPU seconds) of the batches through `events.receive`, one transaction each."""
    settings = Settings(database_url=db.url, data_dir=Path(tempfile.gettempdir()))
    principals = {
        b.provider: Principal(f"p{b.provider}", "provider", scope=Scope.of_provider(b.provider, ()))
        for b in batches
    }
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    for batch in batches:
        with db.session() as session:
            events.receive(
                session, settings, engine, principals[batch.provider], batch.events, batch.now
            )
    if profiler is not None:
        profiler.disable()
    result = time.perf_counter() - wall, time.process_time() - cpu
    if profiler is not None:
        print("profile of the events.receive run (top 25 by own time):")
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(r"soc/|tenants/", 25)
    return result


def timed_load(db: Database) -> tuple[StatusEngine, float]:
    engine = StatusEngine(db)
    started = time.perf_counter()
    with db.read_session() as session:
        stats = engine.load(session)
    seconds = time.perf_counter() - started
    print(
        f"load from the database: {seconds:.2f} s ({stats.cis:,} CIs, {stats.relations:,} "
        f"relations, {len(stats.cycles)} cycles); peak RSS {peak_mb():,.0f} MB"
    )
    return engine, seconds


@dataclass
class Figures:
    load: list[float] = field(default_factory=list)
    recompute: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    memory_rate: float = 0.0
    rates: dict[str, tuple[float, float]] = field(default_factory=dict)  # wall, CPU events/s
    consistent: bool = True


def correlator_suite(
    corr: Correlator[int], topo: Topology, batches: list[Batch], fig: Figures
) -> dict[int, str]:
    """The in-memory measurements; returns the final states of the batched run."""
    timings = one_by_one(corr, batches)
    seconds = [t for t, _ in timings]
    fig.p50, fig.p99 = statistics.median(seconds) * 1e3, pct(seconds, 0.99) * 1e3
    impaired = sum(1 for s in corr.state.values() if s in ("down", "degraded"))
    print(
        f"one event, incremental ({len(timings):,} events; at the end {len(corr.alerts)} "
        f"firing, {impaired:,} CIs impaired): p50 {fig.p50:.3f} ms, p99 {fig.p99:.2f} ms, "
        f"max {max(seconds) * 1e3:.1f} ms"
    )
    fan_out(timings)
    fig.consistent = same_roots(corr)
    print(f"memoised root causes == root_paths walk: {'yes' if fig.consistent else 'NO'}")
    state, roots = dict(corr.state), set(corr.roots)
    recompute = []
    for _ in range(3):
        started = time.perf_counter()
        corr.finalize()
        recompute.append(time.perf_counter() - started)
    fig.recompute = statistics.median(recompute)
    fig.consistent = fig.consistent and corr.state == state and corr.roots == roots
    print(
        f"full recompute (finalize): {min(recompute):.2f}-{max(recompute):.2f} s; "
        f"incremental == full recompute: {'yes' if fig.consistent else 'NO'}"
    )
    print(
        f"baseline, a full recompute per event: {fig.recompute * 1e3:,.0f} ms; incremental "
        f"is {fig.recompute * 1e3 / fig.p50:,.0f}x faster at p50, "
        f"{fig.recompute * 1e3 / fig.p99:,.0f}x at p99"
    )
    clear(corr)
    for name in ("core-dns", "core-net"):
        ci = topo.core[name]
        for on in (True, False):
            started = time.perf_counter()
            changes = corr.update(corr.apply_alert(("bench", name), ci, "critical", on))
            apps = [c.ci for c in changes if corr.ci_type[c.ci] == APPLICATION]
            corr.root_causes_of(apps)
            print(
                f"  worst case, {name} {'down' if on else 'back'}: "
                f"{(time.perf_counter() - started) * 1e3:,.0f} ms "
                f"({len(changes):,} CIs and {len(apps):,} applications change)"
            )
    wall, cpu = in_memory(corr, batches)
    count = sum(len(b.events) for b in batches)
    fig.memory_rate = count / wall
    print(f"in memory, batches: {count / wall:,.0f} events/s ({count / cpu:,.0f} per CPU second)")
    final = dict(corr.state)
    clear(corr)
    return final


@contextmanager
def sqlite_db() -> Iterator[Database]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'soc.db'}"
        upgrade(url)
        db = Database(url)
        yield db
        db.engine.dispose()


@contextmanager
def postgresql_db(server: str) -> Iterator[Database]:
    """A scratch database on the PostgreSQL server of ``server`` (dropped afterwards)."""
    parsed = make_url(server)
    admin = f"host={parsed.host} port={parsed.port or 5432} user={parsed.username} dbname=postgres"
    if parsed.password:
        admin += f" password={parsed.password}"
    name = f"soc_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        url = parsed.set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        db = Database(url)
        yield db
        db.engine.dispose()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def summary(fig: Figures) -> None:
    rows = [
        (
            "load from the database",
            f"{min(fig.load):.2f}-{max(fig.load):.2f} s",
            "< 10 s",
            max(fig.load) < 10,
        ),
        (
            "one event, incremental, p99",
            f"{fig.p99:.2f} ms (p50 {fig.p50:.3f})",
            "< 10 ms",
            fig.p99 < 10,
        ),
        ("full recompute", f"{fig.recompute:.2f} s", "< 2 s", fig.recompute < 2),
        ("peak RSS", f"{peak_mb():,.0f} MB", "< 1,500 MB", peak_mb() < 1500),
    ]
    for name, (wall, cpu) in fig.rates.items():
        rows.append(
            (
                f"events.receive, {name}",
                f"{wall:,.0f}/s ({cpu:,.0f}/CPU s)",
                ">= 1,000/s",
                cpu >= 1000,
            )
        )
    print(f"\n{'what':34} {'figure':30} {'target':12} ok")
    for what, figure, target, ok in rows:
        print(f"{what:34} {figure:30} {target:12} {'yes' if ok else 'NO'}")


def main(argv: Sequence[str] | None = None) -> Figures:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cis", type=int, default=100_000)
    parser.add_argument("--relations", type=int, default=300_000)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--providers", type=int, default=9)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--active", type=int, default=300, help="alerts firing, about")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--postgres", metavar="URL", help="also a scratch database there")
    parser.add_argument("--profile", action="store_true", help="cProfile the receive run")
    parser.add_argument("--quick", action="store_true", help="2,000 CIs, 1,000 events (smoke)")
    args = parser.parse_args(argv)
    if args.quick:
        args.cis, args.relations, args.events, args.tenants = 2000, 6000, 1000, 10
        args.active = 30
    started = time.perf_counter()
    topo = generate(args.cis, args.relations, args.tenants, args.providers, args.seed)
    batches = make_stream(topo, args.events, args.batch, args.active, args.seed)
    print(
        f"topology: {len(topo.cis):,} CIs, {len(topo.relations):,} relations, "
        f"{topo.cycles} planted cycles, {len(topo.tenants):,} CI tenants; {args.events:,} events "
        f"in requests of {args.batch}; generated in {time.perf_counter() - started:.1f} s"
    )
    fig = Figures()
    databases: list[tuple[str, AbstractContextManager[Database]]] = [("sqlite", sqlite_db())]
    if args.postgres:
        databases.append(("postgresql", postgresql_db(args.postgres)))
    expected: dict[int, str] | None = None
    for name, context in databases:
        with context as db:
            started = time.perf_counter()
            write(db, topo, args.tenants, args.providers)
            print(f"[{name}] written in {time.perf_counter() - started:.1f} s")
            engine, seconds = timed_load(db)
            fig.load.append(seconds)
            if expected is None:
                expected = correlator_suite(engine.corr, topo, batches, fig)
            wall, cpu = through_receive(db, engine, batches, args.profile)
            fig.rates[name] = args.events / wall, args.events / cpu
            same = engine.corr.state == expected
            fig.consistent = fig.consistent and same
            print(
                f"[{name}] events.receive, requests of {args.batch}: {args.events / wall:,.0f} "
                f"events/s ({args.events / cpu:,.0f} per CPU second), "
                f"{args.events / wall / fig.memory_rate:.3f}x the in-memory rate; "
                f"same final states as in memory: {'yes' if same else 'NO'}"
            )
            del engine
            gc.collect()
    summary(fig)
    return fig


if __name__ == "__main__":
    main()
