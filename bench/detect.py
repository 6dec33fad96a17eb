"""Streaming Sigma matcher vs the Zircolite approach, all Windows rules of the SigmaHQ corpus.

Streaming: the SigmaHQ regression events (flattened), repeated to ``--events`` with a fresh
EventRecordID each, go one by one through ``RuleSet.match`` with every Windows rule loaded.
Baseline (same run): pySigma's SQLite backend converts the same rules to SQL; the events are
inserted into an in-memory SQLite table (one TEXT COLLATE NOCASE column per field, as Zircolite
does) and every rule query runs over it. The baseline runs over ``--baseline-events`` events
(it scans the table once per rule, so its cost per event does not depend on the count).

    .venv/bin/python bench/detect.py [--events 1000000] [--baseline-events 20000]

Prints events/s per core (process CPU time, one process, one thread), peak memory
(ru_maxrss after each phase) and the ratio.
"""

from __future__ import annotations

import argparse
import re
import resource
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection

from detections.engine import CompiledRule, RuleSet
from ingest.files import iter_events_from_file

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "sigmahq"
RULE_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")


def peak_mb() -> float:
    """Peak resident set size of this process so far, in MB (10^6 bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def corpus_events() -> list[dict[str, Any]]:
    """Flattened events of every regression sample (.json)."""
    events: list[dict[str, Any]] = []
    for path in sorted((CORPUS / "regression_data").rglob("*.json")):
        events.extend(iter_events_from_file(path))
    return events


def replay(base: list[dict[str, Any]], count: int) -> Iterator[dict[str, Any]]:
    """``count`` events cycling over ``base``, each with its own EventRecordID."""
    n = len(base)
    for i in range(count):
        event = dict(base[i % n])
        event["EventRecordID"] = 10_000_000 + i
        yield event


def windows_rules() -> RuleSet:
    """Every Windows rule of the corpus (logsource product windows)."""
    full = RuleSet.from_dirs([CORPUS / d for d in RULE_DIRS])
    return RuleSet([r for r in full.rules if (r.logsource.get("product") or "") == "windows"])


def run_streaming(ruleset: RuleSet, base: list[dict[str, Any]], count: int) -> tuple[float, int]:
    """(CPU seconds, matches) for ``count`` events through the streaming matcher."""
    matches = 0
    started = time.process_time()
    for event in replay(base, count):
        matches += len(ruleset.match(event))
    return time.process_time() - started, matches


def convert_sql(rules: list[CompiledRule]) -> tuple[list[tuple[str, str]], int]:
    """(rule id, SQL) for every rule the pySigma SQLite backend converts; failures counted."""
    backend = sqliteBackend()
    queries: list[tuple[str, str]] = []
    failed = 0
    for rule in rules:
        try:
            converted = backend.convert(SigmaCollection([rule.sigma_rule]))
        except Exception:  # noqa: BLE001 - unconvertible rules are only counted
            failed += 1
            continue
        queries.extend((rule.id, q) for q in converted)
    return queries, failed


def _regexp(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


def run_sqlite(
    queries: list[tuple[str, str]], base: list[dict[str, Any]], count: int
) -> tuple[float, int, int]:
    """(CPU seconds, matches, queries that failed) for the Zircolite-style evaluation."""
    started = time.process_time()
    conn = sqlite3.connect(":memory:")
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    columns = sorted({k for e in base for k in e})
    col_sql = ", ".join(f'"{c}" TEXT COLLATE NOCASE' for c in columns)
    conn.execute(f"CREATE TABLE logs (row_id INTEGER PRIMARY KEY, {col_sql})")
    marks = ", ".join("?" for _ in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    conn.executemany(
        f"INSERT INTO logs ({names}) VALUES ({marks})",
        (
            [None if e.get(c) is None else str(e.get(c)) for c in columns]
            for e in replay(base, count)
        ),
    )
    matches = failed = 0
    for _rule_id, sql in queries:
        try:
            matches += len(conn.execute(sql).fetchall())
        except sqlite3.Error:
            failed += 1  # e.g. a field no event has: Zircolite skips such rules too
    conn.close()
    return time.process_time() - started, matches, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline-events", type=int, default=20_000)
    args = parser.parse_args()

    t0 = time.perf_counter()
    ruleset = windows_rules()
    base = corpus_events()
    print(
        f"rules: {len(ruleset)} Windows rules loaded in {time.perf_counter() - t0:.1f}s; "
        f"{len(base)} distinct corpus events, replayed to {args.events:,}"
    )
    seconds, matches = run_streaming(ruleset, base, args.events)
    stream_eps = args.events / seconds
    stream_peak = peak_mb()
    print(
        f"streaming: {args.events:,} events in {seconds:.1f}s CPU = {stream_eps:,.0f} events/s "
        f"per core; {matches:,} matches; peak RSS {stream_peak:,.0f} MB"
    )

    t0 = time.perf_counter()
    queries, unconvertible = convert_sql(ruleset.rules)
    print(
        f"sqlite: {len(queries)} queries converted in {time.perf_counter() - t0:.1f}s "
        f"({unconvertible} rules not convertible)"
    )
    n = min(args.baseline_events, args.events)
    seconds, sql_matches, failed = run_sqlite(queries, base, n)
    sql_eps = n / seconds
    _, check = run_streaming(ruleset, base, n)
    print(
        f"sqlite:    {n:,} events in {seconds:.1f}s CPU = {sql_eps:,.0f} events/s per core; "
        f"{sql_matches:,} matches (streaming on the same events: {check:,}); "
        f"{failed} queries failed; peak RSS {peak_mb():,.0f} MB"
    )
    print(f"ratio: streaming is {stream_eps / sql_eps:.1f}x the SQLite approach")


if __name__ == "__main__":
    main()
