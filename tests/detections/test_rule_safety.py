"""Rule safety: regular expressions and wildcards run in linear time (RE2) with Python `re`'s
meaning; a tenant rule RE2 cannot run is refused at upload; a new tenant rule is dry-run over
the tenant's recent events and refused above the match-rate limit unless forced."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detections.engine import RuleSet, safe_regex
from detections.tenant_view import compile_tenant_rule
from soc.core.errors import Invalid
from tests.conftest import World
from tests.helpers import benign_event, key_headers, ndjson

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE = "/api/v1/rules"
CATASTROPHIC = "^(a+)+$"
EVIL_VALUE = "a" * 30 + "!"  # 31 characters: 86 s on Python's backtracking `re`


def regex_rule(pattern: str, rule_id: str = "7f3c9a52-4d1e-4b8a-9c61-2a5e8d0b0001") -> str:
    quoted = pattern.replace("'", "''")
    return f"""title: Regex tenant rule
id: {rule_id}
status: test
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        CommandLine|re: '{quoted}'
    condition: selection
level: high
"""


def test_catastrophic_regex_is_linear_in_the_engine() -> None:
    """In a child process with a deadline: Python's `re` would take minutes and cannot be
    interrupted in-process."""
    code = (
        "import time\n"
        "from detections.engine import RuleSet\n"
        "from detections.tenant_view import compile_tenant_rule\n"
        "from tests.detections.test_rule_safety import regex_rule, EVIL_VALUE, CATASTROPHIC\n"
        "shipped = RuleSet.from_rules([regex_rule(CATASTROPHIC)]).rules[0]\n"
        "tenant = compile_tenant_rule(regex_rule(CATASTROPHIC))\n"
        "start = time.perf_counter()\n"
        "for rule in (shipped, tenant):\n"
        "    assert rule.matches({'CommandLine': EVIL_VALUE}) is False\n"
        "    assert rule.matches({'CommandLine': 'a' * 31}) is True\n"
        "print(time.perf_counter() - start)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.strip().splitlines()[-1]) < 1.0


def test_many_wildcards_do_not_backtrack() -> None:
    """`*a*a*b` is `.*a.*a.*b` in `re`: polynomial backtracking on a long value without the
    `b` (seconds for 1,500 characters, hours for an event field of a megabyte)."""
    rule = RuleSet.from_rules(
        [regex_rule("x").replace("CommandLine|re: 'x'", "CommandLine: '*a*a*b'")]
    ).rules[0]
    start = time.perf_counter()
    assert rule.matches({"CommandLine": "a" * 1_500}) is False
    assert rule.matches({"CommandLine": "xaaB"}) is True  # values match case-insensitively
    assert time.perf_counter() - start < 1.0


# Patterns whose RE2 form must mean exactly what Python's `re` means: Unicode classes, `$`
# before a final newline, case folding beyond ASCII (K/k/Kelvin, s/ſ, i/İ), scoped flags.
PATTERNS = [
    (r"APT\d", 0),
    (r"-(W|R)\s?(\s|\"|')([0-9a-fA-F]{2}\s?){2,20}(\s|\"|')", 0),
    (r"^[A-Za-z0-9]{16}$", 0),
    (r"(?i)(set).*&&\s?set.*(environment|invoke|\$?\{?input).*&&.*\"", 0),
    (r"\w+\.exe$", 0),
    (r"^\s*cmd\s+/c\b", 0),
    (r"[^\w\s]{3,}", 0),
    (r"(?i)kelvin|strasse|istanbul", 0),
    (r"(?i:ab)C[^x]+?d", 0),
    (r"^Invoke-\w+$", re.MULTILINE),
    (r"begin.+end", re.DOTALL),
    (r"(?i)[a-f0-9]{8}-[a-f0-9]{4}", 0),
    (r"\bnet\b\s+user", re.IGNORECASE),
    (r"(?a)\w+\d$", 0),
]
EXTRA = ["\n", "é", "İ", "ı", "ſ", "K", "٠", "\xa0", "\x0b", "\x1c", "A", " ", "_", "\u2028"]


@pytest.mark.parametrize(("pattern", "flags"), PATTERNS)
def test_re2_form_means_what_python_means(pattern: str, flags: int) -> None:
    python = re.compile(pattern, flags)
    ours = safe_regex.compile_search(pattern, flags)

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(text=st.from_regex(python), extra=st.sampled_from(EXTRA), where=st.integers(0, 40))
    def agree(text: str, extra: str, where: int) -> None:
        for s in (text, text + extra, text[:where] + extra + text[where:], text.upper()):
            assert ours(s) == (python.search(s) is not None), (pattern, s)

    agree()


def test_tenant_rule_regex_re2_cannot_run_is_refused_naming_the_field() -> None:
    with pytest.raises(Invalid) as refused:
        compile_tenant_rule(regex_rule(r"(?<=user )admin"))
    message = refused.value.message
    assert "CommandLine|re" in message and "(?<=user )admin" in message
    assert "linear-time" in message


def test_untrusted_compile_never_falls_back_to_python_re() -> None:
    with pytest.raises(safe_regex.UnsafeRegex), safe_regex.untrusted():
        safe_regex.compile_search(r"(a)\1")
    assert safe_regex.compile_search(r"(a)\1")("aa") is True  # a shipped rule may


def ingest(client: TestClient, world: World, tenant: str, *events: dict) -> float:
    start = time.perf_counter()
    answer = client.post(
        "/api/v1/ingest", content=ndjson(*events), headers=key_headers(world.keys[tenant])
    )
    assert answer.status_code == 200, answer.text
    return time.perf_counter() - start


def test_catastrophic_tenant_rule_upload_is_safe_and_ingest_stays_fast(
    client: TestClient, world: World
) -> None:
    analyst = world["soc_analyst"].headers
    stored = client.post(
        f"{BASE}/tenant-rules?tenant=alpha",
        json={"yaml": regex_rule(CATASTROPHIC)},
        headers=analyst,
    )
    assert stored.status_code == 200, stored.text
    evil = benign_event(1) | {"CommandLine": EVIL_VALUE}
    assert ingest(client, world, "alpha", evil) < 1.0
    refused = client.post(
        f"{BASE}/tenant-rules?tenant=alpha",
        json={"yaml": regex_rule(r"(\w+)\s\1", "7f3c9a52-4d1e-4b8a-9c61-2a5e8d0b0002")},
        headers=analyst,
    )
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "invalid" and "CommandLine|re" in body["detail"]
    assert "(\\w+)\\s\\1" in body["detail"]


MATCH_ALL = """title: Every notepad
id: 7f3c9a52-4d1e-4b8a-9c61-2a5e8d0b0010
status: test
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '.exe'
    condition: selection
