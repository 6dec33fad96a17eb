"""Flattening of Windows events and tolerant JSON/EVTX readers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.files import iter_events_from_file
from ingest.windows import (
    flatten_windows_event,
    is_windows_event,
    iter_concatenated_json,
    iter_evtx_file,
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "sigmahq"

SYSMON_EVENT: dict[str, Any] = {
    "Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{5770}"}},
            "EventID": 1,
            "Level": 4,
            "Task": 1,
            "TimeCreated": {"#attributes": {"SystemTime": "2024-01-01T00:00:00.000Z"}},
            "EventRecordID": 42,
            "Correlation": None,
            "Execution": {"#attributes": {"ProcessID": 3208, "ThreadID": 1724}},
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "host1",
            "Security": {"#attributes": {"UserID": "S-1-5-18"}},
        },
        "EventData": {"Image": "C:\\a.exe", "CommandLine": "a.exe -x", "ProcessId": 6180},
    }
}


def test_flatten_sysmon() -> None:
    assert is_windows_event(SYSMON_EVENT)
    flat = flatten_windows_event(SYSMON_EVENT)
    assert flat["EventID"] == 1
    assert flat["Channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert flat["Provider_Name"] == "Microsoft-Windows-Sysmon"
    assert flat["Computer"] == "host1"
    assert flat["TimeCreated"] == "2024-01-01T00:00:00.000Z"
    assert flat["EventRecordID"] == 42
    assert flat["Security_UserID"] == "S-1-5-18"
    assert flat["Execution_ProcessID"] == 3208
    assert flat["Image"] == "C:\\a.exe"
    assert flat["ProcessId"] == 6180
    assert "Event" not in flat and "EventData" not in flat


def test_flatten_eventid_with_qualifiers_and_data_list() -> None:
    event = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Service Control Manager"}},
                "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": "7045"},
                "Channel": "System",
            },
            "EventData": {
                "Data": [
                    {"#attributes": {"Name": "ServiceName"}, "#text": "evil"},
                    {"#attributes": {"Name": "ImagePath"}, "#text": "C:\\evil.exe"},
                ]
            },
        }
    }
    flat = flatten_windows_event(event)
    assert flat["EventID"] == 7045
    assert flat["EventID_Qualifiers"] == 16384
    assert flat["ServiceName"] == "evil"
    assert flat["ImagePath"] == "C:\\evil.exe"


def test_flatten_unnamed_data_and_text() -> None:
    event = {
        "System": {"EventID": 400, "Channel": "Windows PowerShell"},
        "EventData": {"Data": {"#text": ["Available", "None", "HostApplication=powershell"]}},
    }
    flat = flatten_windows_event(event)
    assert flat["EventID"] == 400
    assert flat["Data"] == ["Available", "None", "HostApplication=powershell"]
    single = flatten_windows_event({"System": {"EventID": 1}, "EventData": {"#text": "abc"}})
    assert single["Data"] == "abc"


def test_flatten_userdata() -> None:
    event = {
        "Event": {
            "System": {
                "EventID": 1102,
                "Channel": "Security",
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Eventlog"}},
            },
            "UserData": {
                "LogFileCleared": {
                    "#attributes": {"xmlns": "http://manifests.microsoft.com/win/2004/08/"},
                    "SubjectUserName": "bob",
                    "SubjectDomainName": "CORP",
                }
            },
        }
    }
    flat = flatten_windows_event(event)
    assert flat["EventID"] == 1102
    assert flat["SubjectUserName"] == "bob"
    assert flat["SubjectDomainName"] == "CORP"
    assert "xmlns" not in flat


def test_data_does_not_clobber_system() -> None:
    event = {"System": {"EventID": 5, "Channel": "X"}, "EventData": {"Channel": "evil"}}
    flat = flatten_windows_event(event)
    assert flat["Channel"] == "X"
    assert flat["EventData_Channel"] == "evil"


def test_non_windows_passthrough() -> None:
    obj = {"eventName": "ConsoleLogin", "userIdentity": {"type": "Root"}}
    assert not is_windows_event(obj)
    assert flatten_windows_event(obj) is obj


def test_concatenated_json() -> None:
    text = json.dumps({"a": 1}, indent=2) + "\n" + json.dumps({"b": 2}) + '  {"c": 3}\n'
    assert list(iter_concatenated_json(text)) == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert list(iter_concatenated_json("  \n")) == []
    with pytest.raises(ValueError, match="offset 9"):
        list(iter_concatenated_json('{"a": 1} x'))
    with pytest.raises(ValueError, match="expected a JSON object"):
        list(iter_concatenated_json("[1, 2]"))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_concatenated_json_only_raises_valueerror(text: str) -> None:
    try:
        for obj in iter_concatenated_json(text):
            assert isinstance(obj, dict)
            flatten_windows_event(obj)
    except ValueError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["#text", "#attributes", "Data", "Name", "x"]) | st.text(),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    system=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    data=json_values,
    user=json_values,
)
def test_flatten_never_crashes(system: dict[str, Any], data: Any, user: Any) -> None:
    flat = flatten_windows_event({"Event": {"System": system, "EventData": data, "UserData": user}})
    assert isinstance(flat, dict)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=4), max_size=5),
    st.sampled_from(["jsonl", "array", "concat"]),
)
def test_file_formats_roundtrip(
    tmp_path_factory: Any, objs: list[dict[str, Any]], fmt: str
) -> None:
    path = tmp_path_factory.mktemp("f") / "events.json"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(o) + "\n" for o in objs))
    elif fmt == "array":
        path.write_text(json.dumps(objs, indent=1))
    else:
        path.write_text("\n".join(json.dumps(o, indent=2) for o in objs))
    assert list(iter_events_from_file(path)) == objs


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_files_only_raise_valueerror(tmp_path_factory: Any, blob: bytes) -> None:
    path = tmp_path_factory.mktemp("b") / "blob.bin"
    path.write_bytes(blob)
    try:
        for obj in iter_events_from_file(path):
            assert isinstance(obj, dict)
    except ValueError as exc:
        assert "blob.bin" in str(exc)


def test_file_errors_name_file_and_position(tmp_path: Path) -> None:
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text('{"a": 1}\n{"b": 2}\n{"c": oops}\n')
    with pytest.raises(ValueError, match=r"e\.jsonl.*line 3"):
        list(iter_events_from_file(jsonl))
    concat = tmp_path / "c.json"
    concat.write_text('{\n  "a": 1\n}\n{\n  "b": \n')
    with pytest.raises(ValueError, match=r"c\.json.*offset"):
        list(iter_events_from_file(concat))
    arr = tmp_path / "a.json"
    arr.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"a\.json: array element 0"):
        list(iter_events_from_file(arr))


def test_corrupt_evtx_does_not_crash(tmp_path: Path) -> None:
    samples = sorted((CORPUS / "regression_data").rglob("*.evtx"))
    if not samples:
        pytest.skip("corpus not available")
    blob = bytearray(samples[0].read_bytes())
    for off in range(0x1000 + 0x200, min(len(blob), 0x1000 + 0x2000), 7):
        blob[off] ^= 0x5A  # damage record area, keep headers
    path = tmp_path / "corrupt.evtx"
    path.write_bytes(bytes(blob))
    events = list(iter_evtx_file(path))
    assert all(isinstance(e, dict) for e in events)


@pytest.mark.skipif(not (CORPUS / "regression_data").is_dir(), reason="corpus not available")
def test_json_and_evtx_samples_agree() -> None:
    for info in sorted((CORPUS / "regression_data").rglob("info.yml"))[:10]:
        js = next(info.parent.glob("*.json"))
        ev = next(info.parent.glob("*.evtx"))
        a, b = list(iter_events_from_file(js)), list(iter_events_from_file(ev))
        assert len(a) == len(b) > 0
        assert [e["EventID"] for e in a] == [e["EventID"] for e in b]
        assert a[0].get("Image") == b[0].get("Image")
