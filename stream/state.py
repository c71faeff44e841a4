"""Per-contact state as one plain value, stored as one compact JSON record.

Everything a contact needs lives in one record so that one write keeps the
counters and the ids of the events behind them consistent: after a crash a
redelivered event is recognised by its id and not counted twice.

Record layout (short keys keep RocksDB and the changelog small):

    {"p": {name: [value, ts]},          properties; value null = cleared
     "c": {counter_key: [b, n, ...]},   event counts per period bucket
     "e": {event_id: ts},               ids of counted events still in a window
     "g": {model_id: [grade, seq, version]}}   last emitted grade per model
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from stream.errors import StateError


@dataclass(slots=True)
class GradeMark:
    """The last grade announced for one model, and that event's seq."""

    grade: str
    seq: int
    version: int


@dataclass(slots=True)
class ContactState:
    properties: dict[str, tuple[Any, int]] = field(default_factory=dict)
    counters: dict[str, dict[int, int]] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    grades: dict[str, GradeMark] = field(default_factory=dict)

    def property_values(self) -> dict[str, Any]:
        """Current values only, cleared properties left out."""
        return {k: v for k, (v, _) in self.properties.items() if v is not None}

    def has_live_activity(self) -> bool:
        return any(self.counters.values())

    def to_bytes(self) -> bytes:
        record: dict[str, Any] = {}
        if self.properties:
            record["p"] = {k: [v, ts] for k, (v, ts) in self.properties.items()}
        if self.counters:
            record["c"] = {
                key: [x for b, n in sorted(buckets.items()) for x in (b, n)]
                for key, buckets in self.counters.items()
                if buckets
            }
        if self.seen:
            record["e"] = self.seen
        if self.grades:
            record["g"] = {
                m: [g.grade, g.seq, g.version] for m, g in self.grades.items()
            }
        return orjson.dumps(record)

    @classmethod
    def from_bytes(cls, data: bytes | None) -> ContactState:
        if not data:
            return cls()
        try:
            record = orjson.loads(data)
            state = cls(
                properties={k: (v, ts) for k, (v, ts) in record.get("p", {}).items()},
                counters={
                    key: dict(zip(flat[::2], flat[1::2], strict=True))
                    for key, flat in record.get("c", {}).items()
                },
                seen=dict(record.get("e", {})),
                grades={
                    m: GradeMark(g, seq, ver)
                    for m, (g, seq, ver) in record.get("g", {}).items()
                },
            )
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(
                f"stored contact record is unreadable ({exc}); it was not written "
                "by this version of Scorestream or is corrupt"
            ) from exc
        return state
