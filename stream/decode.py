"""Turn raw input bytes into typed messages, or say exactly why they are rejected.

Every rejection is an InputError with a stable snake_case `reason` and a
`detail` that names the field, says what was found (shortened, never the whole
payload) and what is expected. The reasons:

    message_too_large         body longer than Limits.max_message_bytes
    malformed_json            not JSON, not UTF-8, a byte order mark, NaN...
    too_deeply_nested         nesting deeper than the parser allows
    not_an_object             the top level is a list, string, number or null
    missing_field             a required field is absent or null
    wrong_type                a field has the wrong JSON type (e.g. a numeric id)
    empty_id                  an id that is blank after trimming
    id_too_long               an id longer than Limits.max_id_length
    bad_id_characters         an id holding control characters
    empty_value               a blank `url` (page visit) or `name` (conversion)
    url_too_long              a url longer than Limits.max_url_length
    value_too_long            another string longer than max_string_value_length
    bad_timestamp             a timestamp in no accepted form
    timestamp_without_offset  a date-time with no UTC offset
    timestamp_out_of_range    before 1970 or after year 9999
    too_many_properties       more than Limits.max_properties entries
    bad_property_name         a blank or over-long property name
    bad_property_value        a nested object or list as a property value
    key_mismatch              the Kafka key is missing or not exactly the
                              body's contact_id
    unknown_type              a replay line whose `type` is no input kind

Unknown top-level fields are ignored on purpose: producers may add fields
before the engine knows them, and an extra field cannot change a score.
"""

from __future__ import annotations

