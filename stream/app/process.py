"""The stream worker as a child process: start, stop, and read its totals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream.app.settings import ENV, Settings
from stream.kafka.process import die_with_parent

TOTALS_MARKER = "worker stopped; totals "


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables that reproduce `settings` in a child."""
    out = {}
    for name, var in ENV.items():
        out[var] = str(getattr(settings, name))
    return out


@dataclass
class WorkerProcess:
    """`python -m stream.app.worker` running with `settings`, logging to `log`."""

    proc: subprocess.Popen[bytes]
    log: Path
    settings: Settings

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def totals(self) -> dict[str, Any] | None:
        """What the worker logged on a clean stop; None if it did not."""
        return read_totals(self.log)


def spawn_worker(
    settings: Settings, log: Path, *, own_session: bool = True
) -> WorkerProcess:
    """Start a worker; it gets SIGTERM if this process dies first.

    In its own session a Ctrl-C in the terminal reaches only the caller,
    which can then stop the worker in order.
    """
    env = dict(os.environ)
    env.update(settings_env(settings))
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stream.app.worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=own_session,
            preexec_fn=die_with_parent,
        )
    return WorkerProcess(proc, log, settings)


def read_totals(log: Path) -> dict[str, Any] | None:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return None
    for line in reversed(text.splitlines()):
        if TOTALS_MARKER in line:
            totals: dict[str, Any] = json.loads(line.split(TOTALS_MARKER, 1)[1])
            return totals
    return None
