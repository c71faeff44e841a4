"""Calendar periods: which period an instant falls in, for one model's clock.

Periods are whole local days of the model's timezone, counted from its
anchor date, `interval_days` long. Converting an instant to a local date is
the hot spot, so UTC offsets are cached per quarter hour (every real-world
offset change since 1970 happens on a quarter-hour boundary).
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

DAY_MS = 86_400_000
_SLOT_MS = 900_000
_EPOCH = dt.date(1970, 1, 1)


class PeriodClock:
    """bucket(t) = floor(days(anchor, local_date(t)) / interval_days)."""

    __slots__ = (
        "_anchor_day",
        "_interval",
        "_last",
        "_offsets",
        "_starts",
        "_tz",
        "_utc",
    )

    def __init__(self, timezone: str, anchor: dt.date, interval_days: int) -> None:
        self._tz = ZoneInfo(timezone)
        self._utc = timezone in ("UTC", "Etc/UTC")
        self._anchor_day = (anchor - _EPOCH).days
        self._interval = interval_days
        self._offsets: dict[int, int] = {}
        self._starts: dict[int, int] = {}
        # The scoring path asks for the bucket of the same `now` several times
        # per input (counting, then every category's points).
        self._last: tuple[int | None, int] = (None, 0)

    def local_day(self, ms: int) -> int:
        """Days since 1970-01-01 of the local calendar date of instant `ms`."""
        if self._utc:
            return ms // DAY_MS
        slot = ms // _SLOT_MS
        offset = self._offsets.get(slot)
        if offset is None:
            when = dt.datetime.fromtimestamp(slot * _SLOT_MS / 1000, dt.UTC)
            delta = when.astimezone(self._tz).utcoffset()
            offset = int(delta.total_seconds() * 1000) if delta else 0
            if len(self._offsets) > 100_000:
                self._offsets.clear()
            self._offsets[slot] = offset
        return (ms + offset) // DAY_MS

    def bucket(self, ms: int) -> int:
        last_ms, last_bucket = self._last
        if ms == last_ms:
            return last_bucket
        bucket = (self.local_day(ms) - self._anchor_day) // self._interval
        self._last = (ms, bucket)
        return bucket

    def bucket_start(self, bucket: int) -> int:
        """Epoch ms of the local midnight that opens `bucket`."""
        start = self._starts.get(bucket)
        if start is None:
            start = self._midnight_of(bucket)
            # Bounded like the offsets: a clock sees a few buckets per year.
            if len(self._starts) > 100_000:
                self._starts.clear()
            self._starts[bucket] = start
        return start

    def _midnight_of(self, bucket: int) -> int:
        day = _EPOCH + dt.timedelta(days=self._anchor_day + bucket * self._interval)
        # fold=0 maps a midnight skipped by a DST jump to the jump itself,
        # which is the first instant of that local day.
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=self._tz)
        return int(midnight.timestamp() * 1000)

    def next_boundary(self, ms: int) -> int:
        """The first period boundary strictly after instant `ms`."""
        return self.bucket_start(self.bucket(ms) + 1)

    def next_midnight(self, ms: int) -> int:
        """The first local midnight strictly after instant `ms`."""
        day = _EPOCH + dt.timedelta(days=self.local_day(ms) + 1)
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=self._tz)
        return int(midnight.timestamp() * 1000)


@functools.lru_cache(maxsize=256)
def shared_clock(timezone: str, anchor: dt.date, interval_days: int) -> PeriodClock:
    """One clock per (zone, anchor, length), so its caches serve every
    category and model that counts in the same periods."""
    return PeriodClock(timezone, anchor, interval_days)
