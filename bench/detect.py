"""Streaming Sigma matcher vs the Zircolite approach, all Windows rules of the SigmaHQ corpus.

Streaming: the SigmaHQ regression events (flattened), repeated to ``--events`` with a fresh
EventRecordID each, go one by one through ``RuleSet.match`` with every Windows rule loaded.

Baseline (same run), what Zircolite does: pySigma's SQLite backend with the Windows pipelines
(``sysmon_pipeline`` + ``windows_logsource_pipeline``: each query gets its Channel and, for
Sysmon categories, EventID condition: the pre-filter) converts the same rules to SQL; the
events are inserted into an in-memory SQLite table (one TEXT COLLATE NOCASE column per field,
as Zircolite does) with indexes on Channel and EventID, and every rule query runs over it. A
query naming a field no event has gets that column added (NULL everywhere: the field is absent,
as for the streaming matcher) and runs again; every query that still fails and every rule the
backend cannot convert is counted and printed. The baseline runs over ``--baseline-events``
events (each query scans the pre-filtered rows once, so its cost per event hardly depends on
the count), and both sides' (rule, event) matches on those events are compared: equal, or the
differences listed per rule.

Rule loading (streaming: parse and compile, or the compiled rule cache; SQLite: conversion) is
timed apart from evaluation.

    .venv/bin/python bench/detect.py [--events 1000000] [--baseline-events 20000]

Prints events/s per core (process CPU time, one process, one thread), peak memory
(ru_maxrss after each phase) and the ratio.
"""

from __future__ import annotations

import argparse
import copy
import re
import resource
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.pipelines.sysmon import sysmon_pipeline
from sigma.pipelines.windows import windows_logsource_pipeline

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


def windows_rules(cache_dir: Path | None = None) -> RuleSet:
    """Every Windows rule of the corpus (logsource product windows)."""
    full = RuleSet.from_dirs([CORPUS / d for d in RULE_DIRS], cache_dir=cache_dir)
    return RuleSet([r for r in full.rules if (r.logsource.get("product") or "") == "windows"])


def run_streaming(
    ruleset: RuleSet, base: list[dict[str, Any]], count: int, pairs: set[Pair] | None = None
) -> tuple[float, int]:
    """(CPU seconds, matches) for ``count`` events through the streaming matcher; the
    (rule id, event number) of each match go to ``pairs`` when given."""
    matches = 0
    started = time.process_time()
    for i, event in enumerate(replay(base, count)):
        found = ruleset.match(event)
        matches += len(found)
        if pairs is not None:
            pairs.update((r.id, i) for r in found)
    return time.process_time() - started, matches


Pair = tuple[str, int]  # (rule id, event number from 0)


