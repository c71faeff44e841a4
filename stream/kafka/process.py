"""Process and port helpers for the local broker: find, signal, wait."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from stream.errors import BrokerError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def die_with_parent() -> None:
    """Run in the child before exec: the kernel sends SIGTERM when we die."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def is_kafka_process(pid: int, server_properties: Path) -> bool:
    # A pid file can outlive its process and the number be reused, so only a
    # live Kafka JVM started on this data dir's config counts.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if status.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    server = str(server_properties.resolve()).encode()
    return b"kafka.Kafka" in cmdline and server in cmdline


def alive(pid: int, proc: subprocess.Popen[bytes] | None) -> bool:
    if proc is not None:
        return proc.poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def terminate(pid: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    for sig, wait_s in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        if not alive(pid, proc):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while alive(pid, proc) and time.monotonic() < deadline:
            time.sleep(0.1)
        if sig == signal.SIGTERM and alive(pid, proc):
            log.warning(
                "Kafka pid %d ignored SIGTERM for %.0fs; killing it", pid, timeout
            )
    if alive(pid, proc):
        raise BrokerError(f"Kafka pid {pid} is still alive after SIGKILL")


def wait_ports_free(ports: tuple[int, ...], timeout: float) -> bool:
    """True once nothing listens on `ports`; False if something still does.

    Not an error: after a failed start the port may belong to whatever
    process made the start fail.
    """
    deadline = time.monotonic() + timeout
    while any(p and port_in_use(p) for p in ports):
        if time.monotonic() > deadline:
            log.warning("ports %s are still in use after the broker stopped", ports)
            return False
        time.sleep(0.1)
    return True
