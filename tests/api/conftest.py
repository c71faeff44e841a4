"""Fixtures of the HTTP API tests: workers with their web server on, Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from stream.kafka.process import free_port
from tests.app.helpers import REPO, start_worker

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def api_settings(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> Callable[..., Settings]:
    """Factory: worker settings with the web server on a free loopback port."""
    count = [0]

    def make(**overrides: Any) -> Settings:
        count[0] += 1
        values: dict[str, Any] = {
            "bootstrap": kafka_bootstrap,
            "topic_prefix": topic_prefix,
            "models": REPO / "models",
            "data_dir": tmp_path / f"worker-{count[0]}",
            "partitions": 4,
            "clock": "event",
            "web_host": "127.0.0.1",
            "web_port": free_port(),
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def api_worker(tmp_path: Path) -> Iterator[Callable[[Settings], WorkerProcess]]:
    """Factory: starts a worker process; every one still running is stopped."""
    started: list[WorkerProcess] = []

    def run(settings: Settings) -> WorkerProcess:
        worker = start_worker(settings, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield run
    for worker in started:
        worker.stop(timeout=20)


def base_url(settings: Settings) -> str:
    return f"http://{settings.web_host}:{settings.web_port}"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt-get on first use (needs root)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"{CHROMIUM} is missing; install Debian's chromium package "
            "(apt-get install chromium) or run the tests as root so they can",
            pytrace=False,
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
    ):
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=900
        )
        if done.returncode != 0:
            pytest.fail(
                f"{' '.join(command)} failed ({done.returncode}):\n"
                f"{done.stderr[-2000:]}",
                pytrace=False,
            )
    assert CHROMIUM.exists(), "apt-get installed chromium but not at /usr/bin/chromium"
    return CHROMIUM