def convert_sql(rules: list[CompiledRule]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(rule id, SQL) for every rule the SQLite backend converts with the Windows pipelines,
    and the reason of each rule it cannot convert."""
    backend = sqliteBackend(sysmon_pipeline() + windows_logsource_pipeline())
    queries: list[tuple[str, str]] = []
    failed: dict[str, str] = {}
    for rule in rules:
        try:
            # the pipelines rewrite the rule in place: convert a copy
            converted = backend.convert(SigmaCollection([copy.deepcopy(rule.sigma_rule)]))
        except Exception as exc:  # noqa: BLE001 - unconvertible rules are counted and printed
            failed[rule.id] = f"{type(exc).__name__}: {exc}"
            continue
        queries.extend((rule.id, q) for q in converted)
    return queries, failed


def _regexp(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


_SELECT = re.compile(r"^SELECT \* FROM logs\b", re.IGNORECASE)
_MISSING_COLUMN = re.compile(r"no such column: (.+)$")


def run_sqlite(
    queries: list[tuple[str, str]], base: list[dict[str, Any]], count: int, pairs: set[Pair]
) -> tuple[float, int, dict[str, str], int]:
    """(CPU seconds, matches, failed query reasons by rule, columns added) for the
    Zircolite-style evaluation; (rule id, event number) of each matching row go to ``pairs``."""
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
    conn.execute('CREATE INDEX logs_channel ON logs ("Channel")')
    conn.execute('CREATE INDEX logs_eventid ON logs ("EventID")')
    matches = added = 0
    failed: dict[str, str] = {}
    known = {c.lower() for c in columns}
    for rule_id, sql in queries:
        sql = _SELECT.sub("SELECT row_id FROM logs", sql)
        while True:
            try:
                rows = conn.execute(sql).fetchall()
            except sqlite3.Error as exc:
                missing = _MISSING_COLUMN.search(str(exc))
                name = missing.group(1).strip('"') if missing else None
                if name is not None and name.lower() not in known:
                    conn.execute(f'ALTER TABLE logs ADD COLUMN "{name}" TEXT COLLATE NOCASE')
                    known.add(name.lower())
                    added += 1
                    continue
                failed[rule_id] = str(exc)
                break
            matches += len(rows)
            pairs.update((rule_id, row_id - 1) for (row_id,) in rows)
            break
    conn.close()
    return time.process_time() - started, matches, failed, added


def _print_reasons(title: str, reasons: dict[str, str], limit: int) -> None:
    """Every failure counted, grouped by reason (first ``limit`` groups shown)."""
    by_reason: dict[str, list[str]] = {}
    for rule_id, reason in reasons.items():
        by_reason.setdefault(reason[:120], []).append(rule_id)
    print(f"{title}: {len(reasons)}")
    ranked = sorted(by_reason.items(), key=lambda kv: -len(kv[1]))
    for reason, rule_ids in ranked[:limit]:
        print(f"  {len(rule_ids):5} x {reason}  (e.g. {rule_ids[0]})")
    if len(ranked) > limit:
        print(f"  ... {len(ranked) - limit} more reasons (--show-all)")


def compare(
    streaming: set[Pair], sqlite: set[Pair], titles: dict[str, str], limit: int
) -> tuple[int, int]:
    """Print the (rule, event) matches only one side found, per rule; (only streaming, only
    SQLite)."""
    only_stream, only_sql = streaming - sqlite, sqlite - streaming
    per_rule: dict[str, list[int]] = {}
    for rule_id, _ in only_stream:
        per_rule.setdefault(rule_id, [0, 0])[0] += 1
    for rule_id, _ in only_sql:
        per_rule.setdefault(rule_id, [0, 0])[1] += 1
    common = len(streaming & sqlite)
    print(
        f"same events: {common:,} matches on both sides, {len(only_stream):,} only streaming, "
        f"{len(only_sql):,} only SQLite, over {len(per_rule)} rules"
    )
    for rule_id, (a, b) in sorted(per_rule.items(), key=lambda kv: -sum(kv[1]))[:limit]:
        print(f"  {rule_id}  streaming-only {a:5}  sqlite-only {b:5}  {titles.get(rule_id, '')}")
    if len(per_rule) > limit:
        print(f"  ... {len(per_rule) - limit} more rules (--show-all)")
    return len(only_stream), len(only_sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline-events", type=int, default=20_000)
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="load the rules through this rule cache"
    )
    parser.add_argument("--show-all", action="store_true", help="every reason and difference")
    args = parser.parse_args()
    limit = 10**9 if args.show_all else 15

    t0 = time.perf_counter()
    ruleset = windows_rules(args.cache_dir)
    load_s = time.perf_counter() - t0
    base = corpus_events()
    print(
        f"rules: {len(ruleset)} Windows rules loaded in {load_s:.1f}s "
        f"({'rule cache' if args.cache_dir else 'parsed from source'}); "
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
        "(sysmon + windows_logsource pipelines)"
    )
    _print_reasons("sqlite: rules not convertible", unconvertible, limit)
    n = min(args.baseline_events, args.events)
    sql_pairs: set[Pair] = set()
    seconds, sql_matches, failed, added = run_sqlite(queries, base, n, sql_pairs)
    sql_eps = n / seconds
    stream_pairs: set[Pair] = set()
    check_s, check = run_streaming(ruleset, base, n, stream_pairs)
    print(
        f"sqlite:    {n:,} events in {seconds:.1f}s CPU = {sql_eps:,.0f} events/s per core "
        f"(insert, index, {len(queries)} queries); {sql_matches:,} matches; {added} absent "
        f"fields added as NULL columns; peak RSS {peak_mb():,.0f} MB"
    )
    _print_reasons("sqlite: queries that failed", failed, limit)
    print(f"streaming on the same {n:,} events: {check_s:.1f}s CPU, {check:,} matches")
    compare(stream_pairs, sql_pairs, {r.id: r.title for r in ruleset.rules}, limit)
    print(f"ratio: streaming is {stream_eps / sql_eps:.1f}x the SQLite approach")


if __name__ == "__main__":
    main()
