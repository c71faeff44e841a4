"""Broker restart mid-stream: the worker reconnects, loses nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from stream.kafka.broker import LocalBroker
from stream.kafka.config import kafka_client_config
from stream.kafka.topics import create_topics
from tests.app.helpers import publish_lines, wait_consumed
from tests.app.test_end_to_end import real_lines
from tests.reliability.compare import check_identical, read_output
from tests.reliability.faults import READY, wait_log

pytestmark = [pytest.mark.broker, pytest.mark.reliability, pytest.mark.timeout(300)]

DOWN_S = 4.0


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test alone, so stopping it disturbs no other test."""
    broker = LocalBroker(tmp_path / "own-broker")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_broker_restart_mid_stream_loses_nothing(
    own_broker: LocalBroker,
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
    models: Path,
) -> None:
    config = kafka_client_config(own_broker.bootstrap, env={})
    settings = worker_settings(models=models, bootstrap=own_broker.bootstrap)
    create_topics(config, settings.topic_prefix, 4)
    lines = list(real_lines())
    half = len(lines) // 2

    publish_lines(config, settings.topic_prefix, lines[:half])
    worker = run_worker(settings)
    wait_log(worker, READY)
    port = own_broker.port
    own_broker.stop()
    time.sleep(DOWN_S)
    own_broker.start()
    assert own_broker.port == port
    assert worker.running(), worker.log_tail()

    publish_lines(config, settings.topic_prefix, lines[half:])
    wait_consumed(config, worker, timeout=150)
    assert worker.stop() == 0, worker.log_tail()

    seen = check_identical(lines, read_output(config, settings), models)
    assert seen.contacts == 7043
