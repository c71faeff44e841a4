"""Fault helpers: waiting for a worker's log, killing it, timing a kill."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping

from stream.app.app import faust_id
from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from stream.kafka import topics

# Faust logs this once recovery is over and input is being consumed.
READY = "Worker ready"


def log_size(worker: WorkerProcess) -> int:
    return worker.log.stat().st_size if worker.log.exists() else 0


def wait_log(
    worker: WorkerProcess, text: str, *, start: int = 0, timeout: float = 60.0
) -> None:
    """Until `text` shows in the worker's log past byte `start`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.log.exists():
            with worker.log.open("rb") as log:
                log.seek(start)
                if text.encode() in log.read():
                    return
        if not worker.running():
            raise AssertionError(
                f"worker exited ({worker.proc.returncode}) before logging "
                f"{text!r}:\n{worker.log_tail()}"
            )
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} in {timeout} s:\n{worker.log_tail()}")


def kill9(worker: WorkerProcess) -> None:
    """SIGKILL: no shutdown code of the worker runs, as in a power cut."""
    os.kill(worker.pid, signal.SIGKILL)
    worker.proc.wait(10)


def lag_by_partition(
    config: Mapping[str, str], settings: Settings
) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) -> (committed, end) where the group is behind."""
    from confluent_kafka import Consumer, TopicPartition

    names = [topics.topic_name(t, settings.topic_prefix) for t in topics.INPUT_TOPICS]
    tps = [TopicPartition(n, p) for n in names for p in range(settings.partitions)]
    probe = Consumer({**config, "group.id": faust_id(settings)})
    try:
        out = {}
        for tp in probe.committed(tps, timeout=10):
            _, high = probe.get_watermark_offsets(tp, timeout=10)
            if high > max(tp.offset, 0):
                out[(tp.topic, tp.partition)] = (tp.offset, high)
        return out
    finally:
        probe.close()


def wait_group_consumed(
    config: Mapping[str, str],
    settings: Settings,
    workers: list[WorkerProcess],
    timeout: float = 120.0,
) -> None:
    """Until the group committed every input; on timeout, says where it stuck."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not lag_by_partition(config, settings):
            return
        for worker in workers:
            assert worker.running(), worker.log_tail()
        time.sleep(0.5)
    raise AssertionError(
        f"inputs not committed after {timeout} s: {lag_by_partition(config, settings)}"
    )
