"""ingest.files.iter_inputs: directories, archives and the text formats (XML, auditd, CSV, Sysmon
for Linux), on real SigmaHQ regression samples and rules."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import shutil
import tarfile
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import evtx
import pytest

from detections.engine import RuleSet
from ingest.files import iter_events_from_file, iter_inputs
from ingest.readers import parsers, sources
from ingest.windows import iter_evtx_file

CORPUS = Path("/work/shared/corpus/sigmahq")
REGRESSION = CORPUS / "regression_data"
LINUX_RULES = CORPUS / "rules" / "linux"

pytestmark = pytest.mark.skipif(not REGRESSION.is_dir(), reason="corpus not available")


def _samples() -> list[Path]:
    """A few regression samples, both .evtx and .json."""
    dirs = sorted(p.parent for p in REGRESSION.rglob("info.yml"))[:4]
    return [f for d in dirs for f in sorted(d.iterdir()) if f.suffix in (".evtx", ".json")]


def _collect(paths: list[Path]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    skipped: list[tuple[str, str]] = []
    counts = {
        name: sum(1 for _ in events)
        for name, events in iter_inputs(paths, on_skip=lambda n, r: skipped.append((n, r)))
    }
    return counts, skipped


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def samples() -> list[tuple[Path, int]]:
    """(sample, event count read directly: pyevtx for .evtx, the JSON reader for .json)."""
    return [
        (
            p,
            sum(
                1 for _ in (iter_evtx_file(p) if p.suffix == ".evtx" else iter_events_from_file(p))
            ),
        )
        for p in _samples()
    ]


def test_directory_and_archives_yield_what_the_files_hold(
    tmp_path: Path, samples: list[tuple[Path, int]]
) -> None:
    root = tmp_path / "case"
    direct = {p.name: n for p, n in samples}
    blobs = {p.name: p.read_bytes() for p, _ in samples}
    (root / "a" / "b").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for name, data in blobs.items():
        (root / "a" / "b" / name).write_bytes(data)
        (root / ".hidden" / name).write_bytes(data)  # hidden dirs are not walked
    (root / "a" / ".DS_Store").write_bytes(b"\x00\x01junk")
    (root / "a" / "notes.bin").write_bytes(b"\x00\x01\x02 not a log")
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        for name, data in blobs.items():
            zf.writestr(f"deep/{name}", data)
    members = {f"logs/{n}": d for n, d in blobs.items()}
    members["inner.zip"] = inner.getvalue()
    members["gz/one.json.gz"] = gzip.compress(
        next(d for n, d in blobs.items() if n.endswith("json"))
    )
    _zip(root / "collection.zip", members)
    _tar(root / "t.tar.gz", {f"x/{n}": d for n, d in blobs.items()})
    _tar(root / "t.tar", {f"y/{n}": d for n, d in blobs.items()}, mode="w")
    json_name, json_blob = next((n, d) for n, d in blobs.items() if n.endswith(".json"))
    (root / "single.json.gz").write_bytes(gzip.compress(json_blob))
    (root / "single.json.bz2").write_bytes(bz2.compress(json_blob))
    (root / "single.json.xz").write_bytes(lzma.compress(json_blob))

    counts, skipped = _collect([root])

    assert skipped == [(str(root / "a" / "notes.bin"), "format not recognised")]
    expected: dict[str, int] = {}
    for name, n in direct.items():
        expected[str(root / "a" / "b" / name)] = n
        expected[f"{root / 'collection.zip'}!logs/{name}"] = n
        expected[f"{root / 'collection.zip'}!inner.zip!deep/{name}"] = n
        expected[f"{root / 't.tar.gz'}!x/{name}"] = n
        expected[f"{root / 't.tar'}!y/{name}"] = n
    expected[f"{root / 'collection.zip'}!gz/one.json.gz"] = direct[json_name]
    for ext in ("gz", "bz2", "xz"):
        expected[str(root / f"single.json.{ext}")] = direct[json_name]
    assert counts == expected
    assert list(counts) == sorted(counts, key=list(counts).index)  # stable walk order
    # iter_events_from_file reads an archive's members one after another.
    assert sum(1 for _ in iter_events_from_file(root / "t.tar.gz")) == sum(direct.values())


def test_inputs_are_lazy_and_survive_being_held(
    tmp_path: Path, samples: list[tuple[Path, int]]
) -> None:
    blobs = {p.name: p.read_bytes() for p, _ in samples}
    _zip(tmp_path / "a.zip", {"z/" + n: d for n, d in blobs.items()})
    _tar(tmp_path / "b.tgz", {"t/" + n: d for n, d in blobs.items()})
    missing = tmp_path / "gone.json"
    held = list(iter_inputs([missing, tmp_path / "a.zip", tmp_path / "b.tgz"]))
    assert held[0][0] == str(missing)
    with pytest.raises(OSError):
        list(held[0][1])
    # Read in reverse: each member opens its archive again.
    got = {name: sum(1 for _ in events) for name, events in reversed(held[1:])}
    direct = {p.name: n for p, n in samples}
    assert got == {
        **{f"{tmp_path / 'a.zip'}!z/{n}": c for n, c in direct.items()},
        **{f"{tmp_path / 'b.tgz'}!t/{n}": c for n, c in direct.items()},
    }


def test_corrupt_member_is_named_and_the_others_still_yield(
    tmp_path: Path, samples: list[tuple[Path, int]]
) -> None:
    good_name, good_n = next((p, n) for p, n in samples if p.suffix == ".json")
    evtx_path, evtx_n = next((p, n) for p, n in samples if p.suffix == ".evtx")
    archive = _zip(
        tmp_path / "case.zip",
        {
            "a.json": good_name.read_bytes(),
            "b.jsonl": b'{"a": 1}\n{"b": 2}\n{"c": oops}\n',
            "c.evtx": evtx_path.read_bytes(),
            "d.xml": b"<Events><Event><System><EventID>1</EventID></System></Event><Event><Sys",
        },
    )
    results: dict[str, Any] = {}
    for name, events in iter_inputs([archive]):
        try:
            results[name] = sum(1 for _ in events)
        except ValueError as exc:
            results[name] = str(exc)
    prefix = f"{archive}!"
    assert results[prefix + "a.json"] == good_n
    assert results[prefix + "c.evtx"] == evtx_n
    assert results[prefix + "b.jsonl"].startswith(prefix + "b.jsonl: ")
    assert "line 3" in results[prefix + "b.jsonl"]
    assert "record 2" in results[prefix + "d.xml"] and "not closed" in results[prefix + "d.xml"]
    # Truncated compressed data is a ValueError naming the input, not an EOFError.
    lines = b"".join(b'{"n": %d, "pad": "%x"}\n' % (i, i * 7919) for i in range(20_000))
    (tmp_path / "cut.json.gz").write_bytes(gzip.compress(lines)[:-5000])
    [(_, events)] = list(iter_inputs([tmp_path / "cut.json.gz"]))
    with pytest.raises(ValueError, match=r"cut\.json\.gz: corrupt or truncated compressed data"):
        list(events)
    # A broken archive is one failed input, named.
    (tmp_path / "broken.zip").write_bytes(archive.read_bytes()[:200])
    [(name, events)] = list(iter_inputs([tmp_path / "broken.zip"]))
    with pytest.raises(ValueError, match=r"broken\.zip"):
        list(events)


def test_unknown_format_named_explicitly_fails(tmp_path: Path) -> None:
    odd = tmp_path / "odd.dat"
    odd.write_bytes(b"\x00\x00binary")
    skipped: list[tuple[str, str]] = []
    [(name, events)] = list(iter_inputs([odd], on_skip=lambda n, r: skipped.append((n, r))))
    with pytest.raises(ValueError, match=r"odd\.dat: unrecognised format"):
        list(events)
    assert skipped == []


def test_archive_bombs_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "RATIO_FLOOR", 1024 * 1024)
    zeros = b"{}" + b" " * (4 * 1024 * 1024)
    _zip(tmp_path / "bomb.zip", {"z.json": zeros, "ok.json": b'{"a": 1}'})
    (tmp_path / "bomb.json.gz").write_bytes(gzip.compress(zeros))
    results: dict[str, Any] = {}
    for name, events in iter_inputs([tmp_path / "bomb.zip", tmp_path / "bomb.json.gz"]):
        try:
            results[name] = sum(1 for _ in events)
        except ValueError as exc:
            results[name] = str(exc)
    assert results[f"{tmp_path / 'bomb.zip'}!ok.json"] == 1
    assert "refused, compression ratio above" in results[f"{tmp_path / 'bomb.zip'}!z.json"]
    assert "refused, compression ratio above" in results[str(tmp_path / "bomb.json.gz")]
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 1000)
    _zip(tmp_path / "big.zip", {"big.json": b'{"a": "' + b"x" * 2000 + b'"}'})
    [(_, events)] = list(iter_inputs([tmp_path / "big.zip"]))
    with pytest.raises(ValueError, match=r"big\.zip!big\.json: refused, declares 2009 bytes"):
        list(events)
    # Nesting deeper than MAX_DEPTH.
    data = b'{"a": 1}'
    for level in range(sources.MAX_DEPTH + 1):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(f"l{level}.zip" if level else "e.json", data)
        data = buf.getvalue()
    (tmp_path / "deep.zip").write_bytes(data)
    [(name, events)] = list(iter_inputs([tmp_path / "deep.zip"]))
    with pytest.raises(ValueError, match="nested deeper than"):
        list(events)


def test_jsonl_is_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsers, "CHUNK", 64 * 1024)
    line = json.dumps({"EventID": 1, "CommandLine": "x" * 200}) + "\n"
    path = tmp_path / "big.jsonl"
    path.write_text(line * 20_000)  # ~4.5 MB
    array = tmp_path / "big.json"
    array.write_text("[" + ",\n".join([line.strip()] * 20_000) + "]")
    for p in (path, array):
        tracemalloc.start()
        try:
            n = sum(1 for _ in iter_events_from_file(p))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert n == 20_000
        assert peak < 1_500_000, f"{p.name}: peak {peak} bytes for a {p.stat().st_size} file"


def _xml_records(path: Path) -> list[str]:
    return [r["data"] for r in evtx.PyEvtxParser(str(path)).records()]


def test_xml_exports_flatten_as_evtx(tmp_path: Path) -> None:
    files = sorted(REGRESSION.rglob("*.evtx"))
    assert files
    compared = 0
    for i, path in enumerate(files):
        expected = list(iter_evtx_file(path))
        records = _xml_records(path)
        if i % 3 == 0:  # Event Viewer "Save as XML"
            text = (
                '<?xml version="1.0" encoding="utf-8"?>\n<Events>' + "".join(records) + "</Events>"
            )
            blob = text.encode()
        elif i % 3 == 1:  # wevtutil qe /f:xml redirected by PowerShell: UTF-16 with a BOM
            blob = "\r\n".join(records).encode("utf-16")
        else:  # a bare sequence
            blob = "\n".join(records).encode()
        target = tmp_path / f"{i}.xml"
        target.write_bytes(blob)
        got = list(iter_events_from_file(target))
        assert got == expected, path
        compared += len(got)
    assert compared > 50


def test_xml_bombs_and_entities_are_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE Events [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + "]><Events><Event><System><EventID>&i;</EventID></System></Event></Events>"
    )
    with pytest.raises(ValueError, match=r"bomb\.xml.*(DTD|entity|refused)"):
        list(iter_events_from_file(bomb))
    undefined = tmp_path / "u.xml"
    undefined.write_text("<Event><System><EventID>&xxe;</EventID></System></Event>")
    with pytest.raises(ValueError, match=r"u\.xml: record 1 at offset 0 \(line 1\)"):
        list(iter_events_from_file(undefined))


AUDIT_LOG = """\
type=SYSCALL msg=audit(1764788000.120:901): arch=c000003e syscall=59 success=yes exit=0 a0=5581d8a1b2c0 a1=5581d8a1b340 a2=5581d8a1b380 a3=7ffd8f4e0a10 items=2 ppid=2211 pid=2254 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="whoami" exe="/usr/bin/whoami" subj=unconfined key="recon"
type=EXECVE msg=audit(1764788000.120:901): argc=1 a0="whoami"
type=CWD msg=audit(1764788000.120:901): cwd="/home/alice"
type=PATH msg=audit(1764788000.120:901): item=0 name="/usr/bin/whoami" inode=1835 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1764788000.120:901): proctitle="whoami"
type=SYSCALL msg=audit(1764788003.500:902): arch=c000003e syscall=59 success=yes exit=0 a0=55 a1=56 a2=57 a3=0 items=2 ppid=2254 pid=2260 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="x" exe="/tmp/.x/payload" subj=unconfined key=(null)
type=EXECVE msg=audit(1764788003.500:902): argc=3 a0="/tmp/.x/payload" a1="-c" a2=6563686F202268692074686572652220262620696421
type=PROCTITLE msg=audit(1764788003.500:902): proctitle=2F746D702F2E782F7061796C6F6164002D63
type=SYSCALL msg=audit(1764788004.000:903): arch=c000003e syscall=99 success=yes exit=0 a0=7ffd a1=0 a2=0 a3=0 items=0 ppid=2254 pid=2261 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="payload" exe="/tmp/.x/payload" subj=unconfined key=(null)\x1dARCH=x86_64 SYSCALL=sysinfo AUID="alice" UID="alice"
type=USER_AUTH msg=audit(1764788010.000:904): pid=3001 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='op=PAM:authentication grantors=pam_unix acct="root" exe="/usr/sbin/sshd" hostname=10.0.0.5 addr=10.0.0.5 terminal=ssh res=success'
"""  # noqa: E501


@pytest.fixture(scope="module")
def linux_rules() -> RuleSet:
    return RuleSet.from_dirs(
        [
            LINUX_RULES / "auditd",
            LINUX_RULES / "process_creation",
            LINUX_RULES / "file_event",
            LINUX_RULES / "network_connection",
        ]
    )


def _fired(ruleset: RuleSet, events: Iterator[dict[str, Any]]) -> list[set[str]]:
    return [{str(r.id) for r in ruleset.match(e)} for e in events]


def test_auditd_log_fires_corpus_rules(tmp_path: Path, linux_rules: RuleSet) -> None:
    log = tmp_path / "audit" / "audit.log"
    log.parent.mkdir()
    log.write_text(AUDIT_LOG)
    [(name, events)] = list(iter_inputs([tmp_path]))
    assert name == str(log)
    got = list(events)
    assert [e["type"] for e in got][:5] == ["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE"]
    first = got[0]
    assert first["timestamp"] == "2025-12-03T18:53:20.120Z" and first["serial"] == 901
    assert (
        first["SYSCALL"] == "execve"
        and first["exe"] == "/usr/bin/whoami"
        and first["key"] == "recon"
    )
    assert got[6]["a2"] == 'echo "hi there" && id!'  # hex decoded as ausearch -i does
    assert got[7]["proctitle"] == "/tmp/.x/payload -c"
    assert got[8]["SYSCALL"] == "sysinfo" and got[8]["AUID"] == "alice"
    assert got[9]["acct"] == "root" and got[9]["res"] == "success" and got[9]["type"] == "USER_AUTH"
    fired = _fired(linux_rules, iter(got))
    assert "9a0d8ca0-2385-4020-b6c6-cb6153ca56f3" in fired[1]  # EXECVE a0=whoami
    assert "a39d7fa7-3fbd-4dc2-97e1-d87f546b1bbc" in fired[5]  # exe under /tmp/
    assert "b207d563-a1d9-4275-b349-77d1eb55aa6d" in fired[8]  # SYSCALL=sysinfo
    assert not fired[0] and not fired[9]


def test_auditd_bad_line_names_the_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(AUDIT_LOG.splitlines()[0] + "\ngarbage here\n")
    with pytest.raises(ValueError, match=r"audit\.log: line 2: not an audit record"):
        list(iter_events_from_file(log))


SYSMON_SYSTEM = (
    '<System><Provider Name="Linux-Sysmon" Guid="{{ff032593-a8d3-4f13-b0d6-01fc615a0f97}}"/>'
    "<EventID>{eid}</EventID><Version>5</Version><Level>4</Level><Task>{eid}</Task>"
    "<Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>"
    '<TimeCreated SystemTime="2026-12-03T19:00:0{eid}.123456000Z"/>'
    "<EventRecordID>{rec}</EventRecordID><Correlation/>"
    '<Execution ProcessID="811" ThreadID="811"/><Channel>Linux-Sysmon/Operational</Channel>'
    '<Computer>web01</Computer><Security UserId="0"/></System>'
)


def _sysmon(eid: int, rec: int, data: dict[str, str]) -> str:
    fields = "".join(f'<Data Name="{k}">{v}</Data>' for k, v in data.items())
    return f"<Event>{SYSMON_SYSTEM.format(eid=eid, rec=rec)}<EventData>{fields}</EventData></Event>"


SYSMON_EVENTS = [
    _sysmon(
        1,
        100,
        {
            "RuleName": "-",
            "UtcTime": "2026-12-03 19:00:01.123",
            "ProcessGuid": "{1}",
            "ProcessId": "4242",
            "Image": "/usr/bin/whoami",
            "FileVersion": "-",
            "CommandLine": "whoami",
            "CurrentDirectory": "/root",
            "User": "root",
            "LogonGuid": "{2}",
            "LogonId": "0",
            "TerminalSessionId": "3",
            "IntegrityLevel": "no level",
            "Hashes": "-",
            "ParentProcessGuid": "{3}",
            "ParentProcessId": "4200",
            "ParentImage": "/usr/bin/bash",
            "ParentCommandLine": "bash -i",
            "ParentUser": "root",
        },
    ),
    _sysmon(
        3,
        101,
        {
            "RuleName": "-",
            "UtcTime": "2026-12-03 19:00:03.000",
            "ProcessGuid": "{1}",
            "ProcessId": "4300",
            "Image": "/usr/local/bin/ngrok",
            "User": "root",
            "Protocol": "tcp",
            "Initiated": "true",
            "SourceIsIpv6": "false",
            "SourceIp": "10.0.0.7",
            "SourceHostname": "-",
            "SourcePort": "50122",
            "DestinationIsIpv6": "false",
            "DestinationIp": "3.134.39.220",
            "DestinationHostname": "tunnel.us.ngrok.com",
            "DestinationPort": "443",
        },
    ),
    _sysmon(
        11,
        102,
        {
            "RuleName": "-",
            "UtcTime": "2026-12-03 19:00:05.000",
            "ProcessGuid": "{1}",
            "ProcessId": "4400",
            "Image": "/usr/bin/tee",
            "TargetFilename": "/etc/sudoers.d/backdoor",
            "CreationUtcTime": "2026-12-03 19:00:05.000",
            "User": "root",
        },
    ),
]
SYSMON_IDS = [
    "ea3ecad2-db86-4a89-ad0b-132a10d2db55",
    "19bf6fdb-7721-4f3d-867f-53467f6a5db6",
    "ddb26b76-4447-4807-871f-1b035b2bfa5d",
]


def test_sysmon_for_linux_fires_corpus_rules(tmp_path: Path, linux_rules: RuleSet) -> None:
    syslog = tmp_path / "syslog"
    lines = [
        "Dec  3 18:59:59 web01 systemd[1]: Started Session 3 of user root.",
        *(f"Dec  3 19:00:0{i} web01 sysmon: {x}" for i, x in enumerate(SYSMON_EVENTS)),
        "Dec  3 19:00:09 web01 CRON[991]: (root) CMD (true)",
    ]
    syslog.write_text("\n".join(lines) + "\n")
    bare = tmp_path / "sysmon.xml"
    bare.write_text("\n".join(SYSMON_EVENTS))
    for path in (syslog, bare):
        events = list(iter_events_from_file(path))
        assert [e["EventID"] for e in events] == [1, 3, 11]
        assert events[0]["Channel"] == "Linux-Sysmon/Operational"
        assert events[0]["ParentCommandLine"] == "bash -i" and events[0]["ProcessId"] == 4242
        fired = _fired(linux_rules, iter(events))
        for expected, got in zip(SYSMON_IDS, fired, strict=True):
            assert expected in got, (path.name, got)


def test_csv_exports(tmp_path: Path) -> None:
    win = tmp_path / "System.csv"
    win.write_text(
        "Level,Date and Time,Source,Event ID,Task Category\n"
        'Information,12/3/2026 7:52:23 PM,Service Control Manager,7036,None,"The Windows Update '
        'service entered the\nstopped state."\n'
        "Error,12/3/2026 7:50:01 PM,Microsoft-Windows-Kernel-Power,41,(63),"
        "The system has rebooted\n",
        encoding="utf-8-sig",
    )
    rows = list(iter_events_from_file(win))
    assert rows[0] == {
        "Level": "Information",
        "TimeCreated": "2026-12-03T19:52:23",
        "Provider_Name": "Service Control Manager",
        "EventID": 7036,
        "TaskCategory": "None",
        "Message": "The Windows Update service entered the\nstopped state.",
    }
    assert rows[1]["EventID"] == 41 and rows[1]["Message"] == "The system has rebooted"
    generic = tmp_path / "events.txt"  # no extension: told by its header and rows
    generic.write_text("timestamp;host;user;action\n2026-12-03T19:00:00Z;web01;alice;login\n")
    assert list(iter_events_from_file(generic)) == [
        {"timestamp": "2026-12-03T19:00:00Z", "host": "web01", "user": "alice", "action": "login"}
    ]
    plain = tmp_path / "plain" / "messages"  # a syslog line with commas is no CSV header
    plain.parent.mkdir()
    plain.write_text("Dec  3 19:00:00 web01 sshd[1]: Accepted key for alice, port 22\n" * 2)
    skipped: list[str] = []
    assert list(iter_inputs([plain.parent], on_skip=lambda n, r: skipped.append(n))) == []
    assert skipped == [str(plain)]
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b\n1,2\n3,"unterminated\n')
    with pytest.raises(ValueError, match=r"bad\.csv: line \d+: invalid CSV"):
        list(iter_events_from_file(bad))
    bad_id = tmp_path / "bad_id.csv"
    bad_id.write_text("Level,Date and Time,Source,Event ID,Task Category\nInfo,x,y,NaN,None\n")
    with pytest.raises(ValueError, match=r"bad_id\.csv: line 2: Event ID 'NaN'"):
        list(iter_events_from_file(bad_id))


def test_existing_formats_through_iter_inputs(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    evtx_path = next(iter(sorted(REGRESSION.rglob("*.evtx"))))
    objs = [json.loads(r["data"]) for r in evtx.PyEvtxParser(str(evtx_path)).records_json()]
    path.write_text("\n".join(json.dumps(o, indent=2) for o in objs))  # evtx_dump output
    [(name, events)] = list(iter_inputs([path]))
    assert list(events) == list(iter_evtx_file(evtx_path))
    copy = tmp_path / "copy.evtx"
    shutil.copy(evtx_path, copy)
    [(_, events)] = list(iter_inputs([copy]))
    assert list(events) == list(iter_evtx_file(evtx_path))


def test_tgz_members_in_order_decompress_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = json.dumps({"EventID": 1, "CommandLine": "x" * 100}).encode() + b"\n"
    _tar(tmp_path / "a.tgz", {f"m{i:03}.jsonl": line * 300 for i in range(60)})
    opened: list[int] = []
    real = sources._TarCursor.at

    def at(self: Any, offset: int) -> Any:
        before = self.fh
        got = real(self, offset)
        if self.fh is not before:
            opened.append(offset)
        return got

    monkeypatch.setattr(sources._TarCursor, "at", at)
    counts = [sum(1 for _ in events) for _, events in iter_inputs([tmp_path / "a.tgz"])]
    assert counts == [300] * 60
    assert len(opened) == 1  # sniffing a member and then reading it reuses the stream
