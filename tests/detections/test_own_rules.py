"""The product's own rules in detections/rules fire on typical demo events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detections.engine import RuleSet

OWN_RULES = Path(__file__).resolve().parents[2] / "detections" / "rules"
SYSMON = "Microsoft-Windows-Sysmon/Operational"


@pytest.fixture(scope="module")
def own() -> RuleSet:
    rs = RuleSet.from_dirs([OWN_RULES])
    assert not rs.errors
    return rs


def _titles(rs: RuleSet, event: dict[str, Any]) -> set[str]:
    return {r.title for r in rs.match(event)}


def test_encoded_powershell(own: RuleSet) -> None:
    ev = {
        "EventID": 1,
        "Channel": SYSMON,
        "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "CommandLine": "powershell.exe -NoP -enc SQBFAFgA",
    }
    assert "SOC - Encoded PowerShell Command Line" in _titles(own, ev)
    assert not _titles(own, {**ev, "CommandLine": "powershell.exe -File a.ps1"})


def test_whoami_sysmon_and_4688(own: RuleSet) -> None:
    ev = {"EventID": 1, "Channel": SYSMON, "Image": "C:\\Windows\\System32\\whoami.exe"}
    assert "SOC - Whoami Execution" in _titles(own, ev)
    sec = {
        "EventID": 4688,
        "Channel": "Security",
        "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
    }
    assert "SOC - Whoami Execution" in _titles(own, sec)


def test_local_admin_added(own: RuleSet) -> None:
    ev = {
        "EventID": 4732,
        "Channel": "Security",
        "Provider_Name": "Microsoft-Windows-Security-Auditing",
        "TargetSid": "S-1-5-32-544",
        "TargetUserName": "Administrators",
        "MemberSid": "S-1-5-21-1-2-3-1001",
    }
    assert "SOC - Member Added to Local Administrators Group" in _titles(own, ev)
    assert not _titles(own, {**ev, "TargetSid": "S-1-5-32-555", "TargetUserName": "RDP Users"})


def test_security_log_cleared(own: RuleSet) -> None:
    ev = {"EventID": 1102, "Channel": "Security", "Provider_Name": "Microsoft-Windows-Eventlog"}
    assert _titles(own, ev) == {"SOC - Security Event Log Cleared"}
    assert not _titles(own, {**ev, "Channel": "System"})


def test_lsass_access(own: RuleSet) -> None:
    ev = {
        "EventID": 10,
        "Channel": SYSMON,
        "SourceImage": "C:\\Users\\bob\\Downloads\\procdump64.exe",
        "TargetImage": "C:\\Windows\\system32\\lsass.exe",
        "GrantedAccess": "0x1FFFFF",
    }
    assert "SOC - Suspicious LSASS Process Access" in _titles(own, ev)
    benign = {**ev, "SourceImage": "C:\\Windows\\System32\\svchost.exe"}
    assert not _titles(own, benign)
