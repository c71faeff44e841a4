"""Workers joining and leaving the group mid-stream: results equal the replay.

A worker that leaves can be stopped between storing a batch's records and
sending its changes; the next owner then resends the stored changes, so
repeats are byte for byte the first copies, as after a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from tests.app.helpers import publish_lines
from tests.app.test_end_to_end import real_lines
from tests.reliability.compare import check_identical, read_output
from tests.reliability.faults import READY, wait_group_consumed, wait_log

pytestmark = [pytest.mark.broker, pytest.mark.reliability, pytest.mark.timeout(240)]


def test_two_workers_a_third_joins_one_leaves(
    tmp_path: Path,
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
    models: Path,
) -> None:
    kafka_topics(4)
    one, two, three = (
        worker_settings(models=models, data_dir=tmp_path / f"w{i}") for i in (1, 2, 3)
    )
    prefix = one.topic_prefix
    lines = list(real_lines())
    quarter = len(lines) // 4
    parts = [lines[i * quarter : (i + 1) * quarter] for i in range(3)]
    parts.append(lines[3 * quarter :])

    publish_lines(kafka_config, prefix, parts[0])
    first, second = run_worker(one), run_worker(two)
    wait_log(first, READY)
    publish_lines(kafka_config, prefix, parts[1])
    # The third joins while the second quarter is being scored.
    third = run_worker(three)
    wait_log(third, READY)
    publish_lines(kafka_config, prefix, parts[2])
    # The first leaves (a clean stop) while the third quarter is scored.
    assert first.stop() == 0, first.log_tail()
    publish_lines(kafka_config, prefix, parts[3])
    wait_group_consumed(kafka_config, one, [second, third])
    for worker in (second, third):
        assert worker.stop() == 0, worker.log_tail()

    seen = check_identical(lines, read_output(kafka_config, one), models)
    assert seen.contacts == 7043
    # Partitions really moved: the third worker owned some and scored input.
    assert "recovery done: partitions [" in third.log.read_text()
    totals = [w.totals() for w in (first, second, third)]
    assert all(t is not None and t["events_in"] > 0 for t in totals), totals
