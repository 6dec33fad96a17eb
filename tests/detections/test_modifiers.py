"""Unit tests of the value modifiers / types with small inline Sigma rules."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from detections.engine import CompiledRule, RuleSet

HEADER = """
title: test rule
id: 11111111-2222-4333-8444-555555555555
status: test
level: medium
logsource:
    product: windows
    category: process_creation
"""


def make_rule(detection: str) -> CompiledRule:
    """Compile a rule from an inline ``detection:`` block."""
    rs = RuleSet.from_rules([HEADER + "detection:\n" + detection])
    assert not rs.errors, rs.errors
    assert len(rs.rules) == 1
    return rs.rules[0]


CASES: list[tuple[str, str, list[dict[str, Any]], list[dict[str, Any]]]] = [
    (
        "plain_case_insensitive",
        "  sel:\n    Image: 'C:\\Windows\\System32\\whoami.exe'\n  condition: sel\n",
        [{"Image": "c:\\windows\\system32\\WHOAMI.EXE"}],
        [{"Image": "C:\\Windows\\System32\\whoami.exe.bak"}, {"Other": "x"}, {}],
    ),
    (
        "contains",
        "  sel:\n    CommandLine|contains: 'mimikatz'\n  condition: sel\n",
        [{"CommandLine": "run MiMiKaTz.exe now"}, {"CommandLine": ["a", "xmimikatzx"]}],
        [{"CommandLine": "mimi katz"}, {"CommandLine": None}, {"CommandLine": 5}],
    ),
    (
        "startswith",
        "  sel:\n    Image|startswith: 'C:\\Users\\'\n  condition: sel\n",
        [{"Image": "c:\\users\\bob\\a.exe"}],
        [{"Image": "D:\\c:\\users\\x"}],
    ),
    (
        "endswith",
        "  sel:\n    Image|endswith: '\\cmd.exe'\n  condition: sel\n",
        [{"Image": "C:\\Windows\\System32\\CMD.EXE"}],
        [{"Image": "C:\\Windows\\System32\\cmd.exe.mui"}],
    ),
    (
        "wildcards",
        "  sel:\n    Image: 'C:*\\a?c.exe'\n  condition: sel\n",
        [{"Image": "C:\\x\\y\\ABC.exe"}, {"Image": "c:\\z\\a_c.exe"}],
        [{"Image": "C:\\x\\abbc.exe"}, {"Image": "D:\\x\\abc.exe"}],
    ),
    (
        "contains_all",
        "  sel:\n    CommandLine|contains|all:\n      - 'net'\n      - 'user'\n      - '/add'\n"
        "  condition: sel\n",
        [{"CommandLine": "net user bob pw /add"}],
        [{"CommandLine": "net user bob"}, {"CommandLine": "/add user"}],
    ),
    (
        "list_is_or",
        "  sel:\n    Image|endswith:\n      - '\\a.exe'\n      - '\\b.exe'\n  condition: sel\n",
        [{"Image": "x\\a.exe"}, {"Image": "x\\B.exe"}],
        [{"Image": "x\\c.exe"}],
    ),
    (
        "regex",
        "  sel:\n    CommandLine|re: '^cmd\\.exe /c [a-z]+$'\n  condition: sel\n",
        [{"CommandLine": "cmd.exe /c whoami"}],
        [{"CommandLine": "CMD.EXE /c whoami"}, {"CommandLine": "cmd.exe /c who ami"}],
    ),
    (
        "regex_ignorecase",
        "  sel:\n    CommandLine|re|i: '^cmd\\.exe /c'\n  condition: sel\n",
        [{"CommandLine": "CMD.EXE /c whoami"}],
        [{"CommandLine": "xcmd.exe /c"}],
    ),
    (
        "regex_multiline_dotall",
        "  sel1:\n    ScriptBlockText|re|m: '^Invoke-Evil$'\n"
        "  sel2:\n    ScriptBlockText|re|s: 'begin.+end'\n  condition: sel1 and sel2\n",
        [{"ScriptBlockText": "begin\nInvoke-Evil\nend"}],
        [{"ScriptBlockText": "begin Invoke-Evil end"}],
    ),
    (
        "cidr",
        "  sel:\n    DestinationIp|cidr:\n      - '10.0.0.0/8'\n      - 'fe80::/10'\n"
        "  condition: sel\n",
        [{"DestinationIp": "10.1.2.3"}, {"DestinationIp": "fe80::1"}],
        [{"DestinationIp": "11.0.0.1"}, {"DestinationIp": "not-an-ip"}, {"DestinationIp": 10}],
    ),
    (
        "base64offset",
        "  sel:\n    CommandLine|base64offset|contains: 'Invoke-Mimikatz'\n  condition: sel\n",
        [
            {"CommandLine": "powershell -enc " + base64.b64encode(p + b"Invoke-Mimikatz").decode()}
            for p in (b"", b"x", b"xy")
        ],
        [{"CommandLine": "powershell -enc " + base64.b64encode(b"Invoke-Other").decode()}],
    ),
    (
        "base64",
        "  sel:\n    CommandLine|base64|contains: 'whoami'\n  condition: sel\n",
        [{"CommandLine": "x " + base64.b64encode(b"whoami").decode() + " y"}],
        [{"CommandLine": "whoami"}],
    ),
    (
        "windash",
        "  sel:\n    CommandLine|windash|contains: ' -exec bypass'\n  condition: sel\n",
        [
            {"CommandLine": "powershell -exec bypass"},
            {"CommandLine": "powershell /exec bypass"},
            {"CommandLine": "powershell \u2013exec bypass"},
        ],
        [{"CommandLine": "powershell exec bypass"}],
    ),
    (
        "exists",
        "  sel:\n    Hashes|exists: true\n  filter:\n    Signed|exists: false\n"
        "  condition: sel and filter\n",
        [{"Hashes": "MD5=00", "Image": "x"}, {"Hashes": None}],
        [{"Image": "x"}, {"Hashes": "x", "Signed": "true"}],
    ),
    (
        "cased",
        "  sel:\n    CommandLine|cased|contains: 'EvilCase'\n  condition: sel\n",
        [{"CommandLine": "run EvilCase now"}],
        [{"CommandLine": "run evilcase now"}, {"CommandLine": "run EVILCASE"}],
    ),
    (
        "fieldref",
        "  sel:\n    ParentImage|fieldref: Image\n  condition: sel\n",
        [{"Image": "C:\\a.exe", "ParentImage": "c:\\A.EXE"}],
        [{"Image": "C:\\a.exe", "ParentImage": "C:\\b.exe"}, {"ParentImage": "C:\\a.exe"}],
    ),
    (
        "numeric_compare",
        "  sel:\n    Count|gte: 10\n  sel2:\n    Size|lt: 100\n  condition: sel and sel2\n",
        [{"Count": 10, "Size": 99}, {"Count": "25", "Size": "0x10"}],
        [{"Count": 9, "Size": 1}, {"Count": 10, "Size": 100}, {"Count": "abc", "Size": 1}],
    ),
    (
        "numbers_vs_strings",
        "  sel:\n    EventID: 4688\n    LogonType: '3'\n  condition: sel\n",
        [{"EventID": 4688, "LogonType": 3}, {"EventID": "4688", "LogonType": "3"}],
        [{"EventID": 4689, "LogonType": 3}, {"EventID": "x4688", "LogonType": 3}],
    ),
    (
        "keywords",
        "  keywords:\n    - 'mimikatz'\n    - 'sekurlsa::'\n  condition: keywords\n",
        [{"CommandLine": "run Mimikatz.exe"}, {"Nested": {"x": ["sekurlsa::logonpasswords"]}}],
        [{"CommandLine": "mimi"}, {"mimikatz": 1}],
    ),
    (
        "null",
        "  sel:\n    Image|endswith: '\\a.exe'\n  filter:\n    OriginalFileName: null\n"
        "  condition: sel and filter\n",
        [{"Image": "x\\a.exe"}, {"Image": "x\\a.exe", "OriginalFileName": None}],
        [{"Image": "x\\a.exe", "OriginalFileName": "a.exe"}],
    ),
    (
        "empty_string",
        "  sel:\n    CommandLine: ''\n  condition: sel\n",
        [{"CommandLine": ""}, {"CommandLine": None}],
        [{"CommandLine": "x"}, {}],
    ),
    (
        "bool",
        "  sel:\n    Enabled: true\n  condition: sel\n",
        [{"Enabled": True}, {"Enabled": "True"}],
        [{"Enabled": False}, {"Enabled": "false"}, {}],
    ),
    (
        "field_name_case_fallback",
        "  sel:\n    commandline|contains: 'abc'\n  condition: sel\n",
        [{"CommandLine": "xabcx"}],
        [{"CommandLine": "xyz"}],
    ),
    (
        "dotted_field",
        "  sel:\n    userIdentity.type: 'Root'\n  condition: sel\n",
        [{"userIdentity": {"type": "Root"}}],
        [{"userIdentity": {"type": "IAMUser"}}, {"userIdentity": "Root"}],
    ),
    (
        "not_and_or_1_of",
        "  sel_a:\n    A: 1\n  sel_b:\n    B: 2\n  filter:\n    C: 3\n"
        "  condition: 1 of sel_* and not filter\n",
        [{"A": 1}, {"B": 2, "C": 4}],
        [{"A": 1, "C": 3}, {"D": 1}],
    ),
    (
        "expand_placeholder",
        "  sel:\n    Image|expand: '%ProgramFiles%\\evil.exe'\n  condition: sel\n",
        [{"Image": "C:\\Program Files\\evil.exe"}],
        [{"Image": "C:\\Program Files\\good.exe"}],
    ),
]


@pytest.mark.parametrize(
    ("detection", "positives", "negatives"),
    [pytest.param(d, p, n, id=name) for name, d, p, n in CASES],
)
def test_modifier(
    detection: str, positives: list[dict[str, Any]], negatives: list[dict[str, Any]]
) -> None:
    rule = make_rule(detection)
    for event in positives:
        assert rule.matches(event), f"should match: {event}"
    for event in negatives:
        assert not rule.matches(event), f"must not match: {event}"


def test_rule_metadata() -> None:
    rule = make_rule("  sel:\n    A: 1\n  condition: sel\n")
    assert rule.id == "11111111-2222-4333-8444-555555555555"
    assert rule.title == "test rule"
    assert rule.level == "medium"
    assert rule.status == "test"
    assert rule.logsource == {"product": "windows", "category": "process_creation", "service": None}


def test_logsource_filtering() -> None:
    rs = RuleSet.from_rules(
        [HEADER + "detection:\n  sel:\n    CommandLine|contains: 'whoami'\n  condition: sel\n"]
    )
    sysmon1 = {
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "CommandLine": "whoami /all",
    }
    assert [r.id for r in rs.match(sysmon1)]
    # other Sysmon event ids / non-Windows events are not tested against process_creation rules
    assert not rs.match({**sysmon1, "EventID": 11})
    assert not rs.match({"CommandLine": "whoami /all"})
    # Security 4688 is accepted and gets Image/ParentImage aliases
    sec = {
        "EventID": 4688,
        "Channel": "Security",
        "CommandLine": "whoami",
        "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
    }
    assert rs.match(sec)
    img = RuleSet.from_rules(
        [HEADER + "detection:\n  sel:\n    Image|endswith: '\\whoami.exe'\n  condition: sel\n"]
    )
    assert img.match(sec)
    assert "Image" not in sec  # the caller's event is not modified


def test_non_windows_rules_only_see_non_windows_events() -> None:
    rs = RuleSet.from_rules(
        [
            "title: linux\nid: 21111111-2222-4333-8444-555555555555\n"
            "logsource:\n  product: linux\n  service: auditd\n"
            "detection:\n  sel:\n    type: EXECVE\n  condition: sel\n"
        ]
    )
    assert rs.match({"type": "EXECVE"})
    assert not rs.match({"type": "EXECVE", "Channel": "Security", "EventID": 1})
