"""The token bucket and the backoff policy, on an injected clock."""

from __future__ import annotations

import pytest

from stream.sink.ratelimit import Backoff, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_full_burst_then_paces_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(100, 10.0, clock)

    waits = [bucket.reserve() for _ in range(100)]
    assert waits == [0.0] * 100

    # The 101st and later requests wait 0.1 s more each: 10 per second.
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)


def test_bucket_refills_with_time_but_never_above_capacity() -> None:
    clock = Clock()
    bucket = TokenBucket(5, 1.0, clock)
    for _ in range(5):
        bucket.reserve()
    assert bucket.tokens == pytest.approx(0.0)

    clock.now += 0.4
    assert bucket.tokens == pytest.approx(2.0)
    clock.now += 3600
    assert bucket.tokens == pytest.approx(5.0)


def test_a_reserved_wait_is_honoured_by_the_next_caller() -> None:
    clock = Clock()
    bucket = TokenBucket(1, 2.0, clock)
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(2.0)
    clock.now += 2.0  # the second caller waited its turn
    assert bucket.reserve() == pytest.approx(2.0)


def test_hold_off_delays_every_request_by_the_retry_after() -> None:
    clock = Clock()
    bucket = TokenBucket(10, 1.0, clock)
    bucket.hold_off(3.0)
    assert bucket.reserve() == pytest.approx(3.1)
    clock.now += 3.1
    assert bucket.reserve() == pytest.approx(0.1)


def test_a_backward_clock_does_not_add_tokens() -> None:
    clock = Clock()
    bucket = TokenBucket(2, 1.0, clock)
    bucket.reserve()
    bucket.reserve()
    clock.now -= 50
    assert bucket.tokens == pytest.approx(0.0)


def test_bucket_rejects_nonsense_rates() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1.0)
    with pytest.raises(ValueError):
        TokenBucket(1, 0.0)


def test_backoff_doubles_to_the_cap_and_stays_there() -> None:
    backoff = Backoff(base=0.5, cap=8.0, attempts=4, rand=lambda: 1.0)
    assert [backoff.ceiling(n) for n in range(1, 8)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        8.0,
        8.0,
    ]
    assert [backoff.delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_backoff_after_the_fast_attempts_waits_the_cap() -> None:
    backoff = Backoff(base=0.1, cap=30.0, attempts=3, rand=lambda: 1.0)
    assert backoff.ceiling(3) == pytest.approx(0.4)
    assert backoff.ceiling(4) == 30.0
    assert not backoff.exhausted(3)
    assert backoff.exhausted(4)
    assert backoff.ceiling(10_000) == 30.0


def test_jitter_stays_between_half_and_the_full_delay() -> None:
    low = Backoff(base=1.0, cap=60.0, rand=lambda: 0.0)
    high = Backoff(base=1.0, cap=60.0, rand=lambda: 0.999999)
    for retry in range(1, 12):
        ceiling = low.ceiling(retry)
        assert low.delay(retry) == pytest.approx(ceiling / 2)
        assert ceiling / 2 <= high.delay(retry) <= ceiling


def test_retry_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        Backoff().ceiling(0)
