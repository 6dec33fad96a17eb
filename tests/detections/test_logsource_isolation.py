"""Log-source isolation over the whole SigmaHQ corpus: a rule sees only the events of its log
source. Windows regression samples fire their own rule and no rule of another product; real
Linux syslog and auditd records (as the ingest path stores them) fire Linux rules at most; an
event of unknown shape reaches only the rules without a product; a source without a shape of its
own (Zeek) reaches its rules by declaring its log source (`logsource.product`), also through a
tenant's field map."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from detections.engine import CompiledRule, RuleSet
from detections.tenant_view import apply_field_map
from ingest.events import normalise
from ingest.files import iter_events_from_file
from tests.detections.conftest import REGRESSION, corpus_available

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not corpus_available(), reason="SigmaHQ corpus not available"),
]

RDP_PUBLIC = "1fc0809e-06bf-4de3-ad52-25e5263b7623"  # zeek/rdp, condition: not selection
CHATTR = "a5b977d6-8a81-4475-91b9-49dbfcd941f7"  # linux/auditd EXECVE chattr -i
SSHD = "e76b413a-83d0-4b94-8e4c-85db4a5b8bdc"  # linux/sshd keywords

# Linux records as shippers send them (one JSON object a line): journald, rsyslog's JSON
# template, Vector's syslog source, fluent-bit's syslog parser, syslog-ng's format-json, a bare
# message (no known shape), and auditd records as key/value objects.
SYSLOG: list[dict[str, Any]] = [
    {
        "__REALTIME_TIMESTAMP": "1733011200123456",
        "_HOSTNAME": "web01",
        "SYSLOG_IDENTIFIER": "sshd",
        "SYSLOG_FACILITY": "4",
        "PRIORITY": "6",
        "_PID": "2212",
        "_COMM": "sshd",
        "_EXE": "/usr/sbin/sshd",
        "MESSAGE": "Failed password for invalid user admin from 203.0.113.9 port 52644 ssh2",
    },
    {
        "_HOSTNAME": "web01",
        "SYSLOG_IDENTIFIER": "sshd",
        "MESSAGE": "error: Corrupted MAC on input. [preauth]",
        "PRIORITY": "3",
    },
    {
        "@timestamp": "2024-12-01T00:00:01+00:00",
        "host": "db02",
        "severity": "info",
        "facility": "authpriv",
        "programname": "sudo",
        "syslogtag": "sudo:",
        "message": "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
    },
    {
        "appname": "cron",
        "facility": "cron",
        "hostname": "app03",
        "message": "(root) CMD (/usr/local/bin/backup.sh > /dev/null 2>&1)",
        "procid": 4411,
        "severity": "info",
        "source_type": "syslog",
        "timestamp": "2024-12-01T00:00:02Z",
    },
    {
        "pri": "38",
        "time": "Dec  1 00:00:03",
        "host": "app03",
        "ident": "systemd",
        "pid": "1",
        "message": "Started Session 42 of user bob.",
    },
    {
        "DATE": "Dec  1 00:00:04",
        "HOST": "fw01",
        "PROGRAM": "kernel",
        "FACILITY": "kern",
        "PRIORITY": "warning",
        "MESSAGE": "[UFW BLOCK] IN=eth0 OUT= SRC=198.51.100.7 DST=10.0.0.5 PROTO=TCP DPT=3389",
    },
    {"message": "Dec  1 00:00:05 app03 kernel: usb 1-1: new high-speed USB device number 3"},
    {"host": "app03", "message": "rm -rf /var/log/syslog", "id.orig_h": "203.0.113.9"},
]
AUDITD: list[dict[str, Any]] = [
    {
        "type": "SYSCALL",
        "msg": "audit(1733011205.120:9921)",
        "arch": "c000003e",
        "syscall": "59",
        "success": "yes",
        "exit": "0",
        "a0": "55d4d6b1c2a0",
        "ppid": "2301",
        "pid": "2388",
        "auid": "1000",
        "uid": "0",
        "tty": "pts0",
        "comm": "chattr",
        "exe": "/usr/bin/chattr",
        "key": "exec",
    },
    {
        "type": "EXECVE",
        "msg": "audit(1733011205.120:9921)",
        "argc": "3",
        "a0": "chattr",
        "a1": "-i",
        "a2": "/etc/passwd",
    },
    {"type": "CWD", "msg": "audit(1733011205.120:9921)", "cwd": "/root"},
    {
        "type": "PATH",
        "msg": "audit(1733011205.120:9921)",
        "item": "0",
        "name": "/usr/bin/chattr",
        "inode": "1050117",
        "nametype": "NORMAL",
    },
    {
        "type": "PROCTITLE",
        "msg": "audit(1733011205.120:9921)",
        "proctitle": "chattr -i /etc/passwd",
    },
    {
        "type": "USER_LOGIN",
        "msg": "audit(1733011206.001:9922)",
        "pid": "2212",
        "uid": "0",
        "auid": "4294967295",
        "res": "failed",
        "addr": "203.0.113.9",
        "terminal": "ssh",
        "exe": "/usr/sbin/sshd",
    },
]


def stored(obj: dict[str, Any]) -> dict[str, Any]:
    """The event as the ingest path stores (and detection sees) it."""
    return normalise(obj, orjson.dumps(obj), 1, datetime.now(UTC)).data


def product(rule: CompiledRule) -> str | None:
    return (rule.logsource.get("product") or "").lower() or None


def windows_samples() -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for info in sorted(REGRESSION.rglob("info.yml")):
        rule_id = str(yaml.safe_load(info.read_text(encoding="utf-8"))["rule_metadata"][0]["id"])
        out.extend((rule_id, f) for ext in ("json", "evtx") for f in info.parent.glob(f"*.{ext}"))
    return out


def test_windows_samples_fire_only_windows_rules(corpus_ruleset: RuleSet) -> None:
    samples = windows_samples()
    assert len(samples) >= 2 * 90
    foreign: Counter[str] = Counter()
    missed = []
    for rule_id, path in samples:
        fired = [r for event in iter_events_from_file(path) for r in corpus_ruleset.match(event)]
        if not any(r.id == rule_id for r in fired):
            missed.append(path.name)
        foreign.update(
            f"{product(r)}: {r.title}" for r in fired if product(r) not in (None, "windows")
        )
    assert missed == []
    assert sum(foreign.values()) == 0, foreign.most_common(10)


def test_linux_records_fire_no_foreign_rule(corpus_ruleset: RuleSet) -> None:
    foreign: Counter[str] = Counter()
    fired_ids: set[str] = set()
    for obj in SYSLOG + AUDITD:
        for rule in corpus_ruleset.match(stored(obj)):
            fired_ids.add(rule.id)
            if product(rule) not in (None, "linux"):
                foreign[f"{product(rule)}: {rule.title}"] += 1
    assert sum(foreign.values()) == 0, foreign.most_common(10)
    # Linux rules still see Linux records: auditd EXECVE and an sshd journald record
    assert {CHATTR, SSHD} <= fired_ids


def test_unknown_shape_reaches_only_rules_without_a_product(corpus_ruleset: RuleSet) -> None:
    unknown = stored({"message": "hello", "CommandLine": "id", "id.orig_h": "203.0.113.9"})
    reached = corpus_ruleset.candidates(unknown)
    assert reached, "rules without a product see every event"
    assert {product(r) for r in reached} == {None}


def test_declared_logsource_reaches_its_rules(corpus_ruleset: RuleSet) -> None:
    rdp = {"id.orig_h": "203.0.113.9", "id.resp_h": "10.0.0.5", "id.resp_p": 3389, "uid": "C1"}
    assert RDP_PUBLIC not in {r.id for r in corpus_ruleset.match(stored(rdp))}
    declared = stored({**rdp, "logsource": {"product": "zeek", "service": "rdp"}})
    hits = corpus_ruleset.match(declared)
    assert RDP_PUBLIC in {r.id for r in hits}
    assert {product(r) for r in hits} <= {None, "zeek"}
    other_service = stored({**rdp, "logsource": {"product": "Zeek", "service": "dns"}})
    assert RDP_PUBLIC not in {r.id for r in corpus_ruleset.match(other_service)}
    # a tenant's field map can declare it from the shipper's own fields (flat dotted keys)
    shipped = {**rdp, "event": {"module": "zeek", "dataset": "rdp"}}
    field_map = (("event.module", "logsource.product"), ("event.dataset", "logsource.service"))
    mapped = apply_field_map(field_map, stored(shipped))
    assert RDP_PUBLIC in {r.id for r in corpus_ruleset.match(mapped)}
