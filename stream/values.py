"""Lenient reading of property values: numbers, blanks and comparable keys."""

from __future__ import annotations

import math
import re
from typing import Any

# Decimal strings only: no thousands separators, no hex, no 'nan'/'inf' words.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(value: Any) -> float | None:
    """The numeric value of a JSON number or decimal string, else None.

    Booleans, NaN, infinities and strings like "1,000" are not numbers.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if _DECIMAL.fullmatch(text) is None:
            return None
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def is_blank(value: Any) -> bool:
    """True for a missing value: None, or a string of only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def match_key(value: Any) -> str | float | None:
    """A key under which equal values compare equal.

    Numbers (and numeric strings) become floats so "6", 6 and 6.0 are equal;
    other strings are trimmed and case-folded. Lists and objects never match.
    """
    number = parse_number(value)
    if number is not None:
        return number
    if isinstance(value, str):
        return value.strip().casefold()
    return None
