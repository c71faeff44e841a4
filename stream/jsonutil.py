"""The one place Scorestream encodes and decodes JSON (orjson underneath)."""

from __future__ import annotations

from typing import Any

import orjson

from stream.errors import InputError


def dumps(value: Any) -> bytes:
    """Compact JSON bytes; keys keep insertion order."""
    return orjson.dumps(value)


def dumps_sorted(value: Any) -> bytes:
    """JSON bytes with sorted keys, for output that must be byte-stable."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; malformed input raises InputError('malformed_json')."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError("malformed_json", f"not valid JSON ({exc})") from None
