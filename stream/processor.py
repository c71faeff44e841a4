"""Drives the engine over a stream of inputs: the scoring clock, the decay
schedule and the contact store. Used by offline replay and by the worker.

The clock never runs backwards. Before an input that moves it past one or
more period boundaries is applied, every contact due at those boundaries is
re-graded at the boundary itself (cause `decay`), oldest boundary first.
Only contacts with live activity are on the schedule, so a sweep never
reads a contact whose grade time cannot move.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Protocol

from stream.messages import InputMessage
from stream.scoring.changes import ScoreChange
from stream.scoring.engine import Engine, Outcome
from stream.state import ContactState


class StateStore(Protocol):
    """Where contact records live: a dict offline, a table in the worker."""

    def get(self, contact_id: str) -> ContactState | None: ...

    def put(self, contact_id: str, state: ContactState) -> None: ...


class MemoryStore:
    """A plain in-memory store, for replay and tests."""

    def __init__(self) -> None:
        self.states: dict[str, ContactState] = {}

    def get(self, contact_id: str) -> ContactState | None:
        return self.states.get(contact_id)

    def put(self, contact_id: str, state: ContactState) -> None:
        self.states[contact_id] = state

    def items(self) -> Iterator[tuple[str, ContactState]]:
        return iter(self.states.items())


class DecaySchedule:
    """Which contact is due for a decay re-grade when; stale entries are
    skipped lazily instead of being removed from the heap."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []
        self._due: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, contact_id: str) -> bool:
        return contact_id in self._due

    def set(self, contact_id: str, due: int | None) -> None:
        if due is None:
            self._due.pop(contact_id, None)
            return
        if self._due.get(contact_id) == due:
            return
        self._due[contact_id] = due
        heapq.heappush(self._heap, (due, contact_id))

    def next_due(self) -> int | None:
        while self._heap:
            due, contact_id = self._heap[0]
            if self._due.get(contact_id) == due:
                return due
            heapq.heappop(self._heap)
        return None

    def pop_due(self, until: int) -> tuple[int, str] | None:
        """The earliest (due, contact) with due <= until, removed."""
        due = self.next_due()
        if due is None or due > until:
            return None
        _, contact_id = heapq.heappop(self._heap)
        del self._due[contact_id]
        return due, contact_id


class Processor:
    """Applies inputs in order; `clock` is 'event' or a fixed wall time."""

    def __init__(self, engine: Engine, store: StateStore) -> None:
        self.engine = engine
        self.store = store
        self.schedule = DecaySchedule()
        self.now: int | None = None
        self.swept = 0

    def track(self, contact_id: str, state: ContactState, after: int) -> None:
        """(Re)schedule a contact's next decay re-grade after instant `after`."""
        self.schedule.set(contact_id, self.engine.next_due(state, after))

    def advance(self, now: int) -> list[ScoreChange]:
        """Move the clock to `now` (never back) and run due decay re-grades."""
        if self.now is not None and now <= self.now:
            return []
        changes: list[ScoreChange] = []
        while (item := self.schedule.pop_due(now)) is not None:
            due, contact_id = item
            state = self.store.get(contact_id)
            if state is None:
                continue
            self.swept += 1
            changes.extend(self.engine.regrade(state, contact_id, due, "decay"))
            self.store.put(contact_id, state)
            self.track(contact_id, state, due)
        self.now = now
        return changes

    def apply(self, msg: InputMessage, now: int) -> tuple[list[ScoreChange], Outcome]:
        """Advance to `now`, then apply one input. Raises InputError.

        The input is checked before the clock moves: a rejected input moves
        neither the clock nor any contact, and so cannot swallow the decay
        changes its clock move would have produced.
        """
        last = self.now
        clock = now if last is None or now > last else last
        hits = self.engine.check(msg, clock)
        # Most inputs do not move the clock past anything due.
        changes = self.advance(now) if clock == now else []
        contact_id = msg.contact_id
        state = self.store.get(contact_id)
        if state is None:
            state = ContactState()
        outcome = self.engine.apply(state, contact_id, msg, clock, hits)
        if not outcome.duplicate:
            self.store.put(contact_id, state)
            if outcome.counted or contact_id not in self.schedule:
                self.track(contact_id, state, clock)
        if outcome.changes:
            changes.extend(outcome.changes)
        return changes, outcome
