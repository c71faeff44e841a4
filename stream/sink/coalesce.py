"""Coalescing of score changes: only the newest per contact and model is sent."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from stream import jsonutil
from stream.errors import InputError

Key = tuple[str, str]

_TEXT_FIELDS = ("contact_id", "model_id", "grade", "recommended_action", "as_of")
_NUMBER_FIELDS = ("fit_score", "activity_score")


@dataclass(frozen=True, slots=True)
class Change:
    """One score-change message as read from the topic, checked enough to send."""

    contact_id: str
    model_id: str
    seq: int
    event: dict[str, Any]
    partition: int = -1

    @property
    def key(self) -> Key:
        return (self.contact_id, self.model_id)


@dataclass(frozen=True, slots=True)
class Forgotten:
    """A contact erased by the workers: its seqs start again at 1."""

    contact_id: str


def parse_message(value: bytes | None, partition: int = -1) -> Change | Forgotten:
    """A score change or an erasure from a message value; InputError names
    what is missing."""
    event = _load(value)
    if event.get("forgotten") is True:
        contact_id = event.get("contact_id")
        if not isinstance(contact_id, str) or not contact_id:
            raise InputError("missing_field", "contact_id: expected a non-empty string")
        return Forgotten(contact_id)
    return _change(event, partition)


def parse_change(value: bytes | None, partition: int = -1) -> Change:
    """A Change from a message value; InputError names what is missing."""
    return _change(_load(value), partition)


def _load(value: bytes | None) -> dict[str, Any]:
    if value is None:
        raise InputError("empty_message", "the message has no value")
    event = jsonutil.loads(value)
    if not isinstance(event, dict):
        raise InputError("not_an_object", "the message is not a JSON object")
    return event


def _change(event: dict[str, Any], partition: int) -> Change:
    for name in _TEXT_FIELDS:
        if not isinstance(event.get(name), str) or not event[name]:
            raise InputError("missing_field", f"{name}: expected a non-empty string")
    for name in _NUMBER_FIELDS:
        value_ = event.get(name)
        if isinstance(value_, bool) or not isinstance(value_, int | float):
            raise InputError("missing_field", f"{name}: expected a number")
    seq = event.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise InputError("missing_field", "seq: expected a whole number")
    return Change(event["contact_id"], event["model_id"], seq, event, partition)


class Outcome(Enum):
    """What happened to a change handed to the coalescer."""

    PENDING = "pending"
    COALESCED = "coalesced"  # it replaced an older pending change
    STALE = "stale"  # its seq is not newer than one sent or pending


class LastSent:
    """The last seq handled per contact and model, for at most `capacity` pairs.

    The least recently touched pairs are forgotten first. Forgetting is safe:
    a duplicate of a forgotten change is sent once more, and changes of one
    contact arrive in seq order on one partition, so an old one is not
    expected after a newer one in practice.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seqs: OrderedDict[Key, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seqs)

    def get(self, key: Key) -> int | None:
        return self._seqs.get(key)

    def drop_contact(self, contact_id: str) -> None:
        for key in [k for k in self._seqs if k[0] == contact_id]:
            del self._seqs[key]

    def record(self, key: Key, seq: int) -> None:
        if seq <= self._seqs.get(key, seq - 1):
            return
        self._seqs[key] = seq
        self._seqs.move_to_end(key)
        while len(self._seqs) > self.capacity:
            self._seqs.popitem(last=False)


class Coalescer:
    """The changes waiting for the next send, one per contact and model."""

    def __init__(self, seen_capacity: int) -> None:
        self.last_sent = LastSent(seen_capacity)
        self._pending: dict[Key, Change] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, change: Change) -> Outcome:
        sent = self.last_sent.get(change.key)
        if sent is not None and change.seq <= sent:
            return Outcome.STALE
        waiting = self._pending.get(change.key)
        if waiting is not None:
            if change.seq <= waiting.seq:
                return Outcome.STALE
            self._pending[change.key] = change
            return Outcome.COALESCED
        self._pending[change.key] = change
        return Outcome.PENDING

    def forget_contact(self, contact_id: str) -> int:
        """Drops an erased contact's pending changes and last seqs (its seqs
        start again at 1); how many pending changes were dropped."""
        keys = [k for k in self._pending if k[0] == contact_id]
        for key in keys:
            del self._pending[key]
        self.last_sent.drop_contact(contact_id)
        return len(keys)

    def forget_partitions(self, partitions: Iterable[int]) -> int:
        """Drops pending changes read from partitions this sink no longer owns.

        Their new owner reads them again from the last commit; sending them
        here too could land an old grade after the owner's newer one.
        """
        gone = set(partitions)
        keys = [k for k, c in self._pending.items() if c.partition in gone]
        for key in keys:
            del self._pending[key]
        return len(keys)

    def take(self) -> list[Change]:
        """Every pending change, grouped by contact, and an empty coalescer."""
        changes = sorted(self._pending.values(), key=lambda c: c.key)
        self._pending.clear()
        return changes

    def handled(self, changes: Iterable[Change]) -> None:
        """Marks changes as sent or recorded as rejected: older ones are stale now."""
        for change in changes:
            self.last_sent.record(change.key, change.seq)
