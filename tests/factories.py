"""Factories for models, events and property changes used across tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from stream.messages import ActivityEvent, PropertyChange
from stream.model.types import (
    ActivityCategory,
    FitCategory,
    Model,
    RangeScore,
    Rule,
    ValueScore,
)

DAY = 86_400_000
# 2015-05-17T10:05:03Z, the first line of the real access log.
T0 = 1_431_857_103_000

NPS_RANGES = (RangeScore(0, 6, -25), RangeScore(7, 8, 75), RangeScore(9, 10, 100))
CASES_RANGES = (RangeScore(0, 1, 100), RangeScore(1, 5, 75), RangeScore(6, 10, 50))


def fit(name: str, weight: float, **kw: Any) -> FitCategory:
    mappings = tuple(kw.pop("mappings", (name,)))
    return FitCategory(name, weight, mappings, **kw)


def visits(
    name: str = "Support",
    weight: float = 100,
    *,
    patterns: tuple[str, ...] = ("*/support/*",),
    decay: float = 15,
    interval: int = 45,
    **kw: Any,
) -> ActivityCategory:
    rules = kw.pop("rules", (Rule("url", "glob", patterns),))
    return ActivityCategory(name, weight, "page_visit", rules, decay, interval, **kw)


def conversions(
    name: str,
    weight: float,
    names: tuple[str, ...],
    decay: float = 10,
    interval: int = 45,
) -> ActivityCategory:
    rule = Rule("name", "equals", names)
    return ActivityCategory(name, weight, "conversion", (rule,), decay, interval)


def model(
    fit_categories: tuple[FitCategory, ...] | None = None,
    activity_categories: tuple[ActivityCategory, ...] | None = None,
    **kw: Any,
) -> Model:
    defaults: dict[str, Any] = {
        "id": "m",
        "name": "Test model",
        "version": 1,
        "status": "active",
    }
    defaults.update(kw)
    return Model(
        fit=fit_categories or (fit("NPS", 100, ranges=NPS_RANGES),),
        activity=activity_categories or (visits(),),
        **defaults,
    )


def upsell() -> Model:
    """The seed upsell model, built in code so core tests need no files."""
    return model(
        (
            fit("Last NPS Score", 50, ranges=NPS_RANGES),
            fit("# Of Support Cases", 50, ranges=CASES_RANGES),
        ),
        (
            visits(
                "Viewed Support & Resource Centre",
                40,
                patterns=("*/support/*", "*/resources/*"),
            ),
            conversions("# Of Case Escalations", 30, ("0", "1")),
            conversions(
                "Attended Customer Webinar", 30, ("Webinar Registration",), 10, 30
            ),
        ),
        id="upsell",
        name="Upsell",
    )


def values_fit(
    name: str, weight: float, groups: list[tuple[list[Any], float]]
) -> FitCategory:
    return fit(name, weight, values=tuple(ValueScore(tuple(v), s) for v, s in groups))


_counter = iter(range(1, 10**9))


def visit(
    url: str, ts: int, contact: str = "c1", event_id: str | None = None, **props: Any
) -> ActivityEvent:
    eid = event_id or f"v{next(_counter)}"
    return ActivityEvent("page_visit", eid, contact, ts, {"url": url}, props)


def conversion(
    name: str, ts: int, contact: str = "c1", event_id: str | None = None
) -> ActivityEvent:
    eid = event_id or f"c{next(_counter)}"
    return ActivityEvent("conversion", eid, contact, ts, {"name": name}, {})


def props(ts: int, contact: str = "c1", **values: Any) -> PropertyChange:
    return PropertyChange(contact, ts, values)


def ms(text: str) -> int:
    """Epoch ms of an RFC 3339 instant, for readable test times."""
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)
