"""The score-change event: what a consumer receives when a grade moves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from stream.timestamps import format_timestamp

Cause = Literal["event", "property_change", "decay", "model"]


@dataclass(frozen=True, slots=True)
class ScoreChange:
    """One grade change of one contact under one model.

    `shadow` marks changes of `testing` models, which go to the shadow
    stream and never to the live one; it is not part of the message.
    """

    contact_id: str
    model_id: str
    model_version: int
    previous_grade: str | None
    grade: str
    fit_score: float
    activity_score: float
    breakdown: dict[str, Any]
    cause: Cause
    recommended_action: str
    seq: int
    as_of: int
    trigger: dict[str, Any] | None = None
    shadow: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "contact_id": self.contact_id,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "seq": self.seq,
            "previous_grade": self.previous_grade,
            "grade": self.grade,
            "fit_score": round(self.fit_score, 4),
            "activity_score": round(self.activity_score, 4),
            "recommended_action": self.recommended_action,
            "cause": self.cause,
            "as_of": format_timestamp(self.as_of),
            "breakdown": self.breakdown,
        }
        if self.trigger is not None:
            out["trigger"] = self.trigger
        return out
