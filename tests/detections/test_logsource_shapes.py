"""Non-Windows log-source routing: the event's shape decides which rules see it, and the
OpenSearch form of the filter (detections.hunting.logsource_query) agrees with the Python one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from detections.engine import RuleSet
from detections.engine.logsources import (
    AWS,
    AZURE,
    DECLARED,
    GCP,
    GITHUB,
    LINUX_AUDITD,
    LINUX_SYSLOG,
    LINUX_SYSMON_KIND,
    M365,
    NON_WINDOWS,
    OKTA,
    WEB,
    WINDOWS,
    event_key,
    logsource_filter,
)
from detections.hunting import logsource_query
from ingest.events import normalise
from ingest.store.opensearch import OpenSearchEventStore
from tests.helpers import SYSMON_CHANNEL
from tests.store import conftest as store_fixtures

opensearch_url = store_fixtures.opensearch_url
os_store = store_fixtures.os_store

EVENTS: dict[str, dict[str, Any]] = {
    "sysmon1": {"EventID": 1, "Channel": SYSMON_CHANNEL, "Image": "/usr/bin/id"},
    "linux_sysmon1": {"EventID": 1, "Channel": "Linux-Sysmon/Operational", "Image": "/bin/id"},
    "linux_sysmon11": {"EventID": 11, "Channel": "Linux-Sysmon/Operational"},
    "auditd": {"type": "EXECVE", "a0": "id", "argc": 1},
    "auditd_syscall": {"syscall": "59", "exe": "/usr/bin/id", "type": "x"},
    "syslog": {"SYSLOG_IDENTIFIER": "sshd", "MESSAGE": "Failed password"},
    "web": {"cs-method": "GET", "c-uri": "/index.php?id=1", "sc-status": 200},
    "aws": {"eventSource": "iam.amazonaws.com", "eventName": "CreateUser"},
    "not_aws": {"eventSource": "SecurityComplianceCenter", "eventName": "AlertTriggered"},
    "azure": {"operationName": "Sign-in activity", "category": "SignInLogs", "ResultType": 0},
    "gcp": {"protoPayload": {"methodName": "SetIamPolicy"}},
    "gcp_pubsub": {"data": {"protoPayload": {"methodName": "SetIamPolicy"}}},
    "okta": {"eventType": "user.session.start", "displayMessage": "User login"},
    "m365": {"Workload": "Exchange", "Operation": "New-InboxRule"},
    "github": {"action": "repo.destroy", "org": "acme"},
    "unknown": {"CommandLine": "id", "message": "hello"},
    "empty_values": {"cs-method": None, "protoPayload": {}, "Workload": [], "Operation": "x"},
    "declared_zeek": {"logsource": {"product": "Zeek", "service": "http"}, "uid": "C1"},
    "declared_flat": {"logsource.product": "linux", "logsource.service": "auditd", "a0": "id"},
}
EXPECTED_KIND = {
    "sysmon1": WINDOWS,
    "linux_sysmon1": LINUX_SYSMON_KIND,
    "linux_sysmon11": LINUX_SYSMON_KIND,
    "auditd": LINUX_AUDITD,
    "auditd_syscall": LINUX_AUDITD,
    "syslog": LINUX_SYSLOG,
    "web": WEB,
    "aws": AWS,
    "not_aws": NON_WINDOWS,
    "azure": AZURE,
    "gcp": GCP,
    "gcp_pubsub": GCP,
    "okta": OKTA,
    "m365": M365,
    "github": GITHUB,
    "unknown": NON_WINDOWS,
    "empty_values": NON_WINDOWS,
    "declared_zeek": DECLARED,
    "declared_flat": DECLARED,
}
LOGSOURCES = [
    ("windows", "process_creation", None),
    ("windows", None, "security"),
    ("linux", "process_creation", None),
    ("linux", "file_event", None),
    ("linux", None, "auditd"),
    ("linux", None, "syslog"),
    ("linux", None, None),
    (None, "webserver", None),
    (None, "proxy", None),
    ("aws", None, "cloudtrail"),
    ("azure", None, "signinlogs"),
    ("gcp", None, "gcp.audit"),
    ("okta", None, "okta"),
    ("m365", None, "threat_management"),
    ("github", None, "audit"),
    ("zeek", None, "http"),
    ("macos", "process_creation", None),
    (None, None, None),
]


def accepts(logsource: tuple[str | None, ...], event: dict[str, Any]) -> bool:
    flt = logsource_filter(*logsource)
    return flt.accepts_key(event_key(event)) and flt.accepts_event(event)


def test_event_kinds() -> None:
    assert {name: event_key(e)[0] for name, e in EVENTS.items()} == EXPECTED_KIND


def test_routing_removes_only_impossible_pairs() -> None:
    # unknown shapes reach only the rules without a product; a product without a shape of its
    # own sees only the events declaring it (and agreeing on service and category)
    for ls in LOGSOURCES[2:]:
        assert accepts(ls, EVENTS["unknown"]) is (ls[0] is None), ls
        assert accepts(ls, EVENTS["not_aws"]) is (ls[0] is None), ls
    for name in ("auditd", "web", "aws", "azure", "gcp", "okta", "m365", "github", "syslog"):
        assert not accepts(("zeek", None, "http"), EVENTS[name])
    assert accepts(("zeek", None, "http"), EVENTS["declared_zeek"])
    assert not accepts(("zeek", None, "dns"), EVENTS["declared_zeek"])
    assert not accepts(("windows", None, "security"), EVENTS["declared_zeek"])
    assert accepts(("linux", None, "auditd"), EVENTS["declared_flat"])
    assert not accepts(("aws", None, "cloudtrail"), EVENTS["declared_flat"])
    assert accepts(("aws", None, "cloudtrail"), EVENTS["aws"])
    assert not accepts(("aws", None, "cloudtrail"), EVENTS["azure"])
    assert not accepts((None, "webserver", None), EVENTS["auditd"])
    assert accepts((None, "proxy", None), EVENTS["web"])
    assert accepts(("linux", None, "auditd"), EVENTS["auditd"])
    assert not accepts(("linux", None, "auditd"), EVENTS["web"])
    assert accepts(("linux", "process_creation", None), EVENTS["linux_sysmon1"])
    assert not accepts(("linux", "process_creation", None), EVENTS["linux_sysmon11"])
    assert accepts(("linux", "file_event", None), EVENTS["linux_sysmon11"])
    assert accepts(("linux", None, None), EVENTS["linux_sysmon11"])
    # Sysmon for Linux is neither a Windows event nor an undecided non-Windows one
    assert not accepts(("windows", None, "security"), EVENTS["linux_sysmon1"])
    assert not accepts(("zeek", None, "http"), EVENTS["linux_sysmon1"])
    assert not accepts(("linux", "process_creation", None), EVENTS["sysmon1"])


def test_linux_rules_see_sysmon_for_linux_and_not_cloud() -> None:
    rs = RuleSet.from_rules(
        [
            "title: linux id\nid: 31111111-2222-4333-8444-555555555555\n"
            "logsource:\n  product: linux\n  category: process_creation\n"
            "detection:\n  sel:\n    Image|endswith: '/id'\n  condition: sel\n",
            "title: web\nid: 41111111-2222-4333-8444-555555555555\n"
            "logsource:\n  category: webserver\n"
            "detection:\n  keywords:\n    - 'index.php'\n  condition: keywords\n",
        ]
    )
    assert [r.title for r in rs.match(EVENTS["linux_sysmon1"])] == ["linux id"]
    assert [r.title for r in rs.match(EVENTS["web"])] == ["web"]
    assert not rs.match({**EVENTS["aws"], "Image": "/bin/id", "x": "index.php"})
    # unknown shape: only the rule without a product
    assert {r.title for r in rs.match({"Image": "/bin/id", "x": "index.php"})} == {"web"}


class _Query:
    """A hunt that is just one logsource filter over the events of one marker."""

    def __init__(self, query: dict[str, Any], marker: int) -> None:
        self.marker = marker
        self.query = query

    def query_for(self, store_kind: str) -> dict[str, Any]:
        marker = {"term": {"data.Marker": self.marker}}
        return {"bool": {"must": [marker, self.query]}}


def test_opensearch_filter_agrees(os_store: OpenSearchEventStore) -> None:
    tenant, marker, now = 11, 4242, datetime.now(UTC)
    events = []
    for name, data in EVENTS.items():
        data = {**data, "Marker": marker, "Name": name}
        events.append(normalise(data, orjson.dumps(data), tenant, now))
    os_store.write(events)
    os_store.refresh(tenant)
    for ls in LOGSOURCES:
        flt = logsource_filter(*ls)
        python = {e.data["Name"] for e in events if accepts(ls, e.data)}
        stored = {
            e.data["Name"] for e in os_store.hunt(tenant, _Query(logsource_query(flt), marker))
        }
        assert python == stored, ls
