"""The incremental update (one alert at a time) always agrees with a full recompute, on
random topologies with clusters, cycles and maintenance: the property the status engine's
per-event path rests on."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from soc.cmdb.rules import APPLICATION, Correlator

TYPES = [APPLICATION, "vm", "server", "cluster", "database"]
RELS = ["depends_on", "runs_on", "hosted_in", "member_of", "connects_to"]
SEVERITIES = ["critical", "major", "minor", "warning", "info"]


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list, list, list, list]:
    n = draw(st.integers(2, 14))
    cis = [(i, draw(st.sampled_from(TYPES)), draw(st.none() | st.integers(0, 3))) for i in range(n)]
    rels = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.sampled_from(RELS)),
            max_size=n * 3,
        )
    )
    steps = draw(
        st.lists(
            st.one_of(
                st.tuples(
                    st.just("alert"),
                    st.integers(0, 6),
                    st.integers(0, n - 1),
                    st.sampled_from(SEVERITIES),
                    st.booleans(),
                ),
                st.tuples(st.just("maint"), st.integers(0, n - 1), st.booleans()),
            ),
            min_size=1,
            max_size=25,
        )
    )
    return cis, rels, steps, []


def build(cis: list, rels: list) -> Correlator[int]:
    corr: Correlator[int] = Correlator()
    for ci, kind, min_healthy in cis:
        corr.add_ci(ci, kind, min_healthy=min_healthy, tenants=[ci % 3])
    for source, target, kind in rels:
        corr.add_relation(source, target, kind)
    corr.finalize()
    return corr


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_incremental_equals_full_recompute(case: tuple[list, list, list, list]) -> None:
    cis, rels, steps, _ = case
    live = build(cis, rels)
    for step in steps:
        if step[0] == "alert":
            _, fingerprint, ci, severity, firing = step
            changes = live.update(live.apply_alert(fingerprint, ci, severity, firing))
        else:
            _, ci, active = step
            live.set_maintenance(ci, active)
            changes = live.update([ci])
        fresh = build(cis, rels)
        for fingerprint, (ci, severity) in live.alerts.items():
            fresh.apply_alert(fingerprint, ci, severity, True)
        for ci in live.maintenance:
            fresh.set_maintenance(ci, True)
        fresh.finalize()
        assert live.state == fresh.state
        assert live.roots == fresh.roots
        assert all(c.previous != c.state for c in changes)
        for app in live.applications():
            assert live.root_causes(app) == fresh.root_causes(app)
        for ci in live.ci_type:  # the memoised walk and the path search agree
            assert live.root_causes(ci) == sorted(live.root_paths(ci))
        assert live.incidents() == fresh.incidents()
