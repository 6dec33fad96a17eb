"""Fuzzing the auditd, CSV, XML and JSON readers: whatever the bytes, only ValueError escapes, and
it names the input."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.files import iter_inputs
from ingest.readers.auditd import iter_auditd, parse_line
from ingest.readers.csvevents import iter_csv
from ingest.readers.xmlevents import iter_xml_events

AUDIT_LINE = (
    "type=SYSCALL msg=audit(1700000000.123:4567): arch=c000003e syscall=59 success=yes a0=41 "
    'comm="ls" exe="/usr/bin/ls" key=6B6579016B657932\n'
    'type=EXECVE msg=audit(1700000000.123:4567): argc=2 a0="ls" a1=2D6C61\n'
)
XML_EVENT = (
    '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
    '<Provider Name="Linux-Sysmon"/><EventID>1</EventID><Channel>Linux-Sysmon/Operational'
    '</Channel></System><EventData><Data Name="Image">/bin/ls</Data></EventData></Event>'
)
CSV_TEXT = "Level,Date and Time,Source,Event ID,Task Category\nInfo,1/2/2026 1:02:03 AM,S,4,N,msg\n"


def _mutations(seed: str) -> st.SearchStrategy[str]:
    """The seed with a slice replaced by random text (close to valid input), or random text."""
    return st.one_of(
        st.text(max_size=300),
        st.tuples(st.integers(0, len(seed)), st.integers(0, 40), st.text(max_size=40)).map(
            lambda t: seed[: t[0]] + t[2] + seed[t[0] + t[1] :]
        ),
    )


def _drain(events: Any, name: str) -> None:
    try:
        for event in events:
            assert isinstance(event, dict)
    except ValueError as exc:
        assert name in str(exc)


@settings(max_examples=300, deadline=None)
@given(_mutations(AUDIT_LINE))
def test_auditd_only_valueerror(text: str) -> None:
    _drain(iter_auditd(io.StringIO(text), "audit.log"), "audit.log")
    for line in text.splitlines():
        try:
            event = parse_line(line)
        except ValueError as exc:
            assert str(exc)  # a reason
        else:
            assert isinstance(event["type"], str) and isinstance(event["serial"], int)


@settings(max_examples=300, deadline=None)
@given(_mutations(CSV_TEXT), st.sampled_from([",", ";", "\t"]))
def test_csv_only_valueerror(text: str, delimiter: str) -> None:
    _drain(iter_csv(io.StringIO(text, newline=""), "x.csv", delimiter), "x.csv")


@settings(max_examples=300, deadline=None)
@given(_mutations(XML_EVENT + "\n" + XML_EVENT))
def test_xml_only_valueerror(text: str) -> None:
    _drain(iter_xml_events(io.StringIO(text), "x.xml"), "x.xml")


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([AUDIT_LINE, XML_EVENT, CSV_TEXT, '[{"a": 1}, {"b": 2}]', '{"a": 1}\n']),
    st.integers(0, 200),
    st.binary(max_size=30),
)
def test_files_only_valueerror(tmp_path_factory: Any, seed: str, at: int, junk: bytes) -> None:
    blob = seed.encode()
    blob = blob[:at] + junk + blob[at + len(junk) :]
    path: Path = tmp_path_factory.mktemp("f") / "input.log"
    path.write_bytes(blob)
    for name, events in iter_inputs([path]):
        _drain(events, "input.log")
        assert name == str(path)
