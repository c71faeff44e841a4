"""What a started local broker leaves in its data dir: pid, ports, logs."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from stream.kafka import brokerfiles, process

HOST = process.HOST
DEFAULT_STOP_TIMEOUT_S = 30.0

PID_FILE = "broker.pid"
STATE_FILE = "broker.json"


@dataclass(frozen=True)
class BrokerState:
    """What a started broker leaves in its data dir for `status` and `stop`."""

    pid: int
    port: int
    controller_port: int
    version: str
    secure_port: int = 0

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"


def read_state(data_dir: str | os.PathLike[str]) -> BrokerState | None:
    """The state of the broker last started in `data_dir`, if it still runs."""
    folder = Path(data_dir)
    try:
        raw = json.loads((folder / STATE_FILE).read_text())
        pid = int((folder / PID_FILE).read_text().strip())
        state = BrokerState(
            pid=pid,
            port=int(raw["port"]),
            controller_port=int(raw["controller_port"]),
            version=str(raw["version"]),
            secure_port=int(raw.get("secure_port", 0)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (
        state
        if process.is_kafka_process(pid, folder / brokerfiles.SERVER_PROPERTIES)
        else None
    )


def stop_broker(
    data_dir: str | os.PathLike[str], timeout: float = DEFAULT_STOP_TIMEOUT_S
) -> bool:
    """Stops the broker recorded in `data_dir`; False if none was running."""
    folder = Path(data_dir)
    state = read_state(folder)
    if state is None:
        (folder / PID_FILE).unlink(missing_ok=True)
        return False
    process.terminate(state.pid, None, timeout)
    process.wait_ports_free(
        (state.port, state.secure_port, state.controller_port), 10.0
    )
    (folder / PID_FILE).unlink(missing_ok=True)
    return True


def last_ports(data_dir: Path) -> tuple[int | None, int | None, int | None]:
    """(client, controller, SASL_SSL) ports of the last start, where known."""
    try:
        raw = json.loads((data_dir / STATE_FILE).read_text())
        secure = int(raw.get("secure_port", 0)) or None
        return int(raw["port"]), int(raw["controller_port"]), secure
    except (OSError, ValueError, KeyError, TypeError):
        return None, None, None


def reuse_or_new(last: int | None, avoid: int = 0, also: int = 0) -> int:
    """`last` if it is still free, else any free port other than `avoid`/`also`."""
    taken = {avoid, also}
    if last and last not in taken and not process.port_in_use(last):
        return last
    port = process.free_port()
    for _ in range(100):
        if port not in taken:
            break
        port = process.free_port()
    return port


def log_tail(data_dir: Path, lines: int = 25) -> str:
    """The errors and last lines of the broker log, and JVM console output."""
    server_log = data_dir / "logs" / "server.log"
    parts = []
    for path in (server_log, data_dir / "logs" / "console.log"):
        with contextlib.suppress(OSError):
            text = path.read_text(errors="replace").strip()
            if text:
                parts.append(f"--- {path.name}\n{tail_text(text, lines)}")
    errors = error_lines(server_log)
    if errors:
        parts.insert(0, "--- errors in server.log\n" + "\n".join(errors))
    return "\n".join(parts) or "(the broker wrote no log)"


def error_lines(path: Path, limit: int = 12) -> list[str]:
    # Shutdown chatter after a fatal error buries the cause, so the error and
    # its "Caused by" chain are shown first.
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    wanted = (" ERROR ", " FATAL ", "Caused by:")
    found = [line for line in text.splitlines() if any(w in line for w in wanted)]
    return found[:limit]


def tail_text(text: str, lines: int = 40) -> str:
    # Java stack frames push the one line that names the cause out of view.
    kept = [
        line
        for line in text.splitlines()
        if not line.startswith("\tat ") and not line.lstrip().startswith("... ")
    ]
    return "\n".join(kept[-lines:])