level: critical
"""
NARROW = MATCH_ALL.replace("0010", "0011").replace("'.exe'", "'\\\\mimikatz.exe'")


def test_match_all_rule_is_refused_by_its_dry_run_unless_forced(
    client: TestClient, world: World
) -> None:
    analyst = world["soc_analyst"].headers
    ingest(client, world, "alpha", *[benign_event(n) for n in range(120)])
    refused = client.post(
        f"{BASE}/tenant-rules?tenant=alpha", json={"yaml": MATCH_ALL}, headers=analyst
    )
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "matches 120 of the tenant's 120" in detail and "force=true" in detail
    # nothing was stored
    assert (
        client.get(
            f"{BASE}/7f3c9a52-4d1e-4b8a-9c61-2a5e8d0b0010?tenant=alpha", headers=analyst
        ).status_code
        == 404
    )

    forced = client.post(
        f"{BASE}/tenant-rules?tenant=alpha",
        json={"yaml": MATCH_ALL, "force": True},
        headers=analyst,
    )
    assert forced.status_code == 200, forced.text
    answer = forced.json()
    assert answer["changed"] is True and answer["warnings"]
    assert answer["dry_run"] | {"limit": None} == {
        "days": 7,
        "sampled": 120,
        "matched": 120,
        "rate": 1.0,
        "limit": None,
        "min_events": 100,
        "over_limit": True,
        "forced": True,
    }

    narrow = client.post(
        f"{BASE}/tenant-rules?tenant=alpha", json={"yaml": NARROW}, headers=analyst
    )
    assert narrow.status_code == 200, narrow.text
    assert narrow.json()["dry_run"]["matched"] == 0 and not narrow.json()["warnings"]
    # beta has no events: nothing to judge by, so nothing refused
    beta = client.post(
        f"{BASE}/tenant-rules?tenant=beta", json={"yaml": MATCH_ALL}, headers=analyst
    )
    assert beta.status_code == 200 and beta.json()["dry_run"]["sampled"] == 0


def test_exception_regex_runs_in_linear_time_and_refuses_what_re2_cannot() -> None:
    from detections.exceptions import ExceptionFilter, normalise_conditions

    conditions = normalise_conditions(
        [{"field": "CommandLine", "modifier": "re", "value": CATASTROPHIC}]
    )
    flt = ExceptionFilter.build(1, conditions, None)
    start = time.perf_counter()
    assert not flt.holds(_ctx({"CommandLine": EVIL_VALUE}))
    assert flt.holds(_ctx({"CommandLine": "a" * 31}))
    assert time.perf_counter() - start < 1.0
    with pytest.raises(Invalid, match="linear time"):
        normalise_conditions([{"field": "CommandLine", "modifier": "re", "value": "(?<=x)y"}])


def _ctx(event: dict) -> object:
    from detections.engine import _Ctx

    return _Ctx(event)
