"""exactly_once is refused up front, with the reason and what to use instead.

Faust's exactly_once wraps each input partition's sends in a transaction of
its own producer. The worker scores a batch across partitions and sends its
changes, dead letters and changelog records itself, outside those
transactions, and a Faust task sending outside an agent was seen to hang
under exactly_once. Until batches are published transactionally, the
worker runs at-least-once with idempotent state (see test_crash).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from stream.app.process import settings_env
from stream.app.settings import Settings

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(60)]


def test_settings_refuse_exactly_once_and_say_why() -> None:
    with pytest.raises(ValueError) as caught:
        Settings(processing_guarantee="exactly_once")
    text = str(caught.value)
    assert "not supported" in text and "at_least_once" in text
    assert "(contact_id, model_id, seq)" in text


def test_worker_started_with_exactly_once_exits_with_the_message(
    tmp_path: Path, worker_settings: Callable[..., Settings]
) -> None:
    settings = worker_settings()
    # The guarantee comes from the environment, as a deployment would set it.
    env = {**os.environ, **settings_env(settings)}
    env["SCORESTREAM_PROCESSING_GUARANTEE"] = "exactly_once"
    done = subprocess.run(
        [sys.executable, "-m", "stream.app.worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "'exactly_once' is not supported yet" in output, output[-2000:]
    assert not (tmp_path / "worker").exists()
