"""EventData field names with spaces (Windows Defender's `Threat Name`, `Source Name`, `Process
Name`) match the space-less names Sigma rules use (`SourceName`), as Zircolite's flattening
does: real SigmaHQ Defender rules over Defender events in both evtx_dump JSON forms (named keys
and the XML `Data Name=` list), through the ingest path."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from detections.engine import RuleSet
from ingest.events import normalise
from ingest.windows import flatten_windows_event
from tests.detections.conftest import CORPUS, corpus_available

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not corpus_available(), reason="SigmaHQ corpus not available"),
]

WINDEFEND = CORPUS / "rules" / "windows" / "builtin" / "windefend"
AMSI_RULE = "win_defender_malware_detected_amsi_source.yml"  # EventID 1116, SourceName: AMSI
LSASS_RULE = "win_defender_asr_lsass_access.yml"  # EventID 1121, Path; not ProcessName filters
CHANNEL = "Microsoft-Windows-Windows Defender/Operational"
POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"


def ruleset(name: str) -> RuleSet:
    rules = RuleSet.from_rules([Path(WINDEFEND / name).read_text(encoding="utf-8")])
    assert len(rules) == 1 and not rules.errors
    return rules


def defender_event(event_id: int, data: dict[str, str], as_list: bool) -> dict[str, Any]:
    """A Defender record as evtx_dump writes it: EventData as named keys, or as the XML
    ``<Data Name="...">`` list."""
    event_data: dict[str, Any] = dict(data)
    if as_list:
        event_data = {"Data": [{"#attributes": {"Name": k}, "#text": v} for k, v in data.items()]}
    system = {
        "Provider": {
            "#attributes": {
                "Name": "Microsoft-Windows-Windows Defender",
                "Guid": "{11CD958A-C507-4EF3-B3F2-5FD9DFBD2C78}",
            }
        },
        "EventID": event_id,
        "Level": 3,
        "TimeCreated": {"#attributes": {"SystemTime": "2024-12-01T10:15:02.123456Z"}},
        "EventRecordID": 4711,
        "Channel": CHANNEL,
        "Computer": "WS01.corp.example",
        "Security": {"#attributes": {"UserID": "S-1-5-18"}},
    }
    return {"Event": {"#attributes": {"xmlns": "x"}, "System": system, "EventData": event_data}}


def detection(event_id: int, source: str, process: str) -> dict[str, str]:
    return {
        "Product Name": "Microsoft Defender Antivirus",
        "Product Version": "4.18.24090.11",
        "Detection ID": "{8B3B1F4C-0D2E-4A6F-9C1D-2E3F4A5B6C7D}",
        "Detection Time": "2024-12-01T10:15:01.987Z",
        "Threat ID": "2147735505",
        "Threat Name": "Trojan:PowerShell/Mimikatz.A",
        "Severity Name": "Severe",
        "Category Name": "Trojan",
        "Source Name": source,
        "Process Name": process,
        "Detection User": "CORP\\alice",
        "Path": "amsi:_\\Device\\HarddiskVolume3\\Windows\\System32\\lsass.exe"
        if event_id == 1116
        else "C:\\Windows\\System32\\lsass.exe",
        "Execution Name": "Suspended",
    }


def stored(raw: dict[str, Any]) -> dict[str, Any]:
    return normalise(raw, orjson.dumps(raw), 1, datetime.now(UTC)).data


@pytest.mark.parametrize("as_list", [False, True])
def test_defender_names_with_spaces_match(as_list: bool) -> None:
    amsi = ruleset(AMSI_RULE)
    event = stored(defender_event(1116, detection(1116, "AMSI", POWERSHELL), as_list))
    assert [r.title for r in amsi.match(event)] == [amsi.rules[0].title]
    assert event.get("SourceName") == "AMSI" and event["ThreatName"].startswith("Trojan:")
    assert "Threat Name" not in event
    other = stored(
        defender_event(1116, detection(1116, "Real-Time Protection", POWERSHELL), as_list)
    )
    assert amsi.match(other) == []


@pytest.mark.parametrize("as_list", [False, True])
def test_defender_filter_on_process_name_applies(as_list: bool) -> None:
    lsass = ruleset(LSASS_RULE)
    trusted = detection(1121, "Real-Time Protection", "C:\\Windows\\System32\\svchost.exe")
    assert lsass.match(flatten_windows_event(defender_event(1121, trusted, as_list))) == []
    hostile = detection(1121, "Real-Time Protection", "C:\\Users\\bob\\Downloads\\dump.exe")
    assert len(lsass.match(flatten_windows_event(defender_event(1121, hostile, as_list)))) == 1


def test_names_without_spaces_are_unchanged() -> None:
    raw = defender_event(1116, {"NewValue": "x", "Old Value": "y"}, as_list=True)
    flat = flatten_windows_event(raw)
    assert flat["NewValue"] == "x" and flat["OldValue"] == "y" and flat["EventID"] == 1116


def test_a_flat_windows_event_with_spaced_names_matches() -> None:
    """Shipped already flat (Channel and EventID at the top), the names lose their spaces too;
    a non-Windows event keeps its names."""
    amsi = ruleset(AMSI_RULE)
    flat = {"Channel": CHANNEL, "EventID": 1116, **detection(1116, "AMSI", POWERSHELL)}
    event = stored(flat)
    assert [r.title for r in amsi.match(event)] == [amsi.rules[0].title]
    assert "Threat Name" not in event and event["ThreatName"].startswith("Trojan:")
    web = {"User Agent": "curl/8.5", "status": 200}
    assert stored(web) == web
