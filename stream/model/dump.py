"""A Model back as a model document (the JSON form of a model file).

`parse_model(model_document(m), source)` gives `m` again, which is how a
model travels on the models topic: validated by the sender, validated
again by every worker that reads it.
"""

from __future__ import annotations

from typing import Any

from stream.model.types import (
    DEFAULT_ACTIONS,
    ActivityCategory,
    FitCategory,
    Model,
    Rule,
)


def _number(value: float) -> int | float:
    """Whole floats as ints, so documents read like the files they came from."""
    return int(value) if float(value).is_integer() else value


def _rule(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"field": rule.field, "op": rule.op}
    if rule.values:
        out["values"] = list(rule.values)
    return out


def _fit(category: FitCategory) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": category.name,
        "weight": _number(category.weight),
        "mappings": list(category.mappings),
    }
    if category.ranges is not None:
        out["ranges"] = [
            {"min": _number(r.min), "max": _number(r.max), "score": _number(r.score)}
            for r in category.ranges
        ]
    if category.values is not None:
        out["values"] = [
            {"values": list(v.values), "score": _number(v.score)}
            for v in category.values
        ]
    return out


def _activity(category: ActivityCategory) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": category.name,
        "weight": _number(category.weight),
        "event": category.event,
        "decay_percent": _number(category.decay_percent),
        "interval_days": category.interval_days,
        "periods": category.periods,
        "min_frequency": category.min_frequency,
        "max_frequency": category.max_frequency,
        "rules": [_rule(r) for r in category.rules],
    }
    if category.any is not None:
        out["any"] = [[_rule(r) for r in group] for group in category.any]
    return out


def model_document(model: Model) -> dict[str, Any]:
    """Every field of `model` under its file name; defaults written out."""
    actions = {g: a for g, a in model.actions.items() if DEFAULT_ACTIONS.get(g) != a}
    doc: dict[str, Any] = {
        "id": model.id,
        "name": model.name,
        "version": model.version,
        "status": model.status,
        "timezone": model.timezone,
        "period_anchor": model.period_anchor.isoformat(),
        "future_tolerance_seconds": _number(model.future_tolerance_seconds),
        "thresholds": {
            "fit": [_number(p) for p in model.fit_thresholds],
            "activity": [_number(p) for p in model.activity_thresholds],
        },
        "hysteresis": _number(model.hysteresis),
        "fit": [_fit(c) for c in model.fit],
        "activity": [_activity(c) for c in model.activity],
    }
    if actions:
        doc["actions"] = actions
    return doc
