"""The CMDB benchmark runs end to end on a small topology (`--quick`), and its own checks hold:
incremental states equal a full recompute, the memoised root causes equal the per-CI walk, and
the database path ends in the same states as the correlator alone."""

from __future__ import annotations

import pytest

from bench.cmdb import main


def test_quick_bench_runs_and_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    figures = main(["--quick", "--events", "400"])
    out = capsys.readouterr().out
    assert figures.consistent
    assert "incremental == full recompute: yes" in out
    assert "memoised root causes == root_paths walk: yes" in out
    assert "same final states as in memory: yes" in out
    assert figures.p50 > 0 and figures.recompute > 0
    assert figures.rates["sqlite"][0] > 0 and figures.memory_rate > 0
