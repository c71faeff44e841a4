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
    clock_written: int | None = None
    _mark: tuple[float, int, int, int] = field(
        default_factory=lambda: (time.monotonic(), 0, 0, 0)
    )

    def summary(self) -> str | None:
        """One line of rates since the previous summary; None when idle."""
        now = time.monotonic()
        then, events, dead, changes = self._mark
        self._mark = (now, self.events_in, self.dead_lettered, self.changes_out)
        if self.events_in == events and self.changes_out == changes:
            return None
        elapsed = max(now - then, 1e-9)
        return (
            f"events in {(self.events_in - events) / elapsed:,.0f}/s, "
            f"dead-lettered {self.dead_lettered - dead}, "
            f"changes out {self.changes_out - changes} "
            f"(totals: {self.events_in:,} in, {self.dead_lettered:,} dead-lettered, "
            f"{self.duplicates:,} duplicates, {self.changes_out:,} changes, "
            f"{self.decay_changes:,} by decay)"
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "events_in": self.events_in,
            "dead_lettered": self.dead_lettered,
            "duplicates": self.duplicates,
            "changes_out": self.changes_out,
            "decay_changes": self.decay_changes,
        }
