"""Scoring models: their typed form and how model files are loaded."""

from stream.model.types import (
    ActivityCategory,
    FitCategory,
    Model,
    RangeScore,
    Rule,
    ValueScore,
)

__all__ = [
    "ActivityCategory",
    "FitCategory",
    "Model",
    "RangeScore",
    "Rule",
    "ValueScore",
]
