"""The worker on the real data set gives the offline replay's results."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

import pytest

from stream import jsonutil
from stream.app.settings import Settings
from stream.realdata import build_replay
from tests.app.helpers import (
    WorkerProcess,
    publish_lines,
    read_changes,
    read_states,
    wait_consumed,
)
from tests.app.replay_check import check_against_replay

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]


@functools.cache
def real_lines() -> tuple[bytes, ...]:
    return tuple(jsonutil.dumps(record) for record in build_replay())


def with_duplicates(lines: tuple[bytes, ...], share: float, seed: int) -> list[bytes]:
    """`lines` plus a copy of `share` of them, each somewhere after its original."""
    rng = random.Random(seed)
    out = list(lines)
    picks = rng.sample(range(len(lines)), int(len(lines) * share))
    # From the back, so earlier insertions do not shift later originals.
    for index in sorted(picks, reverse=True):
        out.insert(rng.randint(index + 1, len(out)), lines[index])
    return out


def run_once(
    lines: list[bytes],
    kafka_config: dict[str, str],
    settings: Settings,
    run_worker: Callable[[Settings], WorkerProcess],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    assert publish_lines(kafka_config, settings.topic_prefix, lines) == len(lines)
    worker = run_worker(settings)
    wait_consumed(kafka_config, worker)
    assert worker.stop() == 0, worker.log_tail()
    changes = read_changes(kafka_config, settings.topic_prefix)
    return changes, read_states(kafka_config, settings)


def test_real_data_matches_offline_replay(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
) -> None:
    kafka_topics(4)
    lines = list(real_lines())
    changes, states = run_once(lines, kafka_config, worker_settings(), run_worker)

    compared = check_against_replay(lines, changes, states)

    assert compared["pairs"] > 20_000
    assert compared["single_topic_sequences"] > 100


def test_redelivered_inputs_change_nothing(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
) -> None:
    kafka_topics(4)
    lines = real_lines()
    doubled = with_duplicates(lines, 0.05, seed=7)
    assert len(doubled) - len(lines) >= 900

    changes, states = run_once(doubled, kafka_config, worker_settings(), run_worker)

    # Compared with the replay of the inputs *without* the copies.
    check_against_replay(list(lines), changes, states)
