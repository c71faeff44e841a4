"""Pacing of CRM requests: a token bucket per target and the retry backoff policy."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]


class TokenBucket:
    """`rate` requests per `period` seconds, with bursts of up to `rate`.

    Starts full. `reserve()` takes a token and says how long to wait before
    using it, so a caller never spends a token it does not wait for. The clock
    is injected so tests can drive time by hand.
    """

    def __init__(self, rate: int, period: float, clock: Clock = time.monotonic) -> None:
        if rate < 1 or period <= 0:
            raise ValueError("rate must be >= 1 and period > 0")
        self.capacity = float(rate)
        self.per_second = rate / period
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock()

    def _refill(self) -> float:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.per_second)
        self._updated = now
        return now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def reserve(self) -> float:
        """Takes one token; returns the seconds to wait before sending (0 = now)."""
        self._refill()
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.per_second

    def hold_off(self, seconds: float) -> None:
        """Empties the bucket so nothing is sent for `seconds` (a 429 answer).

        A 429 means the CRM counts differently from us (other clients share the
        app's limit), so every request of this target waits, not just the one
        that was refused.
        """
        self._refill()
        self._tokens = min(self._tokens, -seconds * self.per_second)


@dataclass
class Backoff:
    """Delays between retries of one batch after a 5xx, timeout or network error.

    The delay doubles from `base` up to `cap`, with jitter: a random delay in
    [d/2, d], so many sinks restarted together do not retry in step. After
    `attempts` retries the outage is reported as an error but the retries go on
    at `cap` pace: the sink never drops a batch because the CRM is down.
    """

    base: float = 0.5
    cap: float = 60.0
    attempts: int = 10
    rand: Callable[[], float] = field(default=random.random)

    def ceiling(self, retry: int) -> float:
        """The delay before retry number `retry` (1-based), before jitter."""
        if retry < 1:
            raise ValueError("retry numbers start at 1")
        if retry > self.attempts:
            return self.cap
        return min(self.cap, self.base * 2.0 ** min(retry - 1, 62))

    def delay(self, retry: int) -> float:
        ceiling = self.ceiling(retry)
        return ceiling / 2 + self.rand() * ceiling / 2

    def exhausted(self, retry: int) -> bool:
        """True once the fast retries are used up (the outage is an error now)."""
        return retry > self.attempts
