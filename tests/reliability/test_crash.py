"""kill -9 of the worker at seeded random points: nothing lost, no gap.

Delivery guarantee this proves (at-least-once with idempotent state): every
input is applied to its contact's record exactly once, every score change
reaches the topic at least once, and a change sent twice after a crash is
byte for byte the first copy (the worker stores each batch's changes in the
contact records before sending them, and resends the stored bytes).
Consumers that drop repeats by (contact_id, model_id, seq) see every change
once, in seq order, with no gap.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from tests.app.helpers import publish_lines, wait_consumed
from tests.app.test_end_to_end import real_lines
from tests.reliability.compare import check_identical, read_output
from tests.reliability.faults import READY, kill9, log_size, wait_log

pytestmark = [pytest.mark.broker, pytest.mark.reliability, pytest.mark.timeout(360)]

# Change the seed to explore other kill points; a failure names its seed.
SEED = int(os.environ.get("SCORESTREAM_FAULT_SEED", "5"))
KILLS = int(os.environ.get("SCORESTREAM_KILL_POINTS", "10"))


@dataclass(frozen=True)
class KillPoint:
    """When to kill: `delay` s after start-up began, or after the worker was
    ready (recovery over, input flowing)."""

    after_ready: bool
    delay: float


def kill_points(rng: random.Random, n: int) -> list[KillPoint]:
    return [
        KillPoint(True, rng.uniform(0.0, 1.5))
        if rng.random() < 0.75
        else KillPoint(False, rng.uniform(0.2, 3.0))
        for _ in range(n)
    ]


def slices(lines: list[bytes], n: int) -> list[list[bytes]]:
    size = -(-len(lines) // n)
    return [lines[i : i + size] for i in range(0, len(lines), size)]


def run_with_kills(
    lines: list[bytes],
    points: list[KillPoint],
    kafka_config: dict[str, str],
    settings: Settings,
    run_worker: Callable[[Settings], WorkerProcess],
) -> WorkerProcess:
    """Publishes a slice per run, kills each run at its point; the last runs out."""
    parts = slices(lines, len(points) + 1)
    for part, point in zip(parts, points, strict=False):
        publish_lines(kafka_config, settings.topic_prefix, part)
        worker = run_worker(settings)
        started = time.monotonic()
        if point.after_ready:
            wait_log(worker, READY, timeout=60)
            started = time.monotonic()
        time.sleep(max(0.0, point.delay - (time.monotonic() - started)))
        assert worker.running(), worker.log_tail()
        kill9(worker)
    for part in parts[len(points) :]:
        publish_lines(kafka_config, settings.topic_prefix, part)
    last = run_worker(settings)
    wait_consumed(kafka_config, last, timeout=120)
    return last


def test_kill9_at_random_points_loses_and_changes_nothing(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
    models: Path,
) -> None:
    kafka_topics(4)
    settings = worker_settings(models=models)
    lines = list(real_lines())
    points = kill_points(random.Random(SEED), KILLS)

    last = run_with_kills(lines, points, kafka_config, settings, run_worker)
    assert last.stop() == 0, last.log_tail()

    seen = check_identical(lines, read_output(kafka_config, settings), models)
    print(
        f"seed {SEED}: {len(points)} kills {points}; {seen.pairs} pairs "
        f"{seen.repeats} repeats {seen.differing_repeats} differ in {seen.differing}"
    )
    assert seen.contacts == 7043
    assert seen.differing_repeats == 0
    assert log_size(last) > 0
