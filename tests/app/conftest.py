"""Fixtures of the stream-worker tests: settings and worker processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stream.app.settings import Settings
from tests.app.helpers import REPO, WorkerProcess, start_worker


@pytest.fixture
def worker_settings(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> Callable[..., Settings]:
    """Factory: worker settings for this test's topics and a tmp data dir."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "bootstrap": kafka_bootstrap,
            "topic_prefix": topic_prefix,
            "models": REPO / "models",
            "data_dir": tmp_path / "worker",
            "partitions": 4,
            "clock": "event",
            "web_port": 0,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def run_worker(tmp_path: Path) -> Iterator[Callable[[Settings], WorkerProcess]]:
    """Factory: starts a worker process; every one still running is stopped."""
    started: list[WorkerProcess] = []

    def run(settings: Settings) -> WorkerProcess:
        worker = start_worker(settings, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield run
    for worker in started:
        worker.kill()
