"""Per-contact state as one plain value, stored as one compact JSON record.

Everything a contact needs lives in one record so that one write keeps the
counters and the ids of the events behind them consistent: after a crash a
redelivered event is recognised by its id and not counted twice.

Record layout (short keys keep RocksDB and the changelog small):

    {"q": [ts, {name: value}, ...],     properties by time; value null = cleared
     "c": {counter_key: [b, n, ...]},   event counts per period bucket
     "i": [latest_ts, w, [n, ...], ids],   counted events still in a window
     "g": {model_id: [grade, seq, version, fit, cause]},   last emitted grade
     "o": [batch, [[shadow, change], ...]],   changes not yet confirmed sent
     "f": 1}                             erased: only "o" remains, then nothing

Properties are grouped by the time of their change, since one change
usually sets many of them at once.

Event ids are kept only to recognise a redelivered event, so a record
keeps a 64-bit BLAKE2b digest of each id instead of the id (see
`event_token`), grouped by the 16-day window (days since 1970 // 16) of
the event's time: `w` is the first window, `n` the number of ids in it and
in each window after it, and `ids` the base64 of all digests in that
order, 8 bytes each, big-endian, without padding. Only `latest_ts`, the
latest event time of all, is kept exactly; the other ids read back as if
dated at the end of their window, which is all pruning needs (ids are
dropped a window at a time, never before their event has expired).

`fit`, when present, is the model's fit score last computed from the
current properties under model `version`; a re-grade that only time moved
reuses it instead of reading every property again.

Records written before this layout hold `"p": {name: [value, ts]}` and
`"e": {event_id: ts}` instead, and grades without `fit`; they still load,
their ids digested on the way in, and are written back in this layout.

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

import base64
import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any

import orjson

from stream.errors import StateError

Unsent = list[tuple[bool, bytes]]
"""(shadow, encoded change) of the changes a batch made for one contact."""


ID_WINDOW_MS = 16 * 86_400_000
"""Event ids are stored, and forgotten, in groups of this many ms of time."""


def event_token(event_id: str) -> int:
    """The 64-bit digest a record keeps of an event id.

    Two distinct ids of one contact collide with probability about
    n / 2**64 per new event, n being the ids the contact still keeps (a few
    hundred at most): below 1e-16, so the chance that a genuine event is
    ever taken for a redelivery is negligible. Stable across processes and
    Python versions, unlike hash().
    """
    digest = hashlib.blake2b(event_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def id_window_end(ts: int) -> int:
    """The last instant of the id window holding `ts`."""
    return (ts // ID_WINDOW_MS + 1) * ID_WINDOW_MS - 1


@dataclass(slots=True)
class GradeMark:
    """The last grade announced for one model, and that event's seq.

    `fit` is the model's fit score from the current properties under model
    `version`, when known; None makes the next grading compute it.
    """

    grade: str
    seq: int
    version: int
    fit: float | None = None
    # Why that event was sent: event, property_change, decay or model.
    cause: str | None = None


# One letter per cause in the record; the full names go in events and the API.
_CAUSE_CODES = {"event": "e", "property_change": "p", "decay": "d", "model": "m"}
_CAUSES = {code: cause for cause, code in _CAUSE_CODES.items()}


def _encode_mark(mark: GradeMark) -> list[Any]:
    out: list[Any] = [mark.grade, mark.seq, mark.version]
    if mark.cause is not None:
        out += [mark.fit, _CAUSE_CODES[mark.cause]]
    elif mark.fit is not None:
        out.append(mark.fit)
    return out


def _decode_mark(stored: list[Any]) -> GradeMark:
    # Three fields (older records), four (with the fit) or five.
    grade, seq, version, *rest = stored
    fit = rest[0] if rest else None
    cause = _CAUSES[rest[1]] if len(rest) > 1 else None
    return GradeMark(grade, seq, version, fit, cause)


@dataclass(slots=True)
class ContactState:
    properties: dict[str, tuple[Any, int]] = field(default_factory=dict)
    counters: dict[str, dict[int, int]] = field(default_factory=dict)
    # event_token(event_id) -> event time, of counted events (see module doc).
    seen: dict[int, int] = field(default_factory=dict)
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
        return self.to_bytes_both()[0]

    def to_bytes_both(self) -> tuple[bytes, bytes]:
        """The record with its unsent changes, and without them (the same
        bytes when there are none)."""
        record: dict[str, Any] = {}
        if self.properties:
            record["q"] = _encode_properties(self.properties)
        if self.counters:
            record["c"] = {
                key: [x for b, n in sorted(buckets.items()) for x in (b, n)]
                for key, buckets in self.counters.items()
                if buckets
            }
        if self.seen:
            record["i"] = _encode_ids(self.seen)
        if self.grades:
            record["g"] = {m: _encode_mark(g) for m, g in self.grades.items()}
        if self.forgotten:
            record["f"] = 1
        without = orjson.dumps(record)
        if not self.unsent:
            return without, without
        # Embedded as JSON, not as strings: no escaping, and re-encoding the
        # parsed copy gives back the very same bytes.
        record["o"] = [
            self.unsent_batch,
            [[int(shadow), orjson.Fragment(value)] for shadow, value in self.unsent],
        ]
        return orjson.dumps(record), without

    @classmethod
    def from_bytes(cls, data: bytes | None) -> ContactState:
        if not data:
            return cls()
        try:
            record = orjson.loads(data)
            state = cls(
                properties=_decode_properties(record["q"]) if "q" in record else {},
                counters={
                    key: dict(zip(flat[::2], flat[1::2], strict=True))
                    for key, flat in record.get("c", {}).items()
                },
                seen=_decode_ids(record["i"]) if "i" in record else {},
                grades={m: _decode_mark(g) for m, g in record.get("g", {}).items()},
            )
            state.forgotten = bool(record.get("f"))
            if "p" in record:
                # The layout before grouping by time: {name: [value, ts]}.
                for name, (value, ts) in record["p"].items():
                    state.properties[name] = (value, ts)
            if "e" in record:
                # The layout before digests: {event_id: ts}.
                for event_id, ts in record["e"].items():
                    state.seen[event_token(event_id)] = ts
            if "o" in record:
                batch, unsent = record["o"]
                state.unsent_batch = int(batch)
                state.unsent = [
                    (bool(shadow), orjson.dumps(change)) for shadow, change in unsent
                ]
        except (
            orjson.JSONDecodeError,
            TypeError,
            ValueError,
            AttributeError,
            struct.error,
        ) as exc:
            raise StateError(
                f"stored contact record is unreadable ({exc}); it was not written "
                "by this version of Scorestream or is corrupt"
            ) from exc
        return state


def _encode_properties(properties: dict[str, tuple[Any, int]]) -> list[Any]:
    """[ts, {name: value}, ...], times in order of first appearance."""
    by_time: dict[int, dict[str, Any]] = {}
    for name, (value, ts) in properties.items():
        values = by_time.get(ts)
        if values is None:
            by_time[ts] = {name: value}
        else:
            values[name] = value
    return [x for ts, values in by_time.items() for x in (ts, values)]


def _decode_properties(flat: list[Any]) -> dict[str, tuple[Any, int]]:
    return {
        name: (value, ts)
        for ts, values in zip(flat[::2], flat[1::2], strict=True)
        for name, value in values.items()
    }


def _encode_ids(seen: dict[int, int]) -> list[Any]:
    """[latest_ts, first window, [ids per window, ...], base64 digests]."""
    windows: dict[int, list[int]] = {}
    for token, ts in seen.items():
        window = ts // ID_WINDOW_MS
        tokens = windows.get(window)
        if tokens is None:
            windows[window] = [token]
        else:
            tokens.append(token)
    first, last = min(windows), max(windows)
    counts: list[int] = []
    ordered: list[int] = []
    for window in range(first, last + 1):
        tokens = windows.get(window, [])
        counts.append(len(tokens))
        ordered.extend(tokens)
    packed = struct.pack(f">{len(ordered)}Q", *ordered)
    text = base64.b64encode(packed).rstrip(b"=").decode("ascii")
    return [max(seen.values()), first, counts, text]


def _decode_ids(stored: list[Any]) -> dict[int, int]:
    latest, first, counts, text = stored
    packed = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    tokens = struct.unpack(f">{sum(counts)}Q", packed)
    seen: dict[int, int] = {}
    at = 0
    for window, count in enumerate(counts, start=int(first)):
        # The end of the window, but never past the latest event time, so
        # the latest time a record knows reads back exactly.
        ts = min((window + 1) * ID_WINDOW_MS - 1, int(latest))
        for token in tokens[at : at + count]:
            seen[token] = ts
        at += count
    return seen
