"""Typed input messages: page visits, conversions and property changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

InputKind = Literal["page_visit", "conversion", "property_change"]
INPUT_KINDS: tuple[InputKind, ...] = ("page_visit", "conversion", "property_change")


@dataclass(frozen=True, slots=True)
class ActivityEvent:
    """A page visit or a conversion; `timestamp` is epoch milliseconds.

    `fields` holds the top-level string fields rules can match on: `url`,
    `title`, `referrer` for page visits, `name` and `url` for conversions.
    """

    kind: Literal["page_visit", "conversion"]
    event_id: str
    contact_id: str
    timestamp: int
    fields: Mapping[str, str]
    properties: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PropertyChange:
    """New values of contact properties; a None value clears the property."""

    contact_id: str
    timestamp: int
    properties: Mapping[str, Any]
    event_id: str | None = None
    kind: Literal["property_change"] = "property_change"


InputMessage = ActivityEvent | PropertyChange
