"""Input timestamps: RFC 3339 with an offset or epoch milliseconds, to epoch ms."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from stream.errors import InputError

MIN_MS = 0
"""1970-01-01T00:00:00.000Z: nothing earlier is accepted."""

MAX_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the last instant a four-digit year can name."""

EXPECTED = (
    "expected an RFC 3339 date-time with an offset "
    "(e.g. 2015-05-17T10:05:03Z or 2015-05-17T12:05:03.250+02:00) "
    "or a JSON integer of epoch milliseconds"
)

_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_fromisoformat = dt.datetime.fromisoformat

# Only used on the error path, to tell a missing offset from other mistakes.
_LOCAL_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
)


def parse_timestamp(value: Any, field: str = "timestamp") -> int:
    """Epoch milliseconds of an input timestamp, or InputError naming `field`.

    Fractional seconds beyond milliseconds are truncated, not rounded, so a
    timestamp never moves into the next millisecond (or the next period).
    """
    # bool is a subclass of int, and True is not a point in time.
    if type(value) is int:
        if MIN_MS <= value <= MAX_MS:
            return value
        raise _out_of_range(field, repr(value))
    if isinstance(value, str):
        return _parse_text(value, field)
    raise InputError("bad_timestamp", f"{field}: found {_describe(value)}; {EXPECTED}")


def format_timestamp(ms: int) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. '2015-05-17T10:05:03.000Z'."""
    if not MIN_MS <= ms <= MAX_MS:
        raise ValueError(f"epoch milliseconds {ms} are outside 1970..9999")
    d = _EPOCH + dt.timedelta(milliseconds=ms)
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T"
        f"{d.hour:02d}:{d.minute:02d}:{d.second:02d}.{ms % 1000:03d}Z"
    )


def _parse_text(text: str, field: str) -> int:
    n = len(text)

    # The layout is checked here because fromisoformat alone also takes forms
    # RFC 3339 does not allow (basic format, '+0200', ',5', week dates).
    if (
        n < 20
        or n > 64
        or not text.isascii()
        or text[4] != "-"
        or text[7] != "-"
        or text[10] not in "Tt "
        or text[13] != ":"
        or text[16] != ":"
        or not text[:4].isdigit()
    ):
        raise _diagnose(text, field)

    last = text[-1]
    if last in "Zz":
        offset_at = n - 1
    elif n >= 25 and text[n - 6] in "+-" and text[n - 3] == ":":
        offset_at = n - 6
        if not (text[n - 5 : n - 3].isdigit() and text[n - 2 :].isdigit()):
            raise _diagnose(text, field)
    else:
        raise _diagnose(text, field)

    fraction = text[19:offset_at]
    if fraction and (fraction[0] != "." or not fraction[1:].isdigit()):
        raise _diagnose(text, field)

    if text[10] != "T" or last == "z":
        text = text.upper().replace(" ", "T")
    try:
        moment = _fromisoformat(text)
    except ValueError as exc:
        if text.startswith("0000"):
            raise _out_of_range(field, repr(text)) from None
        raise InputError(
            "bad_timestamp",
            f"{field}: {text!r} is not a real date and time ({exc}); {EXPECTED}",
        ) from None

    offset = moment.utcoffset()
    if offset is None:  # pragma: no cover - the layout check demands an offset
        raise _diagnose(text, field)

    seconds = (
        (moment.toordinal() - _EPOCH_ORDINAL) * 86_400
        + moment.hour * 3_600
        + moment.minute * 60
        + moment.second
        - offset.days * 86_400
        - offset.seconds
    )
    ms = seconds * 1000 + moment.microsecond // 1000
    if not MIN_MS <= ms <= MAX_MS:
        raise _out_of_range(field, repr(text))
    return ms


def _diagnose(text: str, field: str) -> InputError:
    """The most helpful error for a string that is not an accepted timestamp."""
    shown = _shorten(text)
    stripped = text.strip()
    if stripped.isascii() and stripped.lstrip("+-").isdigit():
        return InputError(
            "bad_timestamp",
            f"{field}: found the string {shown}; send epoch milliseconds as a "
            f"JSON integer, not a string; {EXPECTED}",
        )
    if _LOCAL_DATE_TIME.fullmatch(stripped):
        return InputError(
            "timestamp_without_offset",
            f"{field}: {shown} has no UTC offset, so its instant is unknown; "
            "add 'Z' or an offset such as '+02:00'",
        )
    return InputError("bad_timestamp", f"{field}: found {shown}; {EXPECTED}")


def _out_of_range(field: str, shown: str) -> InputError:
    return InputError(
        "timestamp_out_of_range",
        f"{field}: {_shorten(shown, quoted=False)} is outside the accepted range "
        "1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z",
    )


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, float):
        return f"the non-integer number {_shorten(repr(value), quoted=False)}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a value of type {type(value).__name__}"


def _shorten(text: str, *, quoted: bool = True, limit: int = 40) -> str:
    """Enough of a value to recognise it, never a whole hostile payload."""
    cut = text if len(text) <= limit else text[:limit] + "..."
    return repr(cut) if quoted else cut
