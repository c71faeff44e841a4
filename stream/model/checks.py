"""Checks on a model file that its JSON Schema cannot express."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import zoneinfo
from collections.abc import Iterator
from typing import Any

from stream.errors import Problem
from stream.model.regex_safety import backtracking_risk
from stream.model.schema import format_path, show, with_category
from stream.model.types import OPS

# Which top-level event fields each event kind carries; `properties.X` is
# open to both.
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "page_visit": ("url", "title", "referrer"),
    "conversion": ("name", "url"),
}

_Path = tuple[str | int, ...]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _entries(data: dict[str, Any], side: str) -> Iterator[tuple[int, dict[str, Any]]]:
    items = data.get(side)
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        if isinstance(item, dict):
            yield index, item


class _Collector:
    """Gathers problems for one file, each named by its path."""

    def __init__(self, data: dict[str, Any], source: str) -> None:
        self.data = data
        self.source = source
        self.problems: list[Problem] = []

    def add(self, path: _Path, message: str) -> None:
        bare = Problem(self.source, format_path(path), message)
        text = with_category(self.data, path, bare)
        self.problems.append(Problem(self.source, bare.path, text))


def semantic_problems(data: Any, source: str) -> list[Problem]:
    """Every rule the schema cannot state, checked on whatever parts are sound."""
    if not isinstance(data, dict):
        return []
    out = _Collector(data, source)
    _check_timezone(out)
    _check_anchor(out)
    _check_thresholds(out)
    for side in ("fit", "activity"):
        _check_weights(out, side)
        _check_unique_names(out, side)
    for index, category in _entries(data, "fit"):
        _check_ranges(out, index, category)
    for index, category in _entries(data, "activity"):
        _check_frequencies(out, index, category)
        event = category.get("event")
        for path, rule in _rules(index, category):
            _check_rule(out, path, rule, event)
    return out.problems


def _check_timezone(out: _Collector) -> None:
    name = out.data.get("timezone")
    if not isinstance(name, str) or not name:
        return
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        out.add(
            ("timezone",),
            f"{show(name)} is not a known IANA time zone; use a name such as "
            "UTC, Europe/Berlin or America/New_York",
        )


def _check_anchor(out: _Collector) -> None:
    text = out.data.get("period_anchor")
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        out.add(
            ("period_anchor",),
            f"{show(text)} is not a calendar date; give a real date YYYY-MM-DD",
        )


def _check_thresholds(out: _Collector) -> None:
    thresholds = out.data.get("thresholds")
    if not isinstance(thresholds, dict):
        return
    for axis in ("fit", "activity"):
        points = thresholds.get(axis)
        if not isinstance(points, list) or not all(_is_number(p) for p in points):
            continue
        if any(a <= b for a, b in itertools.pairwise(points)):
            out.add(
                ("thresholds", axis),
                f"{show(points)} is not strictly descending; give three cut "
                "points from highest to lowest, e.g. [75, 50, 25]",
            )


def _check_weights(out: _Collector, side: str) -> None:
    items = out.data.get(side)
    if not isinstance(items, list):
        return
    weights: list[Any] = [
        c.get("weight") if isinstance(c, dict) else None for c in items
    ]
    # A missing or mistyped weight is already reported; a sum would mislead.
    if not all(_is_number(w) for w in weights):
        return
    total = round(sum(weights), 9)
    if total != 100:
        model = out.data.get("id", "?")
        shown = int(total) if total == int(total) else total
        out.add(
            (side,),
            f"model {show(model)}: the {side} weights add up to {shown}; "
            f"they must add up to exactly 100 (weights: {show(weights)})",
        )


def _check_unique_names(out: _Collector, side: str) -> None:
    first_seen: dict[str, int] = {}
    for index, category in _entries(out.data, side):
        name = category.get("name")
        if not isinstance(name, str):
            continue
        key = name.strip().casefold()
        if key in first_seen:
            out.add(
                (side, index, "name"),
                f"{show(name)} is already the name of {side}[{first_seen[key]}]; "
                f"each {side} category needs its own name",
            )
        else:
            first_seen[key] = index


def _check_ranges(out: _Collector, index: int, category: dict[str, Any]) -> None:
    ranges = category.get("ranges")
    if not isinstance(ranges, list):
        return
    for number, item in enumerate(ranges):
        if not isinstance(item, dict):
            continue
        low: Any = item.get("min")
        high: Any = item.get("max")
        if _is_number(low) and _is_number(high) and low > high:
            out.add(
                ("fit", index, "ranges", number),
                f"min {show(low)} is above max {show(high)}; a range needs min <= max",
            )


def _check_frequencies(out: _Collector, index: int, category: dict[str, Any]) -> None:
    low = category.get("min_frequency", 1)
    high = category.get("max_frequency", 5)
    if _is_number(low) and _is_number(high) and low > high:
        out.add(
            ("activity", index, "max_frequency"),
            f"{show(high)} is below min_frequency {show(low)}; "
            "max_frequency must be at least min_frequency",
        )


def _rules(index: int, category: dict[str, Any]) -> Iterator[tuple[_Path, Any]]:
    rules = category.get("rules")
    if isinstance(rules, list):
        for number, rule in enumerate(rules):
            yield ("activity", index, "rules", number), rule
    alternatives = category.get("any")
    if isinstance(alternatives, list):
        for option, group in enumerate(alternatives):
            if not isinstance(group, list):
                continue
            for number, rule in enumerate(group):
                yield ("activity", index, "any", option, number), rule


def _check_rule(out: _Collector, path: _Path, rule: Any, event: Any) -> None:
    if not isinstance(rule, dict):
        return
    field = rule.get("field")
    op = rule.get("op")
    values = rule.get("values")

    if isinstance(field, str) and event in EVENT_FIELDS:
        allowed = EVENT_FIELDS[event]
        top = field in EVENT_FIELDS["page_visit"] + EVENT_FIELDS["conversion"]
        if top and field not in allowed:
            out.add(
                (*path, "field"),
                f"{show(field)} is not a field of a {event} event; valid: "
                + ", ".join(allowed)
                + ", or properties.NAME",
            )

    if op == "exists":
        if values is not None:
            out.add(
                (*path, "values"),
                f"{show(values)} given, but op exists takes no values (it only "
                "checks the field is present); remove values or use op equals",
            )
        return
    if values is None and op in OPS:
        out.add(
            (*path, "values"),
            f"required field is missing; op {op} needs at least one value",
        )
    elif isinstance(values, list) and not values:
        out.add(
            (*path, "values"),
            f"[] is empty; op {show(op)} needs at least one value",
        )
    if op == "regex" and isinstance(values, list):
        for number, pattern in enumerate(values):
            if isinstance(pattern, str):
                _check_regex(out, (*path, "values", number), pattern)


def _check_regex(out: _Collector, path: _Path, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        out.add(path, f"{show(pattern)} is not a valid regular expression ({exc})")
        return
    risk = backtracking_risk(pattern)
    if risk:
        out.add(
            path,
            f"{show(pattern)} could take exponential time on some inputs "
            f"({risk}); rewrite it without a repeated group that can match "
            "the same text in more than one way, e.g. (ab)+ instead of (a+b?)+",
        )
