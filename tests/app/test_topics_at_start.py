"""A worker started before its topics exist creates them and scores at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from stream.kafka import topics
from tests.api.helpers import known_input
from tests.app.helpers import publish_records, read_changes, wait_consumed
from tests.reliability.faults import READY, wait_log

pytestmark = [pytest.mark.broker, pytest.mark.timeout(180)]


def partition_counts(config: dict[str, str], prefix: str) -> dict[str, int]:
    from confluent_kafka.admin import AdminClient

    metadata: Any = AdminClient(config).list_topics(timeout=10)
    return {
        name.removeprefix(prefix): len(topic.partitions)
        for name, topic in metadata.topics.items()
        if name.startswith(prefix) and not name.startswith(f"{prefix}worker")
    }


def test_a_worker_creates_missing_topics_and_scores_without_waiting(
    kafka_config: dict[str, str],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
) -> None:
    settings = worker_settings(partitions=2)
    prefix = settings.topic_prefix
    assert partition_counts(kafka_config, prefix) == {}

    worker = run_worker(settings)
    wait_log(worker, READY, timeout=90)

    assert partition_counts(kafka_config, prefix) == {
        spec.name.removeprefix(prefix): 2
        for spec in topics.scorestream_topics(prefix, 2)
    }
    publish_records(kafka_config, prefix, known_input())
    # Without the topics at start the group would wait for a metadata
    # refresh (minutes) before it was given any partition.
    wait_consumed(kafka_config, worker, timeout=60)
    changes = read_changes(kafka_config, prefix)
    assert len({c["contact_id"] for c in changes}) == 24
    assert "created missing topics:" in worker.log.read_text()