import base64
import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stream import jsonutil
from stream.errors import InputError
from stream.messages import (
    INPUT_KINDS,
    ActivityEvent,
    InputKind,
    InputMessage,
    PropertyChange,
)
from stream.timestamps import parse_timestamp
from stream.urlprivacy import UrlQuery, redact_fields, redact_message


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds that keep one hostile message from costing too much."""

    max_message_bytes: int = 1_048_576
    max_id_length: int = 256
    max_url_length: int = 8192
    max_properties: int = 200
    max_property_name_length: int = 256
    max_string_value_length: int = 8192
    # What happens to the query and fragment of `url` and `referrer` (see
    # stream.urlprivacy); the key only matters for `hash`.
    url_query: UrlQuery = "keep"
    url_query_key: bytes = field(default=b"", repr=False)


DEFAULT_LIMITS = Limits()


class _Unkeyed(enum.Enum):
    NOT_FROM_KAFKA = "not from Kafka"


NOT_FROM_KAFKA = _Unkeyed.NOT_FROM_KAFKA
"""The `key` of an input that did not come from Kafka: there is none to check."""

# How much of a rejected body a dead letter keeps. Base64 adds a third, so
# the record stays well under the 1 MiB that Kafka brokers and producers
# accept per message by default: a record over it could not be sent, and
# the batch holding it could never be acknowledged.
DEAD_LETTER_KEEP_BYTES = 256 * 1024

# Optional top-level strings per activity kind; rules can match on them.
_OPTIONAL_TEXT: dict[str, tuple[str, ...]] = {
    "page_visit": ("title", "referrer"),
    "conversion": ("url",),
}
_REQUIRED_TEXT = {"page_visit": "url", "conversion": "name"}

# C0 and C1 control characters: invisible in logs and UIs, so an id holding
# one would look equal to a different id.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_BOM = b"\xef\xbb\xbf"


def decode(
    kind: InputKind,
    data: bytes,
    *,
    key: bytes | _Unkeyed | None = NOT_FROM_KAFKA,
    limits: Limits = DEFAULT_LIMITS,
) -> InputMessage:
    """Decode one message body of the stream `kind`; `key` is the Kafka key
    (None: the message had none, which is rejected)."""
    return decode_obj(kind, _load(data, limits), key=key, limits=limits)


def decode_replay_line(
    line: bytes | str, *, limits: Limits = DEFAULT_LIMITS
) -> InputMessage:
    """Decode one replay-file line: an input message plus a `type` field."""
    raw = line.encode() if isinstance(line, str) else line
    obj = _load(raw, limits)
    if not isinstance(obj, dict):
        raise _not_an_object(obj)
    kind = obj.get("type")
    if kind is None:
        raise InputError(
            "missing_field",
            f"type: missing; expected one of {', '.join(INPUT_KINDS)}",
        )
    if kind not in INPUT_KINDS:
        raise InputError(
            "unknown_type",
            f"type: found {_show(kind)}; expected one of {', '.join(INPUT_KINDS)}",
        )
    return decode_obj(kind, obj, limits=limits)


def decode_obj(
    kind: InputKind,
    obj: Any,
    *,
    key: bytes | _Unkeyed | None = NOT_FROM_KAFKA,
    limits: Limits = DEFAULT_LIMITS,
) -> InputMessage:
    """Validate an already parsed JSON value as a message of stream `kind`."""
    if kind not in INPUT_KINDS:
        raise ValueError(f"unknown input kind {kind!r}; expected one of {INPUT_KINDS}")
    if not isinstance(obj, dict):
        raise _not_an_object(obj)

    contact_id = _id(_required(obj, "contact_id"), "contact_id", limits)
    if key is not NOT_FROM_KAFKA:
        _check_key(key, contact_id)
    timestamp = parse_timestamp(_required(obj, "timestamp"))

    if kind == "property_change":
        raw = obj.get("event_id")
        event_id = None if raw is None else _id(raw, "event_id", limits)
        raw = _required(obj, "properties")
        properties = _properties(raw, limits, clears=True)
        return PropertyChange(contact_id, timestamp, properties, event_id)

    event_id = _id(_required(obj, "event_id"), "event_id", limits)
    main = _REQUIRED_TEXT[kind]
    fields = {main: _text(_required(obj, main), main, limits, required=True)}
    for name in _OPTIONAL_TEXT[kind]:
        value = obj.get(name)
        if value is not None:
            fields[name] = _text(value, name, limits, required=False)
    if limits.url_query != "keep":
        redact_fields(fields, limits.url_query, limits.url_query_key)
    raw = obj.get("properties")
    properties = {} if raw is None else _properties(raw, limits, clears=False)
    return ActivityEvent(kind, event_id, contact_id, timestamp, fields, properties)


def encode_message(msg: InputMessage, *, with_type: bool = False) -> dict[str, Any]:
    """The JSON object form of a message (timestamp as epoch ms); decodes back.

    `with_type` adds the `type` field replay files carry.
    """
    out: dict[str, Any] = {"type": msg.kind} if with_type else {}
    if isinstance(msg, PropertyChange):
        if msg.event_id is not None:
            out["event_id"] = msg.event_id
        out["contact_id"] = msg.contact_id
        out["timestamp"] = msg.timestamp
        out["properties"] = dict(msg.properties)
        return out
    out["event_id"] = msg.event_id
    out["contact_id"] = msg.contact_id
    out["timestamp"] = msg.timestamp
    out.update(msg.fields)
    if msg.properties:
        out["properties"] = dict(msg.properties)
    return out


def dead_letter_record(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes,
    reason: str,
    detail: str,
    max_value_bytes: int = DEAD_LETTER_KEEP_BYTES,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """A dead-letter record: where the input came from, its bytes, and why.

    The original bytes are kept base64-encoded so any input, even invalid
    UTF-8, survives the trip; a value longer than `max_value_bytes` is cut
    (and marked so) because the dead-letter topic has a size limit too.
    When `limits.url_query` is not `keep`, the kept copy has its query
    strings hashed or removed first, and `value_redacted` says whether
    that changed it.
    """
    shown = value
    if limits.url_query != "keep":
        shown = redact_message(
            value, limits.url_query, limits.url_query_key, limits.max_message_bytes
        )
    kept = shown[:max_value_bytes]
    record: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key_base64": None if key is None else base64.b64encode(key).decode(),
        "value_base64": base64.b64encode(kept).decode(),
        "value_size": len(value),
        "value_truncated": len(kept) < len(shown),
        "error": {"reason": reason, "detail": detail},
    }
    if limits.url_query != "keep":
        record["value_redacted"] = shown != value
    return record


def _load(data: bytes, limits: Limits) -> Any:
    size = len(data)
    # Checked before parsing, so a huge body costs no parse time or memory.
    if size > limits.max_message_bytes:
        raise InputError(
            "message_too_large",
            f"message: {size} bytes; at most {limits.max_message_bytes} are accepted",
        )
    try:
        return jsonutil.loads(data)
    except InputError as exc:
        raise _explain_parse_error(data, exc) from None


def _explain_parse_error(data: bytes, exc: InputError) -> InputError:
    """Name the usual causes of a parse failure; the error path may be slow."""
    if data.startswith(_BOM):
        return InputError(
            "malformed_json",
            "message: starts with a UTF-8 byte order mark; send JSON without one",
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as bad:
        return InputError(
            "malformed_json",
            f"message: not valid UTF-8 (byte 0x{data[bad.start]:02x} at offset "
            f"{bad.start}); JSON input must be UTF-8 text",
        )
    if "depth limit" in exc.detail or "recursion" in exc.detail:
        return InputError(
            "too_deeply_nested",
            "message: arrays or objects nested too deeply; expected a flat object",
        )
    if not data.strip():
        return InputError("malformed_json", "message: empty; expected a JSON object")
    return InputError("malformed_json", f"message: {exc.detail}")


def _not_an_object(obj: Any) -> InputError:
    return InputError(
        "not_an_object",
        f"message: the top level is {type_name(obj)}; expected a JSON object",
    )


def _required(obj: dict[str, Any], field: str) -> Any:
    value = obj.get(field)
    if value is None:
        found = "null" if field in obj else "missing"
        raise InputError("missing_field", f"{field}: {found}; this field is required")
    return value


def _id(value: Any, field: str, limits: Limits) -> str:
    """An identifier, trimmed: ids differing only in surrounding blanks are one."""
    if not isinstance(value, str):
        raise InputError(
            "wrong_type",
            f"{field}: found {type_name(value)}; ids must be JSON strings",
        )
    text = value.strip()
    if not text:
        raise InputError("empty_id", f"{field}: blank; expected a non-empty string")
    if len(text) > limits.max_id_length:
        raise InputError(
            "id_too_long",
            f"{field}: {len(text)} characters; at most {limits.max_id_length}",
        )
    if _CONTROL.search(text):
        raise InputError(
            "bad_id_characters",
            f"{field}: {_show(text)} holds control characters; expected printable text",
        )
    return text


def _check_key(key: bytes | None, contact_id: str) -> None:
    # Kafka picks the partition from the key's exact bytes, and a contact's
    # record lives in the partition of its inputs: a key that is merely
    # equal after trimming, or no key at all, can put one contact's inputs
    # on two partitions and split its record in two.
    if key is None:
        raise InputError(
            "key_mismatch",
            f"key: missing; key each message by its contact_id {_show(contact_id)}",
        )
    if key == contact_id.encode():
        return
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(
            "key_mismatch",
            "key: not valid UTF-8; the message key must be the contact_id",
        ) from None
    raise InputError(
        "key_mismatch",
        f"key: {_show(text)} is not exactly the contact_id {_show(contact_id)}; "
        "producers must key each message by its contact_id, without blanks "
        "around it (the key's bytes choose the partition)",
    )


def _text(value: Any, field: str, limits: Limits, *, required: bool) -> str:
    """A top-level string field (the caller treats null as absent)."""
    if not isinstance(value, str):
        raise InputError(
            "wrong_type", f"{field}: found {type_name(value)}; expected a string"
        )
    if field == "url":
        if len(value) > limits.max_url_length:
            raise InputError(
                "url_too_long",
                f"url: {len(value)} characters; at most {limits.max_url_length}",
            )
    elif len(value) > limits.max_string_value_length:
        raise InputError(
            "value_too_long",
            f"{field}: {len(value)} characters; at most "
            f"{limits.max_string_value_length}",
        )
    if required and not value.strip():
        raise InputError("empty_value", f"{field}: blank; expected a non-empty string")
    return value


def _properties(raw: Any, limits: Limits, *, clears: bool) -> dict[str, Any]:
    """Flat name-to-scalar properties; in a property change null clears."""
    if not isinstance(raw, dict):
        raise InputError(
            "wrong_type",
            f"properties: found {type_name(raw)}; expected an object of name to value",
        )
    if len(raw) > limits.max_properties:
        raise InputError(
            "too_many_properties",
            f"properties: {len(raw)} entries; at most {limits.max_properties}",
        )
    for name, value in raw.items():
        _check_property_name(name, limits)
        if isinstance(value, str):
            if len(value) > limits.max_string_value_length:
                raise InputError(
                    "value_too_long",
                    f"properties.{_shorten(name)}: {len(value)} characters; at most "
                    f"{limits.max_string_value_length}",
                )
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _bad_value(name, "a non-finite number")
        elif value is not None and not isinstance(value, int):
            raise _bad_value(name, type_name(value))
    return dict(raw)


def _check_property_name(name: Any, limits: Limits) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InputError(
            "bad_property_name",
            f"properties: a property name is {_show(name)}; names must be "
            "non-empty strings",
        )
    if len(name) > limits.max_property_name_length:
        raise InputError(
            "bad_property_name",
            f"properties: the name {_show(name)} has {len(name)} characters; at "
            f"most {limits.max_property_name_length}",
        )


def _bad_value(name: str, found: str) -> InputError:
    return InputError(
        "bad_property_value",
        f"properties.{_shorten(name)}: found {found}; property values must be "
        "strings, numbers, booleans or null (no nested objects or lists)",
    )


def type_name(value: Any) -> str:
    """How a JSON value's type reads in an error message (`a number`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _show(value: Any) -> str:
    """A short, quoted rendering of a found value for a detail message."""
    if isinstance(value, str):
        return repr(_shorten(value))
    return type_name(value)
