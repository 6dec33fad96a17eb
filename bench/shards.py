"""Shard count of a year of events: the store's period/generation scheme against one index per
tenant per day, for a seeded log-normal spread of tenant volumes.

    .venv/bin/python bench/shards.py [--tenants 1000] [--replicas 1] [--seed 17]

Uses the store's own functions (ingest.store.lifecycle), so the figures follow the code.
"""

from __future__ import annotations

import argparse
import math
import random

from ingest.store import lifecycle

MAX_SHARDS_PER_NODE = 1000  # cluster.max_shards_per_node's default


def tenant_volumes(tenants: int, seed: int) -> list[float]:
    """Primary GB per month: log-normal around ~1.5 GB (most below 10 GB), a few at TB"""
    rng = random.Random(seed)
    return [min(rng.lognormvariate(math.log(1.5), 2.2), 5000.0) for _ in range(tenants)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--primary-gb", type=float, default=lifecycle.DEFAULT_PRIMARY_GB)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    volumes = tenant_volumes(args.tenants, args.seed)
    per_month = [gb * lifecycle.GB for gb in volumes]
    classes = {"month": 0, "week": 0, "day": 0}
    for b in per_month:
        classes[lifecycle.period_for(b, args.primary_gb)] += 1
    copies = 1 + args.replicas
    new = sum(lifecycle.indices_per_year(b, args.primary_gb) for b in per_month) * copies
    old = sum(lifecycle.daily_indices_per_year(b) for b in per_month) * copies
    ordered = sorted(volumes)
    print(
        f"{args.tenants} tenants, GB/month: median {ordered[len(ordered) // 2]:.1f}, "
        f"p90 {ordered[int(len(ordered) * 0.9)]:.1f}, max {ordered[-1]:.0f}, "
        f"below 10 GB: {sum(v < 10 for v in volumes)}, at or above 1 TB: "
        f"{sum(v >= 1024 for v in volumes)}"
    )
    print(
        f"size classes: month {classes['month']}, week {classes['week']}, day {classes['day']}; "
        f"12 months, replicas {args.replicas}, primary target {args.primary_gb:g} GB"
    )
    print(f"{'scheme':<18}{'shards':>10}{'3 nodes':>10}{'6 nodes':>10}{'12 nodes':>10}")
    for name, total in (("daily (before)", old), ("period (now)", new)):
        cells = "".join(f"{math.ceil(total / n):>10}" for n in (3, 6, 12))
        print(f"{name:<18}{total:>10}{cells}")
    print(f"limit per node (cluster.max_shards_per_node default): {MAX_SHARDS_PER_NODE}")
    print(f"ratio daily/period: {old / new:.1f}x")


if __name__ == "__main__":
    main()
