"""Offline replay: score a JSON-lines input file on the event clock.

The clock is the highest event time seen so far, so the same input always
gives the same output, and a late event never moves time backwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from stream.decode import decode_replay_line
from stream.errors import InputError, ScoringError
from stream.processor import MemoryStore, Processor
from stream.scoring.changes import ScoreChange
from stream.scoring.engine import Engine
from stream.timestamps import format_timestamp


@dataclass(slots=True)
class ReplayStats:
    lines: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    changes: int = 0
    decay_changes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str
    detail: str


class Replay:
    """Feeds decoded inputs through a Processor on the event clock.

    `wall_now` (epoch ms) is only used to reject events dated beyond the
    real present plus the tolerance; it is read once, never per event.
    """

    def __init__(self, engine: Engine, *, wall_now: int | None = None) -> None:
        self.engine = engine
        self.store = MemoryStore()
        self.processor = Processor(engine, self.store)
        self.wall_now = wall_now if wall_now is not None else int(time.time() * 1000)
        self.stats = ReplayStats()

    def feed(self, line: bytes, lineno: int) -> list[ScoreChange] | Rejection:
        """Decode and apply one line; a bad line gives a Rejection."""
        self.stats.lines += 1
        try:
            msg = decode_replay_line(line)
            limit = self.wall_now + self.engine.future_tolerance_ms
            if msg.timestamp > limit:
                raise InputError(
                    "timestamp_in_future",
                    f"timestamp is {(msg.timestamp - self.wall_now) / 1000:.0f} s "
                    "ahead of the present; check the producer's clock",
                )
            now = msg.timestamp
            if self.processor.now is not None:
                now = max(now, self.processor.now)
            changes, outcome = self.processor.apply(msg, now)
        except InputError as exc:
            self.stats.rejected += 1
            self.stats.reasons[exc.reason] = self.stats.reasons.get(exc.reason, 0) + 1
            return Rejection(lineno, exc.reason, exc.detail)
        if outcome.duplicate:
            self.stats.duplicates += 1
        else:
            self.stats.applied += 1
        self._count(changes)
        return changes

    def finish(self, as_of: int | None = None) -> list[ScoreChange]:
        """Run decay re-grades up to `as_of` (default: the clock)."""
        if as_of is None:
            return []
        clock = self.processor.now
        if clock is not None and as_of < clock:
            raise ScoringError(
                f"--as-of {format_timestamp(as_of)} is before the input's latest "
                f"event time {format_timestamp(clock)}: the state can only be "
                "scored at or after the last input. Cut the input file at that "
                "time instead, or pass a later --as-of"
            )
        changes = self.processor.advance(as_of)
        self._count(changes)
        return changes

    def _count(self, changes: list[ScoreChange]) -> None:
        self.stats.changes += len(changes)
        self.stats.decay_changes += sum(1 for c in changes if c.cause == "decay")

    def final_rows(self, as_of: int) -> Iterator[dict[str, Any]]:
        """Every contact's grade and scores under every model at `as_of`."""
        for contact_id, state in sorted(self.store.items()):
            for scorer in self.engine.models:
                evaluation = scorer.evaluate(state, as_of)
                mark = state.grades.get(scorer.model.id)
                yield {
                    "model_id": scorer.model.id,
                    "contact_id": contact_id,
                    "grade": scorer.grade(evaluation, mark.grade if mark else None),
                    "fit_score": round(evaluation.fit_score, 4),
                    "activity_score": round(evaluation.activity_score, 4),
                }


def run_replay(
    lines: Iterable[bytes],
    engine: Engine,
    *,
    on_change: Callable[[ScoreChange], None],
    on_reject: Callable[[Rejection], None] | None = None,
    wall_now: int | None = None,
    as_of: int | None = None,
) -> Replay:
    """Replay every line in order, then catch decay up to `as_of`."""
    replay = Replay(engine, wall_now=wall_now)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        result = replay.feed(line, lineno)
        if isinstance(result, Rejection):
            if on_reject is not None:
                on_reject(result)
            continue
        for change in result:
            on_change(change)
    for change in replay.finish(as_of):
        on_change(change)
    return replay
