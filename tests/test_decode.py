"""Decoding input messages: hostile inputs, exact values, schemas, properties."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from stream.decode import (
    DEFAULT_LIMITS,
    Limits,
    dead_letter_record,
    decode,
    decode_obj,
    decode_replay_line,
    encode_message,
)
from stream.errors import InputError
from stream.messages import ActivityEvent, PropertyChange
from stream.timestamps import MAX_MS, format_timestamp, parse_timestamp

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
T0 = 1_431_857_103_000  # 2015-05-17T10:05:03Z, worked out by hand

PV = {
    "event_id": "e1",
    "contact_id": "c1",
    "timestamp": "2015-05-17T10:05:03Z",
    "url": "/blog/",
}
CV = {
    "event_id": "e2",
    "contact_id": "c1",
    "timestamp": "2015-05-17T10:05:03Z",
    "name": "Download",
}
PC = {"contact_id": "c1", "timestamp": "2015-05-17T10:05:03Z", "properties": {}}
BASE = {"page_visit": PV, "conversion": CV, "property_change": PC}
DROP = object()


def message(kind: str, **changes: Any) -> tuple[str, dict[str, Any]]:
    """A valid message of `kind` with fields replaced (or dropped with DROP)."""
    obj = dict(BASE["page_visit" if kind == "replay" else kind])
    if kind == "replay":
        obj["type"] = "page_visit"
    for name, value in changes.items():
        if value is DROP:
            obj.pop(name, None)
        else:
            obj[name] = value
    return kind, obj


def pv(**changes: Any) -> tuple[str, dict[str, Any]]:
    return message("page_visit", **changes)


def cv(**changes: Any) -> tuple[str, dict[str, Any]]:
    return message("conversion", **changes)


def pc(**changes: Any) -> tuple[str, dict[str, Any]]:
    return message("property_change", **changes)


def rp(**changes: Any) -> tuple[str, dict[str, Any]]:
    return message("replay", **changes)


def raw(data: bytes, kind: str = "page_visit") -> tuple[str, bytes]:
    return kind, data


def nested(depth: int) -> bytes:
    return b'{"contact_id":"c","properties":' + b"[" * depth + b"]" * depth + b"}"


def props(n: int) -> dict[str, int]:
    return {f"p{i}": i for i in range(n)}


@dataclass(frozen=True)
class Case:
    """One hostile input; `schema` says the JSON schema can reject it too."""

    id: str
    input: tuple[str, Any]
    reason: str
    needle: str
    key: bytes | None = None
    schema: bool = True

    def __post_init__(self) -> None:
        # The schemas describe parsed JSON; raw bytes never reach them.
        if isinstance(self.input[1], bytes):
            object.__setattr__(self, "schema", False)


TS = "timestamp"
BAD_TS = "bad_timestamp"
NO_OFFSET = "timestamp_without_offset"
RANGE = "timestamp_out_of_range"
AFTER_9999 = "9999-12-31T23:59:59-01:00"
HUGE = b'{"x":"' + b"a" * 5_000_000 + b'"}'
DEEP = b"[" * 10_000 + b"]" * 10_000
BOM = b"\xef\xbb\xbf" + orjson.dumps(PV)
BAD_JSON = "malformed_json"
DEEP_REASON = "too_deeply_nested"
BAD_VALUE = "bad_property_value"
BAD_NAME = "bad_property_name"
PROPS = "properties"

CASES = [
    Case("truncated", raw(b'{"event_id": '), BAD_JSON, "message"),
    Case("trailing-garbage", raw(b'{"a": 1} x'), BAD_JSON, "message"),
    Case("empty-body", raw(b""), BAD_JSON, "empty"),
    Case("blank-body", raw(b"  \n ", "conversion"), BAD_JSON, "empty"),
    Case("single-quotes", raw(b"{'a': 1}"), BAD_JSON, "message"),
    Case("top-list", raw(b"[1, 2]"), "not_an_object", "list"),
    Case("top-string", raw(b'"hi"', "conversion"), "not_an_object", "string"),
    Case("top-number", raw(b"42", "property_change"), "not_an_object", "number"),
    Case("top-null", raw(b"null"), "not_an_object", "null"),
    Case("top-bool", raw(b"true"), "not_an_object", "boolean"),
    Case("huge", raw(HUGE), "message_too_large", "5000008 bytes"),
    Case("10000-lists", raw(DEEP), "too_deeply_nested", "nested"),
    Case("deep-props", raw(nested(2000), "property_change"), DEEP_REASON, "nested"),
    Case("bad-utf8", raw(b'{"contact_id": "c\xff"}'), BAD_JSON, "UTF-8"),
    Case("overlong-utf8", raw(b'{"url": "\xc0\xaf"}'), BAD_JSON, "UTF-8"),
    Case("bom", raw(BOM), BAD_JSON, "byte order mark"),
    Case(
        "nan", raw(b'{"properties":{"a":NaN}}', "property_change"), BAD_JSON, "message"
    ),
    Case("infinity", raw(b'{"timestamp": Infinity}'), BAD_JSON, "message"),
    Case("lone-surrogate", raw(b'{"url": "\\ud800"}'), BAD_JSON, "message"),
    Case("pv-no-event-id", pv(event_id=DROP), "missing_field", "event_id"),
    Case("pv-no-contact-id", pv(contact_id=DROP), "missing_field", "contact_id"),
    Case("pv-no-timestamp", pv(timestamp=DROP), "missing_field", TS),
    Case("pv-no-url", pv(url=DROP), "missing_field", "url"),
    Case("pv-null-url", pv(url=None), "missing_field", "url"),
    Case("cv-no-name", cv(name=DROP), "missing_field", "name"),
    Case("cv-no-event-id", cv(event_id=DROP), "missing_field", "event_id"),
    Case("pc-no-properties", pc(properties=DROP), "missing_field", "properties"),
    Case("pc-null-properties", pc(properties=None), "missing_field", "properties"),
    Case("pc-no-contact-id", pc(contact_id=DROP), "missing_field", "contact_id"),
    Case("pc-null-timestamp", pc(timestamp=None), "missing_field", TS),
    Case("pv-url-number", pv(url=7), "wrong_type", "url"),
    Case("pv-title-number", pv(title=1.5), "wrong_type", "title"),
    Case("pv-referrer-object", pv(referrer={}), "wrong_type", "referrer"),
    Case("cv-name-list", cv(name=["a"]), "wrong_type", "name"),
    Case("cv-url-bool", cv(url=True), "wrong_type", "url"),
    Case("contact-id-number", pv(contact_id=12345), "wrong_type", "contact_id"),
    Case("event-id-number", cv(event_id=1), "wrong_type", "event_id"),
    Case("pc-event-id-bool", pc(event_id=False), "wrong_type", "event_id"),
    Case("contact-id-empty", pv(contact_id=""), "empty_id", "contact_id"),
    Case("contact-id-blank", pc(contact_id="  \t "), "empty_id", "contact_id"),
    Case("event-id-empty", cv(event_id=""), "empty_id", "event_id"),
    Case("contact-id-257", pv(contact_id="c" * 257), "id_too_long", "contact_id"),
    Case("event-id-100k", pv(event_id="e" * 100_000), "id_too_long", "event_id"),
    Case("contact-id-nul", pv(contact_id="c\x001"), "bad_id_characters", "contact_id"),
    Case("event-id-newline", cv(event_id="a\nb"), "bad_id_characters", "event_id"),
    Case("contact-id-c1", pv(contact_id="a\x85b"), "bad_id_characters", "contact_id"),
    Case("url-9000", pv(url="/" + "u" * 9000), "url_too_long", "url"),
    Case("url-blank", pv(url="   "), "empty_value", "url"),
    Case("name-empty", cv(name=""), "empty_value", "name"),
    Case("title-9000", pv(title="t" * 9000), "value_too_long", "title"),
    Case("ts-digit-string", pv(timestamp="1431857103000"), BAD_TS, TS),
    Case("ts-float", pv(timestamp=1431857103000.5), BAD_TS, TS),
    Case("ts-bool", cv(timestamp=True), BAD_TS, TS),
    Case("ts-object", pv(timestamp={"ms": 1}), BAD_TS, TS),
    Case("ts-negative-ms", pv(timestamp=-1), RANGE, TS),
    Case("ts-1900", pc(timestamp="1900-01-01T00:00:00Z"), RANGE, TS, schema=False),
    Case("ts-1969", pv(timestamp="1969-12-31T23:59:59.999Z"), RANGE, TS, schema=False),
    Case("ts-after-9999", pv(timestamp=AFTER_9999), RANGE, TS, schema=False),
    Case("ts-ms-past-9999", pv(timestamp=MAX_MS + 1), RANGE, TS),
    Case("ts-no-offset", pv(timestamp="2015-05-17T10:05:03"), NO_OFFSET, TS),
    Case("ts-no-offset-space", pv(timestamp="2015-05-17 10:05:03"), NO_OFFSET, TS),
    Case(
        "ts-no-offset-fraction", cv(timestamp="2015-05-17T10:05:03.25"), NO_OFFSET, TS
    ),
    Case("ts-apache", pv(timestamp="17/May/2015:10:05:03 +0000"), BAD_TS, TS),
    Case("ts-offset-no-colon", pv(timestamp="2015-05-17T10:05:03+0200"), BAD_TS, TS),
    Case("ts-date-only", pv(timestamp="2015-05-17"), BAD_TS, TS),
    Case(
        "ts-february-30", pv(timestamp="2015-02-30T10:05:03Z"), BAD_TS, TS, schema=False
    ),
    Case("ts-comma-fraction", pv(timestamp="2015-05-17T10:05:03,5Z"), BAD_TS, TS),
    Case("ts-rfc2822", pv(timestamp="Sun, 17 May 2015 10:05:03 GMT"), BAD_TS, TS),
    Case("props-list", pv(properties=[1]), "wrong_type", "properties"),
    Case("props-string", cv(properties="a=1"), "wrong_type", "properties"),
    Case("pc-props-number", pc(properties=3), "wrong_type", "properties"),
    Case(
        "prop-object", pc(properties={"plan": {"t": 1}}), BAD_VALUE, "properties.plan"
    ),
    Case("prop-list", pv(properties={"tags": ["a"]}), BAD_VALUE, "properties.tags"),
    Case("201-props", pc(properties=props(201)), "too_many_properties", "properties"),
    Case("prop-name-empty", pc(properties={"": 1}), "bad_property_name", "properties"),
    Case("prop-name-300", pv(properties={"n" * 300: 1}), BAD_NAME, PROPS),
    Case(
        "prop-9000", pc(properties={"v": "x" * 9000}), "value_too_long", "properties.v"
    ),
    Case("key-mismatch", pv(), "key_mismatch", "contact_id", b"someone-else", False),
    Case("key-not-utf8", cv(), "key_mismatch", "key", b"\xff\xfe", False),
    Case("key-with-blank", pv(), "key_mismatch", "not exactly", b"c1 ", False),
    Case("replay-unknown-type", rp(type="click"), "unknown_type", "type"),
    Case("replay-no-type", rp(type=DROP), "missing_field", "type"),
    Case("replay-type-number", rp(type=3), "unknown_type", "type"),
    Case("replay-top-list", raw(b"[]", "replay"), "not_an_object", "list"),
    Case("replay-bad-inner", rp(url=None), "missing_field", "url"),
]


def run(kind: str, raw: Any, key: bytes | None = None) -> Any:
    data = raw if isinstance(raw, bytes) else orjson.dumps(raw)
    if kind == "replay":
        return decode_replay_line(data)
    if key is None:
        return decode(kind, data)  # type: ignore[arg-type]
    return decode(kind, data, key=key)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_rejected_with_exact_reason(case: Case) -> None:
    with pytest.raises(InputError) as caught:
        run(*case.input, case.key)
    assert caught.value.reason == case.reason
    assert case.needle in caught.value.detail
    # A detail names the problem; it never echoes a large payload back.
    assert len(caught.value.detail) < 400


def test_table_is_broad() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 45
    assert len({case.reason for case in CASES}) >= 20


VALID: list[tuple[str, dict[str, Any], Any]] = [
    (
        "page_visit",
        {
            **PV,
            "title": "Blog",
            "referrer": "https://example.org/",
            "properties": {"status": "200", "n": 3, "ok": True, "gone": None},
        },
        ActivityEvent(
            "page_visit",
            "e1",
            "c1",
            T0,
            {"url": "/blog/", "title": "Blog", "referrer": "https://example.org/"},
            {"status": "200", "n": 3, "ok": True, "gone": None},
        ),
    ),
    (
        "page_visit",
        {**PV, "timestamp": "2015-05-17T12:05:03.250+02:00", "title": None},
        ActivityEvent("page_visit", "e1", "c1", T0 + 250, {"url": "/blog/"}, {}),
    ),
    (
        "conversion",
        {**CV, "timestamp": T0 + 7, "url": None, "properties": None, "extra": [1]},
        ActivityEvent("conversion", "e2", "c1", T0 + 7, {"name": "Download"}, {}),
    ),
    (
        "conversion",
        {**CV, "contact_id": "  c1 ", "url": "/files/a.pdf", "timestamp": T0},
        ActivityEvent(
            "conversion",
            "e2",
            "c1",
            T0,
            {"name": "Download", "url": "/files/a.pdf"},
            {},
        ),
    ),
    (
        "property_change",
        {**PC, "properties": {"Plan": "Gold", "Seats": "7.0", "Old": None}},
        PropertyChange("c1", T0, {"Plan": "Gold", "Seats": "7.0", "Old": None}),
    ),
    (
        "property_change",
        {**PC, "event_id": "chg-9", "timestamp": "2015-05-17t06:05:03.123999-04:00"},
        PropertyChange("c1", T0 + 123, {}, "chg-9"),
    ),
]


@pytest.mark.parametrize(("kind", "obj", "expected"), VALID)
def test_valid_samples_decode_to_exact_values(
    kind: str, obj: dict[str, Any], expected: Any
) -> None:
    data = orjson.dumps(obj)
    assert decode(kind, data, key=b"c1") == expected  # type: ignore[arg-type]
    assert decode_replay_line(orjson.dumps({"type": kind, **obj})) == expected


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T01:00:00+01:00", 0),
        ("2015-05-17T10:05:03Z", T0),
        ("2015-05-17 10:05:03z", T0),
        ("2015-05-17T10:05:03-00:00", T0),
        ("2015-05-17T10:05:03.1Z", T0 + 100),
        ("2015-05-17T10:05:03.999999999Z", T0 + 999),
        ("2015-05-16T22:35:03-11:30", T0),
        ("2016-02-29T00:00:00Z", 1_456_704_000_000),
        ("9999-12-31T23:59:59.999Z", MAX_MS),
    ],
)
def test_timestamp_forms(text: str, ms: int) -> None:
    assert parse_timestamp(text) == ms


def test_format_timestamp() -> None:
    assert format_timestamp(T0) == "2015-05-17T10:05:03.000Z"
    assert format_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert format_timestamp(MAX_MS) == "9999-12-31T23:59:59.999Z"
    with pytest.raises(ValueError):
        format_timestamp(-1)


def test_limits_are_configurable() -> None:
    tight = Limits(max_message_bytes=64, max_id_length=2)
    with pytest.raises(InputError) as caught:
        decode("page_visit", orjson.dumps(PV), limits=tight)
    assert caught.value.reason == "message_too_large"
    with pytest.raises(InputError) as caught:
        decode_obj("page_visit", {**PV, "contact_id": "abc"}, limits=tight)
    assert caught.value.reason == "id_too_long"
    assert DEFAULT_LIMITS.max_message_bytes == 1_048_576


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        decode_obj("click", PV)  # type: ignore[arg-type]


def validator(name: str) -> Draft202012Validator:
    resources = []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry: Registry[Any] = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize(("kind", "obj", "expected"), VALID)
def test_schemas_accept_what_the_decoder_accepts(
    kind: str, obj: dict[str, Any], expected: Any
) -> None:
    encoded = encode_message(expected)
    for sample in (obj, encoded):
        validator(kind).validate(sample)
        validator("replay_line").validate({"type": kind, **sample})


SCHEMA_CASES = [case for case in CASES if case.schema]


@pytest.mark.parametrize("case", SCHEMA_CASES, ids=[c.id for c in SCHEMA_CASES])
def test_schemas_reject_what_they_can_express(case: Case) -> None:
    kind, obj = case.input
    name = "replay_line" if kind == "replay" else kind
    assert not validator(name).is_valid(obj)


def test_dead_letter_record_keeps_the_original_bytes() -> None:
    value = b'{"contact_id": "c\xff"}'
    record = dead_letter_record(
        topic="page-visits",
        partition=3,
        offset=42,
        key=b"c",
        value=value,
        reason="malformed_json",
        detail="message: not valid UTF-8",
    )
    assert base64.b64decode(record["value_base64"]) == value
    assert base64.b64decode(record["key_base64"]) == b"c"
    assert record["error"] == {
        "reason": "malformed_json",
        "detail": "message: not valid UTF-8",
    }
    assert record["value_truncated"] is False
    validator("dead_letter").validate(orjson.loads(orjson.dumps(record)))

    cut = dead_letter_record(
        topic="t",
        partition=0,
        offset=0,
        key=None,
        value=b"x" * 100,
        reason="message_too_large",
        detail="d",
        max_value_bytes=10,
    )
    assert cut["key_base64"] is None
    assert (cut["value_size"], cut["value_truncated"]) == (100, True)
    assert base64.b64decode(cut["value_base64"]) == b"x" * 10
    validator("dead_letter").validate(cut)


# Property tests: decoding is total (a result or an InputError, nothing else).

KINDS = st.sampled_from(["page_visit", "conversion", "property_change"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSONISH = st.recursive(
    SCALARS | st.floats(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = [
    "event_id",
    "contact_id",
    "timestamp",
    "url",
    "name",
    "title",
    "referrer",
    "properties",
    "type",
]
NEAR_MESSAGES = st.dictionaries(st.sampled_from(FIELD_NAMES), JSONISH, max_size=9)


@settings(max_examples=200, deadline=None)
@given(kind=KINDS, data=st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_input_error(kind: str, data: bytes) -> None:
    with contextlib.suppress(InputError):
        decode(kind, data, key=data[:4])  # type: ignore[arg-type]
    with contextlib.suppress(InputError):
        decode_replay_line(data)


@settings(max_examples=200, deadline=None)
@given(kind=KINDS, obj=JSONISH | NEAR_MESSAGES)
def test_arbitrary_objects_only_raise_input_error(kind: str, obj: Any) -> None:
    with contextlib.suppress(InputError):
        decode_obj(kind, obj)  # type: ignore[arg-type]


IDS = (
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30)
    .map(str.strip)
    .filter(bool)
)
MILLIS = st.integers(0, MAX_MS)
PROPS = st.dictionaries(
    st.text(min_size=1, max_size=10).filter(str.strip), SCALARS, max_size=6
)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
ACTIVITY = st.one_of(
    st.builds(
        ActivityEvent,
        st.just("page_visit"),
        IDS,
        IDS,
        MILLIS,
        st.fixed_dictionaries(
            {"url": TEXT.filter(str.strip)},
            optional={"title": TEXT, "referrer": TEXT},
        ),
        PROPS,
    ),
    st.builds(
        ActivityEvent,
        st.just("conversion"),
        IDS,
        IDS,
        MILLIS,
        st.fixed_dictionaries({"name": TEXT.filter(str.strip)}, optional={"url": TEXT}),
        PROPS,
    ),
    st.builds(PropertyChange, IDS, MILLIS, PROPS, st.none() | IDS),
)


@settings(max_examples=200, deadline=None)
@given(msg=ACTIVITY)
def test_encode_then_decode_is_identity(msg: Any) -> None:
    data = orjson.dumps(encode_message(msg))
    assert decode(msg.kind, data, key=msg.contact_id.encode()) == msg
    line = orjson.dumps(encode_message(msg, with_type=True))
    assert decode_replay_line(line) == msg


@settings(max_examples=200, deadline=None)
@given(ms=MILLIS)
def test_format_then_parse_is_identity(ms: int) -> None:
    assert parse_timestamp(format_timestamp(ms)) == ms


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(
        min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(9998, 12, 31)
    ),
    minutes=st.integers(-23 * 60 - 59, 23 * 60 + 59),
)
def test_any_offset_parses_to_the_same_instant(
    moment: dt.datetime, minutes: int
) -> None:
    aware = moment.replace(tzinfo=dt.timezone(dt.timedelta(minutes=minutes)))
    expected = (aware - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
        milliseconds=1
    )
    assert parse_timestamp(aware.isoformat()) == expected
