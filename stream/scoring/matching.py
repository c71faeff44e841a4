"""Compiled activity rules: does an event count for an activity category?"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from typing import Any

import regex as bounded_re

from stream.errors import InputError
from stream.messages import ActivityEvent
from stream.model.types import ActivityCategory, Rule

Predicate = Callable[[ActivityEvent], bool]
FieldGetter = Callable[[ActivityEvent], str | None]

# Top-level event fields a rule may name; anything else is `properties.X`.
TOP_LEVEL_FIELDS = ("url", "name", "title", "referrer")

# A user's regex runs under a time limit: Python's own engine cannot be
# interrupted, and some patterns the static check lets through (nested
# repeats like `(.*a){12}`) still explode on long input.
DEFAULT_REGEX_TIMEOUT_S = 0.05


def _text(value: Any) -> str | None:
    """The string form rules compare against; None when there is no value."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return None


def field_getter(field: str) -> FieldGetter:
    """The text of `field` in an event, as rules on that field see it."""
    if field.startswith("properties."):
        name = field[len("properties.") :]

        def from_properties(event: ActivityEvent) -> str | None:
            return _text(event.properties.get(name))

        return from_properties

    def from_fields(event: ActivityEvent) -> str | None:
        return event.fields.get(field)

    return from_fields


def _glob_pattern(values: tuple[str, ...]) -> re.Pattern[str]:
    # One alternation instead of N fnmatch calls keeps the hot path short.
    alternatives = "|".join(f"(?:{fnmatch.translate(v)})" for v in values)
    return re.compile(alternatives, re.IGNORECASE | re.DOTALL)


def compile_rule(
    rule: Rule, regex_timeout: float = DEFAULT_REGEX_TIMEOUT_S
) -> Predicate:
    """A predicate that holds when the event's field matches any value."""
    get = field_getter(rule.field)
    op = rule.op

    if op == "exists":
        return lambda event: bool((get(event) or "").strip())

    if op == "glob":
        glob_match = _glob_pattern(rule.values).match

        def glob(event: ActivityEvent) -> bool:
            text = get(event)
            return text is not None and glob_match(text) is not None

        return glob

    if op == "regex":
        search = bounded_re.compile("|".join(f"(?:{v})" for v in rule.values)).search
        field = rule.field

        def regex(event: ActivityEvent) -> bool:
            text = get(event)
            if text is None:
                return False
            try:
                return search(text, timeout=regex_timeout) is not None
            except TimeoutError:
                raise InputError(
                    "regex_timeout",
                    f"a regex rule on {field} gave up after {regex_timeout:g} s on "
                    f"a {len(text)}-character value; the event was not scored. "
                    "Simplify the model's pattern or raise the regex time limit",
                ) from None

        return regex

    wanted = tuple(v.strip().casefold() for v in rule.values)
    if op == "equals":
        wanted_set = frozenset(wanted)

        def equals(event: ActivityEvent) -> bool:
            text = get(event)
            return text is not None and text.strip().casefold() in wanted_set

        return equals

    if op == "prefix":

        def prefix(event: ActivityEvent) -> bool:
            text = get(event)
            return text is not None and text.strip().casefold().startswith(wanted)

        return prefix

    if op == "contains":

        def contains(event: ActivityEvent) -> bool:
            text = get(event)
            if text is None:
                return False
            folded = text.casefold()
            return any(w in folded for w in wanted)

        return contains

    raise ValueError(f"unknown rule operator {op!r}")  # validation prevents this


def _all_of(rules: tuple[Rule, ...], regex_timeout: float) -> Predicate:
    predicates = tuple(compile_rule(r, regex_timeout) for r in rules)
    if len(predicates) == 1:
        return predicates[0]
    return lambda event: all(p(event) for p in predicates)


def compile_category(
    category: ActivityCategory, regex_timeout: float = DEFAULT_REGEX_TIMEOUT_S
) -> Predicate:
    """Kind must agree, every rule must hold, and one `any` group if given."""
    kind = category.event
    required = _all_of(category.rules, regex_timeout) if category.rules else None
    groups = (
        tuple(_all_of(g, regex_timeout) for g in category.any) if category.any else None
    )

    def matches(event: ActivityEvent) -> bool:
        if event.kind != kind:
            return False
        if required is not None and not required(event):
            return False
        return groups is None or any(g(event) for g in groups)

    return matches


def category_fields(category: ActivityCategory) -> frozenset[str]:
    """Every field a category's rules read: all that its match depends on,
    besides the event's kind."""
    rules = [*category.rules, *(r for group in category.any or () for r in group)]
    return frozenset(r.field for r in rules)


def rule_fields(event: Mapping[str, Any]) -> dict[str, str]:
    """The top-level string fields of a raw event object that rules can see."""
    return {f: v for f in TOP_LEVEL_FIELDS if isinstance(v := event.get(f), str)}
