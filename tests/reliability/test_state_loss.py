"""Local state lost or left unclean: recovered from the changelog, or a loud stop."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from stream.app.app import faust_id
from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from tests.app.helpers import publish_lines, wait_consumed
from tests.app.test_end_to_end import real_lines
from tests.reliability.compare import check_identical, read_output
from tests.reliability.faults import READY, kill9, wait_log

pytestmark = [pytest.mark.broker, pytest.mark.reliability, pytest.mark.timeout(240)]


def changelog(settings: Settings) -> str:
    return f"{faust_id(settings)}-contacts-changelog"


def test_unclean_stop_then_wiped_data_dir_give_identical_results(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
    models: Path,
) -> None:
    kafka_topics(4)
    settings = worker_settings(models=models)
    lines = list(real_lines())
    thirds = [lines[: len(lines) // 3], lines[len(lines) // 3 : 2 * len(lines) // 3]]
    thirds.append(lines[2 * len(lines) // 3 :])

    publish_lines(kafka_config, settings.topic_prefix, thirds[0])
    first = run_worker(settings)
    wait_consumed(kafka_config, first)
    kill9(first)
    # The killed process left its RocksDB lock files behind.
    locks = list(settings.data_dir.rglob("LOCK"))
    assert locks, sorted(settings.data_dir.rglob("*"))

    publish_lines(kafka_config, settings.topic_prefix, thirds[1])
    second = run_worker(settings)
    wait_consumed(kafka_config, second)
    assert second.stop() == 0, second.log_tail()
    assert "is locked" not in second.log.read_text()

    shutil.rmtree(settings.data_dir)
    publish_lines(kafka_config, settings.topic_prefix, thirds[2])
    third = run_worker(settings)
    wait_consumed(kafka_config, third)
    assert third.stop() == 0, third.log_tail()

    seen = check_identical(lines, read_output(kafka_config, settings), models)
    assert seen.contacts == 7043


def delete_oldest_records(config: dict[str, str], topic: str, share: float) -> int:
    """Deletes the oldest `share` of every partition of `topic`; how many went.

    Kafka refuses DeleteRecords on a compact-only topic, so the topic first
    gets `compact,delete`, as an operator bounding its size by age would
    (from then on time retention can drop old records the same way).
    """
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import (
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ResourceType,
    )

    admin = AdminClient(config)
    policy = ConfigEntry(
        "cleanup.policy",
        "compact,delete",
        incremental_operation=AlterConfigOpType.SET,
    )
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[policy])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)

    probe = Consumer({**config, "group.id": f"probe-{uuid.uuid4().hex[:8]}"})
    try:
        cuts = []
        for partition in range(4):
            _, high = probe.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10
            )
            cuts.append(TopicPartition(topic, partition, int(high * share)))
    finally:
        probe.close()
    for future in admin.delete_records(cuts, request_timeout=30).values():
        future.result(timeout=30)
    return sum(tp.offset for tp in cuts)


def test_recovery_from_a_truncated_changelog_stops_with_a_clear_message(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
    models: Path,
) -> None:
    kafka_topics(4)
    settings = worker_settings(models=models)
    lines = list(real_lines())[:4000]
    publish_lines(kafka_config, settings.topic_prefix, lines)
    first = run_worker(settings)
    wait_consumed(kafka_config, first)
    assert first.stop() == 0, first.log_tail()

    deleted = delete_oldest_records(kafka_config, changelog(settings), 0.5)
    assert deleted > 100

    # The local state still holds everything the deleted records said, so
    # this worker loses nothing and must start as usual.
    intact = run_worker(settings)
    wait_log(intact, READY, timeout=60)
    assert intact.stop() == 0, intact.log_tail()

    # Without it, half the contacts could only come back from records that
    # are gone: the worker must say so and stop, not run on without them.
    shutil.rmtree(settings.data_dir)
    lost = run_worker(settings)
    deadline = time.monotonic() + 60
    while lost.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = lost.log.read_text()
    assert not lost.running(), "the worker runs on with lost state:\n" + log[-3000:]
    assert lost.proc.returncode != 0
    assert READY not in log
    assert "cannot be recovered" in log and changelog(settings) in log, log[-3000:]
