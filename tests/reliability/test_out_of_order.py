"""Late and out-of-order input: the same final grades and scores as in order.

Events are shuffled within each UTC day (every period of the seed models
holds whole days) and property changes arrive newest first, several per
contact; per-property last-writer-wins by timestamp and per-period counts
make the final state independent of that order.
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from stream import jsonutil
from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from tests.app.helpers import publish_lines, wait_consumed
from tests.app.test_end_to_end import real_lines
from tests.reliability.compare import check_identical, read_output, replay

pytestmark = [pytest.mark.broker, pytest.mark.reliability, pytest.mark.timeout(240)]

DAY = 86_400_000
HOUR = 3_600_000
SEED = 11


@functools.cache
def ordered() -> tuple[bytes, ...]:
    """The real data plus three later NPS updates for every tenth contact."""
    lines = list(real_lines())
    extra = []
    for line in lines[::10]:
        record = jsonutil.loads(line)
        if record["type"] != "property_change":
            continue
        for step, nps in enumerate((3, 10, 7), start=1):
            extra.append(
                {
                    "type": "property_change",
                    "contact_id": record["contact_id"],
                    "timestamp": record["timestamp"] + step * HOUR,
                    "properties": {"Last NPS Score": nps},
                }
            )
    return tuple(lines + [jsonutil.dumps(r) for r in extra])


def disordered(lines: tuple[bytes, ...], seed: int) -> list[bytes]:
    """Events shuffled within their UTC day; property changes newest first."""
    rng = random.Random(seed)
    days: dict[int, list[bytes]] = defaultdict(list)
    changes = []
    for line in lines:
        record = jsonutil.loads(line)
        if record["type"] == "property_change":
            changes.append((record["timestamp"], line))
        else:
            days[record["timestamp"] // DAY].append(line)
    events = []
    for day in sorted(days):
        batch = days[day]
        rng.shuffle(batch)
        events.extend(batch)
    newest_first = [line for _, line in sorted(changes, reverse=True)]
    # Interleave: the property changes spread through the events.
    out: list[bytes] = []
    step = max(1, len(events) // max(1, len(newest_first)))
    for i, line in enumerate(newest_first):
        out.extend(events[i * step : (i + 1) * step])
        out.append(line)
    out.extend(events[len(newest_first) * step :])
    assert sorted(out) == sorted(lines)
    return out


def test_replay_of_disordered_input_ends_the_same(models: Path) -> None:
    lines = ordered()
    _, clock, _, rows = replay(lines, models)
    _, clock2, _, rows2 = replay(disordered(lines, SEED), models)
    assert clock2 == clock
    assert rows2 == rows
    moved = sum(1 for r in rows.values() if r["fit_score"] != 0)
    assert moved > 1000


def test_worker_on_disordered_input_ends_as_the_ordered_replay(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
    models: Path,
) -> None:
    kafka_topics(4)
    settings = worker_settings(models=models)
    publish_lines(kafka_config, settings.topic_prefix, disordered(ordered(), SEED))
    worker = run_worker(settings)
    wait_consumed(kafka_config, worker)
    assert worker.stop() == 0, worker.log_tail()

    seen = check_identical(list(ordered()), read_output(kafka_config, settings), models)
    assert seen.contacts == 7043
