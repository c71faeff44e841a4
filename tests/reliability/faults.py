"""Fault helpers: waiting for a worker's log, killing it, timing a kill."""

from __future__ import annotations

import os
import signal
import time

from stream.app.process import WorkerProcess

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
