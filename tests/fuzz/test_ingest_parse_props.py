"""Property tests for splitting ingest bodies (ingest/parse.py) and normalising events
(ingest/events.py): whatever arrives, nothing raises, every line is accounted for once, and
events get UTC times and deterministic, tenant-scoped ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.events import TIME_FIELDS, Event, normalise, parse_time, stable_id
from ingest.parse import ACCEPTED_TYPES, JSON_TYPES, Parsed, Rejected, media_type, split_body

PROPS = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# --- strategies -------------------------------------------------------------------------------

KEYS = st.sampled_from(
    [*TIME_FIELDS, "Computer", "host", "hostname", "_id", "Event", "System", "EventData",
     "#attributes", "#text", "SystemTime", "TimeCreated", "EventID", "Data", "Name", "msg"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # what orjson reads and writes
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "2026-01-31T12:00:00Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-02-30",
            "1700000000",
            "",
            " ",
            "yesterday",
        ]
    ),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
OBJECTS = st.dictionaries(KEYS | st.text(max_size=8), JSON_VALUES, max_size=6)
WHITESPACE = st.sampled_from([b"", b" ", b"\t", b"\r", b"  \r", b"\x0b", b"\x0c"])
LINES = st.one_of(
    OBJECTS.map(orjson.dumps),
    JSON_VALUES.map(orjson.dumps),
    st.builds(lambda pad, obj, end: pad + orjson.dumps(obj) + end, WHITESPACE, OBJECTS, WHITESPACE),
    WHITESPACE,  # blank lines
    st.binary(max_size=60),  # garbage, invalid UTF-8, stray newlines
)
BODIES = st.one_of(
    st.binary(max_size=400),
    st.lists(LINES, max_size=8).map(b"\n".join),
    st.lists(OBJECTS, max_size=6).map(orjson.dumps),  # a JSON array of objects
    st.lists(JSON_VALUES, max_size=6).map(orjson.dumps),  # a JSON array of anything
    JSON_VALUES.map(orjson.dumps),
    st.builds(lambda body, cut: body[:cut], st.lists(OBJECTS, max_size=4).map(orjson.dumps),
              st.integers(0, 200)),  # a truncated array
)  # fmt: skip
CONTENT_TYPES = st.one_of(
    st.sampled_from(sorted(ACCEPTED_TYPES)),
    st.sampled_from(["Application/JSON; charset=utf-8", " application/json ", "text/plain;x=y"]),
    st.text(max_size=40),
)
MAX_EVENT_BYTES = st.sampled_from([1, 16, 64, 4096, 1 << 20])


def _ndjson_lines(body: bytes) -> list[tuple[int, bytes]]:
    """The non-blank lines of a body and their 1-based numbers, independently of parse.py."""
    return [(n, line.strip()) for n, line in enumerate(body.split(b"\n"), 1) if line.strip()]


def _check_item(item: Parsed | Rejected, max_event_bytes: int) -> None:
    if isinstance(item, Parsed):
        assert isinstance(item.obj, dict) and item.obj
        assert orjson.loads(item.raw) == item.obj
        assert len(item.raw) <= max_event_bytes
    else:
        assert isinstance(item, Rejected)
        assert isinstance(item.reason, str) and item.reason


# --- split_body -------------------------------------------------------------------------------


@PROPS
@given(body=BODIES, content_type=CONTENT_TYPES, max_event_bytes=MAX_EVENT_BYTES)
def test_split_body_accounts_for_every_line(
    body: bytes, content_type: str, max_event_bytes: int
) -> None:
    items = split_body(body, content_type, max_event_bytes)
    for item in items:
        _check_item(item, max_event_bytes)
    numbers = [item.line for item in items]

    is_json = media_type(content_type) in JSON_TYPES
    try:
        value: Any = orjson.loads(body)
        parsed_whole = True
    except orjson.JSONDecodeError:
        parsed_whole = False

    if is_json and parsed_whole:
        # A JSON document: its items (a single value is one item), numbered 1..n in order.
        expected = len(value) if isinstance(value, list) else 1
        assert numbers == list(range(1, expected + 1))
        for item, original in zip(
            items, value if isinstance(value, list) else [value], strict=True
        ):
            if isinstance(item, Parsed):
                assert item.obj == original
    elif is_json and body.lstrip()[:1] == b"[":
        # A broken array: one refusal for the whole body, numbered 0.
        assert len(items) == 1 and isinstance(items[0], Rejected) and items[0].line == 0
    else:
        # NDJSON (also objects a line sent as application/json): every non-blank line exactly
        # once, with its own 1-based number, in order.
        lines = _ndjson_lines(body)
        assert numbers == [n for n, _ in lines]
        for item, (_, raw) in zip(items, lines, strict=True):
            if isinstance(item, Parsed):
                assert item.raw == raw


@PROPS
@given(
    lines=st.lists(st.one_of(OBJECTS.map(orjson.dumps), WHITESPACE, st.binary(max_size=30)),
                   max_size=10),
    newline=st.sampled_from([b"\n", b"\r\n"]),
    content_type=st.sampled_from(sorted(ACCEPTED_TYPES - JSON_TYPES)),
)  # fmt: skip
def test_ndjson_lines_keep_their_numbers(
    lines: list[bytes], newline: bytes, content_type: str
) -> None:
    body = newline.join(lines)
    items = split_body(body, content_type, 4096)
    expected = _ndjson_lines(body)
    assert [item.line for item in items] == [n for n, _ in expected]
    parsed = [item for item in items if isinstance(item, Parsed)]
    assert [p.obj for p in parsed] == [orjson.loads(p.raw) for p in parsed]


@PROPS
@given(objs=st.lists(OBJECTS.filter(bool), min_size=1, max_size=6))
def test_valid_objects_are_all_parsed_either_way(objs: list[dict[str, Any]]) -> None:
    """The same non-empty objects as NDJSON or as a JSON array: all parsed, same objects."""
    as_lines = split_body(
        b"\n".join(orjson.dumps(o) for o in objs), "application/x-ndjson", 1 << 20
    )
    as_array = split_body(orjson.dumps(objs), "application/json", 1 << 20)
    for items in (as_lines, as_array):
        assert all(isinstance(i, Parsed) for i in items)
        assert [i.line for i in items] == list(range(1, len(objs) + 1))
        assert [i.obj for i in items] == objs


@PROPS
@given(obj=OBJECTS.filter(bool), max_event_bytes=st.integers(1, 200))
def test_oversized_events_are_refused(obj: dict[str, Any], max_event_bytes: int) -> None:
    raw = orjson.dumps(obj)
    (item,) = split_body(raw, "application/x-ndjson", max_event_bytes)
    assert isinstance(item, Parsed) == (len(raw) <= max_event_bytes)


# --- parse_time -------------------------------------------------------------------------------


def _is_utc(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == timedelta(0)


@PROPS
@given(value=JSON_VALUES)
def test_parse_time_never_raises(value: Any) -> None:
    parsed = parse_time(value)
    assert parsed is None or _is_utc(parsed)


@PROPS
@given(
    value=st.one_of(JSON_VALUES, st.text(), st.floats(), st.integers()),
    wrap=st.sampled_from(["plain", "SystemTime", "#attributes", "#attributes-bare"]),
)
def test_parse_time_evtx_shapes_never_raise(value: Any, wrap: str) -> None:
    shaped = {
        "plain": value,
        "SystemTime": {"SystemTime": value},
        "#attributes": {"#attributes": {"SystemTime": value}},
        "#attributes-bare": {"#attributes": value},
    }[wrap]
    parsed = parse_time(shaped)
    assert parsed is None or _is_utc(parsed)


@PROPS
@example(moment=datetime(1, 1, 1), offset_minutes=60)  # UTC equivalent is before year 1
@example(moment=datetime(9999, 12, 31, 23, 59), offset_minutes=-60)  # ... after year 9999
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    offset_minutes=st.one_of(st.none(), st.integers(-23 * 60 - 59, 23 * 60 + 59)),
)
def test_parse_time_reads_iso_times_as_utc(moment: datetime, offset_minutes: int | None) -> None:
    if offset_minutes is None:  # no timezone given: taken as UTC
        parsed = parse_time(moment.isoformat())
        assert parsed == moment.replace(tzinfo=UTC) and _is_utc(parsed)
        return
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    parsed = parse_time(aware.isoformat())
    if parsed is None:  # only when the UTC equivalent is outside what datetime holds
        assert not datetime.min.replace(tzinfo=UTC) <= aware <= datetime.max.replace(tzinfo=UTC)
    else:
        assert parsed == aware and _is_utc(parsed)


@PROPS
@given(seconds=st.integers(0, 10**11))
def test_parse_time_epoch_seconds_and_milliseconds(seconds: int) -> None:
    assert parse_time(seconds) == datetime.fromtimestamp(seconds, UTC)
    millis = seconds * 1000
    if millis > 10**11:
        assert parse_time(millis) == datetime.fromtimestamp(seconds, UTC)


# --- normalise --------------------------------------------------------------------------------

TENANTS = st.integers(1, 2**31)


def _normalise(obj: dict[str, Any], tenant_id: int) -> Event:
    return normalise(obj, orjson.dumps(obj), tenant_id, RECEIVED)


@PROPS
@given(obj=OBJECTS, tenant_id=TENANTS)
def test_normalise_never_raises_and_gives_utc_times(obj: dict[str, Any], tenant_id: int) -> None:
    raw = orjson.dumps(obj)
    event = normalise(obj, raw, tenant_id, RECEIVED)
    assert _is_utc(event.event_time) and _is_utc(event.received_at)
    # Either a believable time from the event or the receive time.
    assert event.event_time == RECEIVED or (
        datetime(1990, 1, 1, tzinfo=UTC) <= event.event_time < RECEIVED + timedelta(days=2)
    )
    assert event.size == len(raw) and event.tenant_id == tenant_id
    assert isinstance(event.host, str) and len(event.host) <= 255
    assert isinstance(event.data, dict)
    assert isinstance(event.id, str) and 0 < len(event.id) <= 64


@st.composite
def windows_events(draw: st.DrawFn) -> dict[str, Any]:
    """evtx_dump-shaped events with arbitrary contents where the fields are."""
    system = draw(
        st.dictionaries(
            st.sampled_from(
                [
                    "Provider",
                    "EventID",
                    "TimeCreated",
                    "Computer",
                    "Execution",
                    "Security",
                    "Channel",
                    "Correlation",
                    "Level",
                ]
            ),
            JSON_VALUES | st.fixed_dictionaries({"#attributes": JSON_VALUES}),
            max_size=6,
        )
    )
    event: dict[str, Any] = {"System": system}
    for section in draw(st.lists(st.sampled_from(["EventData", "UserData"]), max_size=2)):
        event[section] = draw(JSON_VALUES)
    return {"Event": event} if draw(st.booleans()) else event


@PROPS
@given(obj=windows_events(), tenant_id=TENANTS)
def test_normalise_windows_shapes(obj: dict[str, Any], tenant_id: int) -> None:
    event = _normalise(obj, tenant_id)
    assert _is_utc(event.event_time) and isinstance(event.data, dict)


@PROPS
@given(obj=OBJECTS, tenant_a=TENANTS, tenant_b=TENANTS)
def test_stable_id_is_deterministic_and_per_tenant(
    obj: dict[str, Any], tenant_a: int, tenant_b: int
) -> None:
    raw = orjson.dumps(obj)
    first, again = _normalise(obj, tenant_a), _normalise(obj, tenant_a)
    assert first.id == again.id == stable_id(tenant_a, raw)
    assert len(first.id) == 32 and int(first.id, 16) >= 0
    assert (_normalise(obj, tenant_b).id == first.id) == (tenant_a == tenant_b)


@PROPS
@given(raw_a=st.binary(max_size=50), raw_b=st.binary(max_size=50), tenant_id=TENANTS)
def test_stable_id_depends_on_the_raw_bytes(raw_a: bytes, raw_b: bytes, tenant_id: int) -> None:
    assert (stable_id(tenant_id, raw_a) == stable_id(tenant_id, raw_b)) == (raw_a == raw_b)


@PROPS
@given(supplied=st.text(min_size=1, max_size=100), tenant_id=TENANTS)
def test_a_supplied_id_never_names_the_event(supplied: str, tenant_id: int) -> None:
    first = _normalise({"_id": supplied, "msg": "x"}, tenant_id)
    other = _normalise({"_id": supplied, "msg": "y"}, tenant_id)
    assert first.id != other.id  # same _id, different content: both are kept


# --- whatever is parsed also stores ------------------------------------------------------------


def _nested_line(depth: int, key: str, leaf: Any) -> bytes:
    """An object whose value nests `depth` more levels of arrays and objects, written as bytes
    (orjson itself cannot write past 254 levels)."""
    name = orjson.dumps(key)
    opening = b"".join(b"{" + name + b":" if level % 2 else b"[" for level in range(depth))
    closing = b"".join(b"}" if level % 2 else b"]" for level in reversed(range(depth)))
    return b"{" + name + b":" + opening + orjson.dumps(leaf) + closing + b"}"


NESTED_LINES = st.builds(
    _nested_line,
    st.integers(0, 300),  # around the accepted depth and orjson's write limit (254)
    KEYS | st.text(max_size=4),
    SCALARS,
)
RISKY_LINES = st.sampled_from(
    [
        b'{"a":18446744073709551615}',  # largest u64: orjson reads and writes it
        b'{"a":18446744073709551616}',  # past u64: orjson reads a float
        b'{"a":-9223372036854775809}',
        b'{"a":123456789012345678901234567890123456789}',
        b'{"a":1e400}',  # infinity: not JSON for orjson
        b'{"a":NaN}',
        b'{"a":"\\ud800"}',  # lone surrogates
        b'{"\\udfff":1}',
        b'{"a":"\\u0000","Computer":"\\u0000h"}',
        b'{"a":"\xff\xfe"}',  # invalid UTF-8
        *(  # Windows events whose data nests around the limit (the flattening recurses)
            b'{"Event":{"System":{"EventID":1},"EventData":'
            + b'{"#text":' * depth
            + b"1"
            + b"}" * (depth + 2)
            for depth in (60, 62, 300, 1020)
        ),
    ]
)
STORE_LINES = st.one_of(LINES, NESTED_LINES, RISKY_LINES)


@PROPS
@given(
    lines=st.lists(STORE_LINES, min_size=1, max_size=8),
    content_type=st.sampled_from(["application/x-ndjson", "application/json"]),
)
def test_every_line_stores_or_is_refused_alone(lines: list[bytes], content_type: str) -> None:
    """A line is either parsed into an event that normalises, stores, reads back and encodes
    for the spool and the workers, or refused with a reason; it never fails its neighbours."""
    from ingest.store.spool import decode_event, encode_event
    from ingest.store.sqlite import SQLiteEventStore

    if content_type == "application/json":
        body = b"[" + b",".join(lines) + b"]"
    else:
        body = b"\n".join(lines)
    items = split_body(body, content_type, 1 << 20)
    for item in items:
        _check_item(item, 1 << 20)
    events = [normalise(i.obj, i.raw, 1, RECEIVED) for i in items if isinstance(i, Parsed)]
    store = SQLiteEventStore(":memory:")
    try:
        new = store.write(events, "fuzz-batch")
        assert set(new) == {e.id for e in events}
        for event in events:
            stored = store.get(1, event.id)
            assert stored is not None and stored.data == event.data
            assert decode_event(encode_event(event)).data == event.data
        assert {e.id for e in store.events_of_batch(1, "fuzz-batch")} == set(new)
    finally:
        store.close()


@PROPS
@given(depth=st.integers(1, 1100))
def test_depth_limit_is_exact(depth: int) -> None:
    from ingest.parse import MAX_DEPTH

    raw = b'{"a":' * depth + b"1" + b"}" * depth
    (item,) = split_body(raw, "application/x-ndjson", 1 << 20)
    if depth <= MAX_DEPTH:
        assert isinstance(item, Parsed)
    else:
        assert isinstance(item, Rejected)
        expected = f"nested deeper than {MAX_DEPTH} levels"
        assert item.reason == expected or item.reason.startswith("not valid JSON")
