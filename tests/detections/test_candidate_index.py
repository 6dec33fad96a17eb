"""The literal/EventID candidate index never changes results: indexed matching equals
evaluating every rule of the log source."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from detections.engine import RuleSet
from ingest.files import iter_events_from_file
from tests.detections.conftest import REGRESSION


def test_index_equals_full_evaluation_on_corpus(corpus_ruleset: RuleSet) -> None:
    events = [e for p in sorted(REGRESSION.rglob("*.json")) for e in iter_events_from_file(p)]
    assert events
    for event in events:
        assert [r.id for r in corpus_ruleset.match(event)] == [
            r.id for r in corpus_ruleset.match_all(event)
        ]


RULES = RuleSet.from_rules(
    [
        f"title: r{i}\nlogsource: {{product: windows, category: process_creation}}\n"
        f"detection:\n{body}\n"
        for i, body in enumerate(
            [
                "  a: {CommandLine|contains|all: [' -enc ', 'powershell']}\n  condition: a",
                "  a: {Image|endswith: ['\\\\cmd.exe', '\\\\pwsh.exe']}\n"
                "  b: {CommandLine|re: '(?i)whoami\\s+/all'}\n  condition: a or b",
                "  a: {EventID: 1, User|startswith: 'NT AUTHORITY'}\n  condition: a",
                "  a: ['mimikatz', 'sekurlsa']\n  condition: a",
                "  a: {CommandLine|contains: 'ſ'}\n  condition: a",
            ]
        )
    ]
)
WORDS = st.sampled_from(
    [
        "powershell",
        " -ENC ",
        "C:\\x\\CMD.EXE",
        "\\pwsh.exe",
        "WHOAMI  /ALL",
        "nt authority",
        "MimiKatz",
        "sekurlsa",
        "ſ",
        "İ",
        "x",
        "",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    cmd=st.lists(WORDS, max_size=4).map("".join),
    image=st.lists(WORDS, max_size=2).map("".join),
    user=st.lists(WORDS, max_size=2).map("".join),
)
def test_index_is_exact_on_random_events(cmd: str, image: str, user: str) -> None:
    event = {
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "EventID": 1,
        "CommandLine": cmd,
        "Image": image,
        "User": user,
    }
    assert [r.title for r in RULES.match(event)] == [r.title for r in RULES.match_all(event)]
