"""Running counts of the stream worker and its periodic one-line summary."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class Stats:
    """Counters since start; `summary()` reports the rate since last call."""

    events_in: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    changes_out: int = 0
    decay_changes: int = 0
    # Stored changes sent again after a crash (copies of changes sent before).
    resent: int = 0
    # Contacts erased on request, and requests for contacts not stored.
    forgotten: int = 0
    forget_unknown: int = 0
    batches: int = 0
    busy_s: float = 0.0
    first_batch_at: float | None = None
    last_batch_at: float | None = None
    clock_written: int | None = None
    _mark: tuple[float, int, int, int, int, float] = field(
        default_factory=lambda: (time.monotonic(), 0, 0, 0, 0, 0.0)
    )

    def summary(self) -> str | None:
        """One line of rates since the previous summary; None when idle."""
        now = time.monotonic()
        then, events, dead, changes, batches, busy = self._mark
        self._mark = (
            now,
            self.events_in,
            self.dead_lettered,
            self.changes_out,
            self.batches,
            self.busy_s,
        )
        if self.events_in == events and self.changes_out == changes:
            return None
        elapsed = max(now - then, 1e-9)
        n_batches = max(self.batches - batches, 1)
        return (
            f"events in {(self.events_in - events) / elapsed:,.0f}/s, "
            f"dead-lettered {self.dead_lettered - dead}, "
            f"changes out {self.changes_out - changes}; "
            f"{(self.events_in - events) / n_batches:,.0f} per batch, "
            f"scoring busy {(self.busy_s - busy) / elapsed:.0%} "
            f"(totals: {self.events_in:,} in, {self.dead_lettered:,} dead-lettered, "
            f"{self.duplicates:,} duplicates, {self.changes_out:,} changes, "
            f"{self.decay_changes:,} by decay)"
        )

    def batch_done(self, started: float, events: int) -> None:
        """Count one scored batch that began at perf_counter() `started`."""
        now = time.perf_counter()
        self.events_in += events
        self.batches += 1
        self.busy_s += now - started
        if self.first_batch_at is None:
            self.first_batch_at = started
        self.last_batch_at = now

    def as_dict(self) -> dict[str, float | int]:
        """Totals, plus the rate from the first batch's start to the last's end."""
        span = 0.0
        if self.first_batch_at is not None and self.last_batch_at is not None:
            span = self.last_batch_at - self.first_batch_at
        return {
            "events_in": self.events_in,
            "dead_lettered": self.dead_lettered,
            "duplicates": self.duplicates,
            "changes_out": self.changes_out,
            "decay_changes": self.decay_changes,
            "resent": self.resent,
            "forgotten": self.forgotten,
            "forget_unknown": self.forget_unknown,
            "batches": self.batches,
            "busy_s": round(self.busy_s, 3),
            "span_s": round(span, 3),
            "events_per_s": round(self.events_in / span) if span > 0 else 0,
        }
