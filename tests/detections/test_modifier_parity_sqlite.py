"""Property tests: the streaming matcher's value modifiers agree with pySigma's SQLite backend
(the embedded store's query language) on random values, Zircolite-style NOCASE columns."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.collection import SigmaCollection
from sigma.rule import SigmaRule

from detections.engine import CompiledRule

sqlite_backend = pytest.importorskip("sigma.backends.sqlite")

# ASCII only: SQLite's NOCASE folds ASCII letters only (see README, Detections).
TEXT = st.text(alphabet="aAbBz%_.- \\", max_size=8)
PATTERN = st.text(alphabet="aAbBz%_.- *?", min_size=1, max_size=6)
MODIFIERS = ["", "|contains", "|startswith", "|endswith"]


def rule_for(field: str, values: Any) -> SigmaRule:
    return SigmaRule.from_dict(
        {
            "title": "property",
            "logsource": {"product": "windows", "category": "process_creation"},
            "detection": {"sel": {field: values}, "condition": "sel"},
        }
    )


def sqlite_matches(rule: SigmaRule, value: str) -> bool:
    backend = sqlite_backend.sqliteBackend()
    (query,) = backend.convert(SigmaCollection([rule]))
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE logs (Field TEXT COLLATE NOCASE)")
    conn.execute("INSERT INTO logs VALUES (?)", (value,))
    found = conn.execute(query).fetchall()
    conn.close()
    return bool(found)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=TEXT, pattern=PATTERN, modifier=st.sampled_from(MODIFIERS))
def test_string_modifiers_agree(value: str, pattern: str, modifier: str) -> None:
    rule = rule_for("Field" + modifier, pattern)
    assert CompiledRule.from_sigma(rule).matches({"Field": value}) == sqlite_matches(rule, value)


@settings(max_examples=150, deadline=None)
@given(value=TEXT, patterns=st.lists(PATTERN, min_size=1, max_size=3))
def test_contains_all_agrees(value: str, patterns: list[str]) -> None:
    rule = rule_for("Field|contains|all", patterns)
    assert CompiledRule.from_sigma(rule).matches({"Field": value}) == sqlite_matches(rule, value)


@settings(max_examples=150, deadline=None)
@given(
    value=TEXT,
    patterns=st.lists(PATTERN, min_size=2, max_size=8),
    modifier=st.sampled_from(MODIFIERS),
)
def test_value_lists_agree(value: str, patterns: list[str], modifier: str) -> None:
    """Lists of values are OR-ed (the matcher merges them into one predicate)."""
    rule = rule_for("Field" + modifier, patterns)
    assert CompiledRule.from_sigma(rule).matches({"Field": value}) == sqlite_matches(rule, value)
