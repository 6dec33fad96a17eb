"""Rule loading of the whole SigmaHQ corpus (rules, rules-emerging-threats, rules-threat-hunting):
warm (compiled rule-set cache hit), cold (empty cache: parse, compile, write the entry), from
source without a cache, and as before the cache existed (pySigma's pure-Python YAML parser,
the garbage collector running during the load).

Every figure is one fresh process (a new interpreter, as a `soc detect` run or a worker start
is), so nothing is warm in memory; the modes are interleaved run by run to spread the noise of
a shared machine. Per mode: the load's wall and CPU time (``RuleSet.from_dirs``) and the
process's CPU time including the imports, as min-max over the runs. ``--detect`` also times
whole `soc detect` runs on one small regression sample, warm and with ``--no-cache``.

    .venv/bin/python bench/rule_load.py [--runs 5] [--detect]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "sigmahq"
RULE_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
MODES = ("before", "source", "cold", "warm")
SAMPLE = (
    CORPUS
    / "regression_data"
    / "rules"
    / "windows"
    / "builtin"
    / "security"
    / "win_security_susp_scheduled_task_delete_or_disable"
)


def child(mode: str, cache_dir: str) -> None:
    """One load in this (fresh) process; prints its figures as JSON."""
    cpu0 = time.process_time()
    import yaml

    from detections.engine import RuleSet, loader, ruleset

    if mode == "before":
        loader._FAST_LOADER = yaml.SafeLoader  # what SigmaCollection.from_yaml uses
        ruleset._collector_paused = contextlib.nullcontext  # type: ignore[assignment]
    dirs = [CORPUS / d for d in RULE_DIRS]
    wall, cpu = time.perf_counter(), time.process_time()
    rs = RuleSet.from_dirs(dirs, cache_dir=cache_dir if mode in ("cold", "warm") else None)
    figures = {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "process_cpu": time.process_time() - cpu0,
        "rules": len(rs.rules),
        "errors": len(rs.errors),
        "origin": rs.load_origin,
    }
    print(json.dumps(figures))


def _run_child(mode: str, cache_dir: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(cache_dir)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time_detect(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) of one whole `soc detect` process."""
    cpu, wall = _children_cpu(), time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "soc"), "detect", "--quiet", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - wall, _children_cpu() - cpu


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--detect", action="store_true", help="also time whole `soc detect` runs")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "CACHE_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    results: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        warm_dir = Path(tmp) / "warm"
        _run_child("cold", warm_dir)  # fills the entry the warm runs read
        entry = next(warm_dir.iterdir())
        for run in range(args.runs):
            for mode in MODES:
                cache_dir = warm_dir if mode == "warm" else Path(tmp) / f"cold-{run}"
                figures = _run_child(mode, cache_dir)
                expected = "cache" if mode == "warm" else "source"
                assert figures["origin"] == expected, (mode, figures)
                results[mode].append(figures)
        counts = {(r["rules"], r["errors"]) for rs in results.values() for r in rs}
        assert len(counts) == 1, f"the modes loaded different rule sets: {counts}"
        ((rules, errors),) = counts
        print(
            f"{rules} rules ({errors} unusable) from {len(RULE_DIRS)} corpus folders; "
            f"{args.runs} fresh processes per mode; cache entry {entry.stat().st_size / 1e6:.1f} MB"
        )
        labels = {
            "before": "before the cache (pure-Python YAML, GC on)",
            "source": "from source, no cache",
            "cold": "cold (parse, compile, write entry)",
            "warm": "warm (cache hit)",
        }
        print(f"{'mode':44} {'load wall s':>12} {'load CPU s':>12} {'process CPU s':>14}")
        for mode in MODES:
            rows = results[mode]
            print(
                f"{labels[mode]:44} {_span([r['wall'] for r in rows]):>12} "
                f"{_span([r['cpu'] for r in rows]):>12} "
                f"{_span([r['process_cpu'] for r in rows]):>14}"
            )
        best = {mode: min(r["cpu"] for r in results[mode]) for mode in MODES}
        print(
            f"load CPU ratio (best runs): cold {best['before'] / best['cold']:.1f}x, "
            f"warm {best['before'] / best['warm']:.1f}x faster than before"
        )
        if args.detect:
            env = {**os.environ, "SOC_RULE_CACHE_DIR": str(warm_dir)}
            rule_args = [a for d in RULE_DIRS for a in ("--rules", str(CORPUS / d))]
            events = [str(p) for p in sorted(SAMPLE.glob("*.json"))]
            timed: dict[str, list[tuple[float, float]]] = {"warm": [], "no-cache": []}
            for _ in range(args.runs):
                timed["warm"].append(_time_detect([*rule_args, *events], env))
                timed["no-cache"].append(_time_detect(["--no-cache", *rule_args, *events], env))
            for name, pairs in timed.items():
                walls, cpus = _span([w for w, _ in pairs]), _span([c for _, c in pairs])
                print(
                    f"soc detect, one sample file, {name:8}: wall {walls} s, CPU {cpus} s "
                    "(whole process, imports included)"
                )


if __name__ == "__main__":
    main()
