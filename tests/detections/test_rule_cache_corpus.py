"""The whole SigmaHQ corpus through the compiled rule-set cache: the rule set rebuilt from the
cache is the one parsed from source (rules, errors, matches on every regression event, the
regression samples' verdicts, the pySigma rules behind retro-hunts)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from detections.engine import EventContext, RuleSet, normalise_event
from detections.hunting import HuntRule
from ingest.files import iter_events_from_file
from tests.detections import test_corpus_regression
from tests.detections.conftest import CORPUS, REGRESSION, RULE_DIRS, corpus_available

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not corpus_available(), reason="SigmaHQ corpus not available"),
]


@pytest.fixture(scope="module")
def loads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RuleSet, RuleSet]]:
    """(from source, filling the cache; rebuilt from the cache)."""
    cache_dir = tmp_path_factory.mktemp("rule-cache")
    dirs = [CORPUS / d for d in RULE_DIRS]
    cold = RuleSet.from_dirs(dirs, cache_dir=cache_dir)
    warm = RuleSet.from_dirs(dirs, cache_dir=cache_dir)
    assert (cold.load_origin, warm.load_origin) == ("source", "cache")
    # Two corpora are millions of long-lived objects: keep the collector from rescanning them
    # at every comparison (it would triple this module's time).
    gc.freeze()
    yield cold, warm
    gc.unfreeze()


def test_cached_corpus_is_the_parsed_corpus(loads: tuple[RuleSet, RuleSet]) -> None:
    cold, warm = loads
    assert len(warm) > 3000
    assert [r.to_data() for r in warm.rules] == [r.to_data() for r in cold.rules]
    assert [r.source for r in warm.rules] == [r.source for r in cold.rules]
    assert warm.errors == cold.errors
    assert [c.id for c in warm.correlations] == [c.id for c in cold.correlations]
    # the point of the cache (generous bound: CI machines are shared)
    assert warm.load_seconds is not None and cold.load_seconds is not None
    assert warm.load_seconds < cold.load_seconds


def test_same_matches_on_every_regression_event(loads: tuple[RuleSet, RuleSet]) -> None:
    cold, warm = loads
    files = sorted(p for p in REGRESSION.rglob("*") if p.suffix in (".json", ".evtx"))
    assert len(files) > 150
    fired = 0
    for n, path in enumerate(files):
        for event in iter_events_from_file(path):
            expected = [r.id for r in cold.match(event)]
            assert [r.id for r in warm.match(event)] == expected, path
            fired += len(expected)
            if n % 12 == 0:  # every rule's own predicate too, not only the index's candidates
                ctx = EventContext(normalise_event(event))
                cached = [i for i, r in enumerate(warm.rules) if r._matcher(ctx)]
                assert cached == [i for i, r in enumerate(cold.rules) if r._matcher(ctx)], path
    assert fired > 300


def test_regression_samples_fire_from_the_cache(loads: tuple[RuleSet, RuleSet]) -> None:
    test_corpus_regression.test_regression_samples_fire(loads[1])


def test_pysigma_rules_behind_cached_rules(loads: tuple[RuleSet, RuleSet]) -> None:
    cold, warm = loads
    picked = [i for i, r in enumerate(cold.rules) if "|re" in Path(r.source or "").read_text()]
    picked = picked[:5] + list(range(0, len(cold.rules), 400))
    for i in picked:
        assert warm.rules[i].parsed_rule is None
        assert HuntRule(warm.rules[i]).lucene == HuntRule(cold.rules[i]).lucene
