"""The syslog, CEF, LEEF parsers and RFC 6587 framing: samples from the RFCs and the CEF/LEEF
specifications, and hypothesis fuzzing (no exception escapes; a bad line gets a reason)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.syslog.formats import body_fields, parse_cef, parse_leef
from ingest.syslog.framing import Framer
from ingest.syslog.parse import Bad, parse_line
from ingest.syslog.records import to_record


def test_rfc5424_examples() -> None:
    line = (
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
        b'[examplePriority@32473 class="high"] \xef\xbb\xbfAn application event log entry...'
    )
    out = parse_line(line)
    assert not isinstance(out, Bad)
    assert out["facility"] == "local4" and out["severity"] == "notice"
    assert out["host"] == "mymachine.example.com" and out["app"] == "evntslog"
    assert "procid" not in out and out["msgid"] == "ID47"
    assert out["structured_data"]["exampleSDID@32473"]["eventID"] == "1011"
    assert out["structured_data"]["examplePriority@32473"] == {"class": "high"}
    assert out["message"] == "An application event log entry..."
    assert out["@timestamp"] == "2003-10-11T22:14:15.003000+00:00"
    nil = parse_line(b"<34>1 - - - - - -")
    assert not isinstance(nil, Bad) and nil["message"] == ""
    escaped = parse_line(b'<34>1 - h a 1 m [x@1 v="a\\"b\\]c"] text')
    assert not isinstance(escaped, Bad)
    assert escaped["structured_data"]["x@1"]["v"] == 'a"b]c' and escaped["procid"] == "1"


def test_rfc3164_examples() -> None:
    out = parse_line(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick")
    assert not isinstance(out, Bad)
    assert (out["facility"], out["severity"], out["host"], out["app"]) == (
        "auth",
        "crit",
        "mymachine",
        "su",
    )
    assert out["message"] == "'su root' failed for lonvick"
    sshd = parse_line(b"<38>Feb  5 17:32:18 web01 sshd[4721]: Failed password for root")
    assert not isinstance(sshd, Bad) and sshd["procid"] == "4721"
    bare = parse_line(b"<13>just text")  # no timestamp: still a message
    assert not isinstance(bare, Bad) and bare["message"] == "just text"


def test_bad_lines_have_reasons() -> None:
    for line, word in [
        (b"no pri", "PRI"),
        (b"<999>x", "191"),
        (b"<34>1 2003-10-11T22:14:15 h a p m - x", "time zone"),
        (b"<34>1 notatime h a p m - x", "RFC 3339"),
        (b"<34>1 - h a p m [bad x", "structured data"),
        (b"<34>1 - h", "cut short"),
    ]:
        out = parse_line(line)
        assert isinstance(out, Bad) and word in out.reason, (line, out)


def test_cef_and_leef_samples() -> None:
    cef = parse_cef(
        "CEF:0|Security|threatmanager|1.0|100|detected a \\| in message|10|"
        "src=10.0.0.1 act=blocked a \\= dst=1.1.1.1 msg=line one\\nline two"
    )
    assert not isinstance(cef, Bad)
    assert cef["name"] == "detected a | in message" and cef["cef_severity"] == "10"
    assert cef["extensions"] == {
        "src": "10.0.0.1",
        "act": "blocked a =",
        "dst": "1.1.1.1",
        "msg": "line one\nline two",
    }
    leef = parse_leef("LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1")
    assert not isinstance(leef, Bad) and leef["attributes"]["dst"] == "172.50.123.1"
    leef2 = parse_leef("LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5")
    assert not isinstance(leef2, Bad) and leef2["attributes"] == {
        "src": "10.0.1.8",
        "dst": "10.0.0.5",
        "sev": "5",
    }
    hexed = parse_leef("LEEF:2.0|V|P|1|E|0x09|a=1\tb=2")
    assert not isinstance(hexed, Bad) and hexed["attributes"] == {"a": "1", "b": "2"}
    assert isinstance(parse_cef("CEF:0|only|three"), Bad)
    assert isinstance(parse_leef("LEEF:1.0|V|P|1|E|notpairs"), Bad)


def test_json_body_merges_fields_and_key_is_removed() -> None:
    line = b'<14>1 - web app - - [soc@32473 key="sk_secret"] {"EventID": 4625, "app": "x"}'
    record = to_record(line, 65536)
    assert not isinstance(record, Bad)
    fields, raw, key = record
    assert key == "sk_secret" and b"sk_secret" not in raw and "structured_data" not in fields
    assert fields["EventID"] == 4625 and fields["app"] == "app"  # the header wins a clash
    cef = to_record(b"<14>Oct 11 22:14:15 fw CEF:0|V|P|1|7|Name|5|src=1.2.3.4", 65536)
    assert not isinstance(cef, Bad) and cef[0]["cef"]["extensions"]["src"] == "1.2.3.4"
    assert body_fields("{not json}") is None


def test_framing_octet_counting_and_lf() -> None:
    framer = Framer(100)
    assert framer.feed(b"5 hello<1>x\n3 ab") == [b"hello", b"<1>x"]
    assert framer.feed(b"c<2>y\r\n") == [b"abc", b"<2>y"]
    over = framer.feed(b"200 " + b"x" * 200 + b"<3>after\n")
    assert isinstance(over[0], Bad) and "200 bytes" in over[0].reason and over[1:] == [b"<3>after"]
    long_line = framer.feed(b"<4>" + b"y" * 300 + b"\n<5>next\n")
    assert isinstance(long_line[0], Bad) and long_line[1:] == [b"<5>next"]
    assert framer.feed(b"<6>unterminated") == [] and framer.close() == [b"<6>unterminated"]


def _lines() -> st.SearchStrategy[bytes]:
    pieces = st.sampled_from(
        [
            b"<",
            b">",
            b"1 ",
            b"<34>",
            b"<191>1 ",
            b"- ",
            b"[",
            b"]",
            b'="',
            b'"',
            b"\\",
            b" ",
            b"CEF:0|",
            b"LEEF:2.0|",
            b"|",
            b"=",
            b"{",
            b"}",
            b"2003-10-11T22:14:15Z ",
            b"Oct 11 22:14:15 ",
            b"x@1",
            b"soc@32473 key",
            b"\xff",
            b"\xef\xbb\xbf",
            b"\n",
            b"9",
        ]
    )
    return st.one_of(st.binary(max_size=300), st.lists(pieces, max_size=40).map(b"".join))


@settings(max_examples=600, deadline=None)
@given(_lines())
def test_fuzz_syslog_records(line: bytes) -> None:
    out = to_record(line, 65536)
    if isinstance(out, Bad):
        assert out.reason
    else:
        assert isinstance(out[0], dict) and "facility" in out[0]


@settings(max_examples=600, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_cef_leef(text: str) -> None:
    for out in (parse_cef("CEF:" + text), parse_leef("LEEF:" + text), body_fields(text)):
        assert out is None or isinstance(out, Bad | dict | tuple)
        if isinstance(out, Bad):
            assert out.reason


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=20), st.integers(1, 50))
def test_fuzz_framing(chunks: list[bytes], limit: int) -> None:
    framer = Framer(limit)
    for chunk in chunks:
        for frame in framer.feed(chunk):
            assert isinstance(frame, Bad) and frame.reason or len(frame) <= limit + 12
    framer.close()


def test_framing_never_loses_frames_across_chunk_splits() -> None:
    stream = b"".join(b"%d %s" % (len(m), m) for m in [b"<1>a", b"<2>bb", b"<3>ccc"]) + b"<4>d\n"
    for cut in range(len(stream)):
        framer = Framer(1000)
        got = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        assert got == [b"<1>a", b"<2>bb", b"<3>ccc", b"<4>d"], cut
