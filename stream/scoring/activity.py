"""Activity categories: decayed credit for events counted per period."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stream import jsonutil
from stream.model.types import ActivityCategory, Model
from stream.scoring.matching import (
    DEFAULT_REGEX_TIMEOUT_S,
    Predicate,
    compile_category,
)
from stream.scoring.periods import DAY_MS, shared_clock


def counter_key(model: Model, category: ActivityCategory) -> str:
    """A short id for everything that decides which events a category counts.

    Two categories (even in different models) with the same key share one
    counter, and a new model version that only changes weights, decay or
    frequencies keeps its counts.
    """
    definition = {
        "event": category.event,
        "rules": [[r.field, r.op, list(r.values)] for r in category.rules],
        "any": [[[r.field, r.op, list(r.values)] for r in g] for g in category.any]
        if category.any
        else None,
        "tz": model.timezone,
        "anchor": model.period_anchor.isoformat(),
        "interval": category.interval_days,
    }
    return hashlib.sha1(jsonutil.dumps_sorted(definition)).hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class PeriodCredit:
    k: int
    count: int
    credit: float
    decay: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "count": self.count,
            "credit": round(self.credit, 4),
            "decay": round(self.decay, 4),
        }


@dataclass(frozen=True, slots=True)
class ActivityResult:
    """One activity category's points: the best period, discounted by age."""

    category: str
    weight: float
    points: float
    periods: tuple[PeriodCredit, ...]
    best_k: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "weight": self.weight,
            "points": round(self.points, 4),
            "best_period": self.best_k,
            "periods": [p.to_dict() for p in self.periods],
        }


class ActivityScorer:
    """One activity category bound to its counter key and period clock."""

    __slots__ = ("category", "clock", "key", "matches", "retention_ms")

    def __init__(
        self,
        model: Model,
        category: ActivityCategory,
        regex_timeout: float = DEFAULT_REGEX_TIMEOUT_S,
    ) -> None:
        self.category = category
        self.key = counter_key(model, category)
        self.clock = shared_clock(
            model.timezone, model.period_anchor, category.interval_days
        )
        self.matches: Predicate = compile_category(category, regex_timeout)
        # Long enough that an event id is kept while its event could count.
        self.retention_ms = (category.periods + 1) * category.interval_days * DAY_MS

    def points(self, counts: Mapping[int, int] | None, now: int) -> float:
        """Just the points: the hot path when no breakdown is needed."""
        if not counts:
            return 0.0
        cat = self.category
        current = self.clock.bucket(now)
        best = 0.0
        for bucket, n in counts.items():
            k = current - bucket
            if k < 0:
                k = 0
            if k >= cat.periods or n < cat.min_frequency:
                continue
            value = (
                min(n, cat.max_frequency)
                / cat.max_frequency
                * max(0.0, 1.0 - k * cat.decay_percent / 100)
            )
            if value > best:
                best = value
        return cat.weight * best

    def score(self, counts: Mapping[int, int] | None, now: int) -> ActivityResult:
        cat = self.category
        if not counts:
            return ActivityResult(cat.name, cat.weight, 0.0, (), None)
        current = self.clock.bucket(now)
        credits: list[PeriodCredit] = []
        best = 0.0
        best_k: int | None = None
        for bucket in sorted(counts, reverse=True):
            k = max(0, current - bucket)
            if k >= cat.periods:
                continue
            n = counts[bucket]
            credit = (
                0.0
                if n < cat.min_frequency
                else min(n, cat.max_frequency) / cat.max_frequency
            )
            decay = max(0.0, 1.0 - k * cat.decay_percent / 100)
            credits.append(PeriodCredit(k, n, credit, decay))
            if credit * decay > best:
                best, best_k = credit * decay, k
        return ActivityResult(
            cat.name, cat.weight, cat.weight * best, tuple(credits), best_k
        )
