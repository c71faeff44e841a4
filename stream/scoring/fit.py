"""Fit categories: points from the contact's properties."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stream.model.types import FitCategory
from stream.values import is_blank, match_key, parse_number

_MEMO_SIZE = 4096
_UNKNOWN: Any = object()


@dataclass(frozen=True, slots=True)
class FitResult:
    """One fit category's points and why: reason is matched, missing,
    no_match or not_a_number."""

    category: str
    weight: float
    points: float
    reason: str
    property: str | None = None
    value: Any = None
    matched: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "category": self.category,
            "weight": self.weight,
            "points": round(self.points, 4),
            "reason": self.reason,
        }
        if self.property is not None:
            out["property"] = self.property
            out["value"] = self.value
        if self.matched is not None:
            out["matched"] = self.matched
        return out


class FitScorer:
    """A fit category with its value lists pre-normalised for matching."""

    __slots__ = ("_category", "_memo", "_value_keys")

    def __init__(self, category: FitCategory) -> None:
        self._category = category
        self._value_keys: tuple[frozenset[str | float], ...] = ()
        if category.values is not None:
            self._value_keys = tuple(
                frozenset(k for v in vs.values if (k := match_key(v)) is not None)
                for vs in category.values
            )
        # Points by (type, value): contacts share few distinct values, and
        # parsing or folding one costs more than the lookup. None = blank.
        self._memo: dict[tuple[type, Any], float | None] = {}

    def points(self, properties: Mapping[str, tuple[Any, int]]) -> float:
        """Just the points, from stored (value, timestamp) pairs: the hot path."""
        memo = self._memo
        for name in self._category.mappings:
            stored = properties.get(name)
            if stored is None:
                continue
            value = stored[0]
            key = (value.__class__, value)
            points: float | None
            try:
                points = memo.get(key, _UNKNOWN)
            except TypeError:
                # A list or object value: unhashable, and never cached.
                points = self._value_points(value)
            else:
                if points is _UNKNOWN:
                    points = self._value_points(value)
                    if len(memo) >= _MEMO_SIZE:
                        memo.clear()
                    memo[key] = points
            if points is not None:
                return points
        return 0.0

    def _value_points(self, value: Any) -> float | None:
        """The points a value earns; None when it is blank (try the next)."""
        if is_blank(value):
            return None
        cat = self._category
        if cat.ranges is not None:
            number = parse_number(value)
            if number is None:
                return 0.0
            for r in cat.ranges:
                if r.min <= number <= r.max:
                    return cat.weight * r.score / 100
            return 0.0
        key = match_key(value)
        assert cat.values is not None
        for keys, vs in zip(self._value_keys, cat.values, strict=True):
            if key is not None and key in keys:
                return cat.weight * vs.score / 100
        return 0.0

    def score(self, properties: Mapping[str, Any]) -> FitResult:
        """Points with the reason and the value behind them."""
        cat = self._category
        used: str | None = None
        value: Any = None
        # The first non-blank mapping is the value used, match or not.
        for name in cat.mappings:
            candidate = properties.get(name)
            if not is_blank(candidate):
                used, value = name, candidate
                break
        if used is None:
            return FitResult(cat.name, cat.weight, 0.0, "missing")

        if cat.ranges is not None:
            number = parse_number(value)
            if number is None:
                return FitResult(cat.name, cat.weight, 0.0, "not_a_number", used, value)
            for r in cat.ranges:
                if r.min <= number <= r.max:
                    matched: dict[str, Any] = {
                        "min": r.min,
                        "max": r.max,
                        "score": r.score,
                    }
                    points = cat.weight * r.score / 100
                    return FitResult(
                        cat.name, cat.weight, points, "matched", used, value, matched
                    )
            return FitResult(cat.name, cat.weight, 0.0, "no_match", used, value)

        key = match_key(value)
        assert cat.values is not None
        for keys, vs in zip(self._value_keys, cat.values, strict=True):
            if key is not None and key in keys:
                matched = {"values": list(vs.values), "score": vs.score}
                points = cat.weight * vs.score / 100
                return FitResult(
                    cat.name, cat.weight, points, "matched", used, value, matched
                )
        return FitResult(cat.name, cat.weight, 0.0, "no_match", used, value)
