"""The typed, validated form of a scoring model (see docs/models.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["draft", "testing", "active"]
EventKind = Literal["page_visit", "conversion"]
Op = Literal["glob", "equals", "prefix", "contains", "regex", "exists"]

OPS: tuple[Op, ...] = ("glob", "equals", "prefix", "contains", "regex", "exists")
EVENT_KINDS: tuple[EventKind, ...] = ("page_visit", "conversion")
STATUSES: tuple[Status, ...] = ("draft", "testing", "active")
GRADES: tuple[str, ...] = tuple(f"{f}{a}" for f in "ABCD" for a in "1234")

DEFAULT_THRESHOLDS: tuple[float, float, float] = (75.0, 50.0, 25.0)

# The upsell and cross-sell playbook; a model's `actions` overrides any cell.
DEFAULT_ACTIONS: dict[str, str] = {
    **{g: "ads_and_behavioral" for g in GRADES},
    "A1": "assign_sales_rep",
    "A2": "assign_sales_rep",
    "B1": "in_product_offer",
    "B2": "in_product_offer",
    "A3": "automated_campaign",
    "A4": "automated_campaign",
    "B3": "quarterly_education",
    "B4": "quarterly_education",
}


@dataclass(frozen=True, slots=True)
class RangeScore:
    """Inclusive numeric range [min, max] scoring `score` percent."""

    min: float
    max: float
    score: float


@dataclass(frozen=True, slots=True)
class ValueScore:
    """A set of accepted values scoring `score` percent."""

    values: tuple[str | float, ...]
    score: float


@dataclass(frozen=True, slots=True)
class FitCategory:
    """Scores who the contact is, from the first non-blank mapped property."""

    name: str
    weight: float
    mappings: tuple[str, ...]
    ranges: tuple[RangeScore, ...] | None = None
    values: tuple[ValueScore, ...] | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """`field` matches any of `values` under `op` (values unused for exists)."""

    field: str
    op: Op
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ActivityCategory:
    """Scores what the contact did: matching events counted per period."""

    name: str
    weight: float
    event: EventKind
    rules: tuple[Rule, ...]
    decay_percent: float
    interval_days: int
    periods: int = 5
    min_frequency: int = 1
    max_frequency: int = 5
    any: tuple[tuple[Rule, ...], ...] | None = None


@dataclass(frozen=True, slots=True)
class Model:
    """A named, versioned scoring configuration."""

    id: str
    name: str
    version: int
    status: Status
    fit: tuple[FitCategory, ...]
    activity: tuple[ActivityCategory, ...]
    timezone: str = "UTC"
    period_anchor: dt.date = dt.date(1970, 1, 1)
    future_tolerance_seconds: float = 300.0
    fit_thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS
    activity_thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS
    hysteresis: float = 0.0
    actions: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    source: str = "<memory>"

    def action_for(self, grade: str) -> str:
        return self.actions.get(grade, DEFAULT_ACTIONS[grade])
