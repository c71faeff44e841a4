"""Decay at period boundaries, the live clock, restarts and recovery."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from stream.state import event_token
from stream.timestamps import format_timestamp, parse_timestamp
from tests.app.helpers import (
    by_contact_model,
    publish_lines,
    publish_records,
    read_changes,
    read_dead_letters,
    read_states,
    seq_problems,
    wait_consumed,
)
from tests.app.replay_check import check_against_replay
from tests.app.test_end_to_end import real_lines

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]

DAY = 86_400_000
# 2015-05-17T00:00:00Z, a UTC midnight: the daily model's period boundary.
MIDNIGHT = 1_431_820_800_000

DAILY_MODEL = """\
id: daily
name: Daily decay
version: 1
status: active
timezone: UTC
fit:
  - name: Plan
    weight: 100
    mappings: [plan]
    values:
      - {values: [gold], score: 100}
activity:
  - name: Visits
    weight: 100
    event: page_visit
    decay_percent: 50
    interval_days: 1
    periods: 3
    min_frequency: 1
    max_frequency: 1
    rules:
      - {field: url, op: glob, values: ["*"]}
"""


@pytest.fixture
def daily_models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "daily.yaml").write_text(DAILY_MODEL)
    return folder


def visit(contact: str, at: int, n: int) -> dict[str, Any]:
    return {
        "type": "page_visit",
        "event_id": f"{contact}-{n}",
        "contact_id": contact,
        "timestamp": at,
        "url": "https://example.com/pricing",
    }


def history(changes: list[dict[str, Any]], contact: str) -> list[tuple[Any, ...]]:
    return [
        (c["seq"], c["previous_grade"], c["grade"], c["cause"], c["as_of"])
        for c in changes
        if c["contact_id"] == contact
    ]


def test_decay_only_downgrade_at_each_midnight(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
    daily_models: Path,
) -> None:
    kafka_topics(4)
    settings = worker_settings(models=daily_models)
    prefix = settings.topic_prefix
    worker = run_worker(settings)

    # One visit by A, then (once A is scored) the clock moves on two days
    # through visits by B alone: A gets nothing but time.
    publish_records(kafka_config, prefix, [visit("A", MIDNIGHT + 10 * 3600_000, 1)])
    wait_consumed(kafka_config, worker)
    publish_records(
        kafka_config,
        prefix,
        [visit("B", MIDNIGHT + DAY + 3600_000, 1), visit("B", MIDNIGHT + 2 * DAY, 2)],
    )
    wait_consumed(kafka_config, worker)
    assert worker.stop() == 0, worker.log_tail()

    changes = read_changes(kafka_config, prefix)
    assert history(changes, "A") == [
        (1, None, "D1", "event", format_timestamp(MIDNIGHT + 10 * 3600_000)),
        (2, "D1", "D2", "decay", format_timestamp(MIDNIGHT + DAY)),
        (3, "D2", "D4", "decay", format_timestamp(MIDNIGHT + 2 * DAY)),
    ]
    decay = [c for c in changes if c["contact_id"] == "A" and c["cause"] == "decay"]
    assert [c["activity_score"] for c in decay] == [50.0, 0.0]


def test_clean_restart_loses_and_repeats_nothing(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
) -> None:
    kafka_topics(4)
    settings = worker_settings()
    lines = list(real_lines())
    half = len(lines) // 2

    publish_lines(kafka_config, settings.topic_prefix, lines[:half])
    first = run_worker(settings)
    wait_consumed(kafka_config, first)
    assert first.stop() == 0, first.log_tail()
    before = read_changes(kafka_config, settings.topic_prefix)

    publish_lines(kafka_config, settings.topic_prefix, lines[half:])
    second = run_worker(settings)
    wait_consumed(kafka_config, second)
    assert second.stop() == 0, second.log_tail()
    changes = read_changes(kafka_config, settings.topic_prefix)

    assert len(changes) > len(before) > 0
    seen = [_key(c) for c in changes]
    assert len(seen) == len(set(seen)), "a change was emitted twice"
    assert {_key(c) for c in before} <= set(seen)
    check_against_replay(lines, changes, read_states(kafka_config, settings))


def _key(change: dict[str, Any]) -> tuple[str, str, int]:
    return change["contact_id"], change["model_id"], change["seq"]


def test_wiped_state_is_recovered_from_the_changelog(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
    daily_models: Path,
) -> None:
    kafka_topics(4)
    settings = worker_settings(models=daily_models)
    prefix = settings.topic_prefix

    publish_records(
        kafka_config,
        prefix,
        [
            visit("A", MIDNIGHT + 10 * 3600_000, 1),
            {
                "type": "property_change",
                "contact_id": "A",
                "timestamp": MIDNIGHT + 10 * 3600_000,
                "properties": {"plan": "gold"},
            },
        ],
    )
    first = run_worker(settings)
    wait_consumed(kafka_config, first)
    assert first.stop() == 0, first.log_tail()
    shutil.rmtree(settings.data_dir)

    # A fresh worker on an empty data dir: everything must come back from
    # the changelog, including the clock and A's place on the decay schedule.
    second = run_worker(settings)
    publish_records(kafka_config, prefix, [visit("B", MIDNIGHT + DAY + 3600_000, 1)])
    wait_consumed(kafka_config, second)
    publish_records(kafka_config, prefix, [visit("A", MIDNIGHT + DAY + 7200_000, 2)])
    wait_consumed(kafka_config, second)
    assert second.stop() == 0, second.log_tail()
    scheduled = re.findall(
        r"(\d+) contacts on the decay schedule", second.log_tail(400)
    )
    assert scheduled and int(scheduled[0]) >= 1, second.log_tail()

    changes = read_changes(kafka_config, prefix)
    history_a = history(changes, "A")
    # The visit and the property change of the first run may be scored in
    # either order, but both end in A1 with seq 2.
    assert [h[0] for h in history_a[:2]] == [1, 2]
    assert history_a[1][2] == "A1"
    assert history_a[2:] == [
        (3, "A1", "A2", "decay", format_timestamp(MIDNIGHT + DAY)),
        (4, "A2", "A1", "event", format_timestamp(MIDNIGHT + DAY + 7200_000)),
    ]
    assert seq_problems(by_contact_model(changes)) == []
    state = read_states(kafka_config, settings)["A"]
    assert state.grades["daily"].seq == history_a[-1][0]
    assert set(state.seen) == {event_token("A-1"), event_token("A-2")}


def test_live_clock_scores_at_wall_time_and_rejects_the_far_future(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
    daily_models: Path,
) -> None:
    kafka_topics(4)
    settings = worker_settings(models=daily_models, clock="live")
    started = int(time.time() * 1000)
    publish_records(
        kafka_config,
        settings.topic_prefix,
        [visit("A", started - 60_000, 1), visit("C", started + 3600_000, 1)],
    )
    worker = run_worker(settings)
    wait_consumed(kafka_config, worker)
    assert worker.stop() == 0, worker.log_tail()
    finished = int(time.time() * 1000)

    (change,) = read_changes(kafka_config, settings.topic_prefix)
    assert (change["contact_id"], change["grade"]) == ("A", "D1")
    as_of = parse_timestamp(change["as_of"])
    assert started <= as_of <= finished
    (dead,) = read_dead_letters(kafka_config, settings.topic_prefix)
    assert dead["error"]["reason"] == "timestamp_in_future"
