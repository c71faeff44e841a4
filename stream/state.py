"""Per-contact state as one plain value, stored as one compact JSON record.

Everything a contact needs lives in one record so that one write keeps the
counters and the ids of the events behind them consistent: after a crash a
redelivered event is recognised by its id and not counted twice.

Record layout (short keys keep RocksDB and the changelog small):

    {"p": {name: [value, ts]},          properties; value null = cleared
     "c": {counter_key: [b, n, ...]},   event counts per period bucket
     "e": {event_id: ts},               ids of counted events still in a window
     "g": {model_id: [grade, seq, version]},   last emitted grade per model
     "o": [batch, [[shadow, change], ...]],   changes not yet confirmed sent
     "f": 1}                             erased: only "o" remains, then nothing

The worker writes a batch's score changes into the records of the contacts
they belong to, in the same write as the state that produced them, before
sending them. After a crash the restarted worker sends these stored copies
again (byte for byte) instead of recomputing them, so a repeat can never
announce a different move. `batch` tells which batch wrote them: a marker
per partition says up to which batch the changes are known to be sent.
Offline replay never fills this field.

An erased contact's record keeps nothing but the event announcing the
erasure, until that event is confirmed sent and a tombstone deletes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from stream.errors import StateError

Unsent = list[tuple[bool, bytes]]
"""(shadow, encoded change) of the changes a batch made for one contact."""


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
    unsent: Unsent = field(default_factory=list)
    unsent_batch: int = 0
    forgotten: bool = False

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
        if self.forgotten:
            record["f"] = 1
        if self.unsent:
            # Embedded as JSON, not as strings: no escaping, and re-encoding
            # the parsed copy gives back the very same bytes.
            record["o"] = [
                self.unsent_batch,
                [
                    [int(shadow), orjson.Fragment(value)]
                    for shadow, value in self.unsent
                ],
            ]
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
            state.forgotten = bool(record.get("f"))
            if "o" in record:
                batch, unsent = record["o"]
                state.unsent_batch = int(batch)
                state.unsent = [
                    (bool(shadow), orjson.dumps(change)) for shadow, change in unsent
                ]
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(
                f"stored contact record is unreadable ({exc}); it was not written "
                "by this version of Scorestream or is corrupt"
            ) from exc
        return state
