"""A real single-node Apache Kafka broker (KRaft) on 127.0.0.1 for demo and tests."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from stream.errors import BrokerError
from stream.kafka import brokerfiles, process
from stream.kafka.jars import ensure_jars

log = logging.getLogger(__name__)

# The one pin: deploy/kafka/pom.xml, docker-compose.yml and the test fixture
# follow it (a test checks they agree).
KAFKA_VERSION = "4.4.0"

HOST = process.HOST
DEFAULT_START_TIMEOUT_S = 60.0
DEFAULT_STOP_TIMEOUT_S = 30.0
DEFAULT_HEAP = "512m"
PID_FILE = "broker.pid"
STATE_FILE = "broker.json"


@dataclass(frozen=True)
class BrokerState:
    """What a started broker leaves in its data dir for `status` and `stop`."""

    pid: int
    port: int
    controller_port: int
    version: str

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
    process.wait_ports_free((state.port, state.controller_port), 10.0)
    (folder / PID_FILE).unlink(missing_ok=True)
    return True


class LocalBroker:
    """One KRaft broker+controller JVM whose files all live in `data_dir`.

    The JVM runs in its own session so a Ctrl-C in the terminal reaches only
    Python, which then stops the broker in order. With `stop_with_parent` the
    kernel also sends it SIGTERM if the starting process dies.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        port: int | None = None,
        version: str = KAFKA_VERSION,
        *,
        controller_port: int | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT_S,
        heap: str = DEFAULT_HEAP,
        stop_with_parent: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.version = version
        self.start_timeout = start_timeout
        self.heap = heap
        self.stop_with_parent = stop_with_parent
        self._wanted_port = port
        self._wanted_controller_port = controller_port
        self.port = 0
        self.controller_port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        if not self.port:
            raise BrokerError("the broker has not been started; call start() first")
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def server_log(self) -> Path:
        return self.data_dir / "logs" / "server.log"

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> str:
        """Starts the JVM and waits until it answers metadata; returns bootstrap."""
        if self._proc is not None and self._proc.poll() is None:
            return self.bootstrap
        started = time.monotonic()
        lib = ensure_jars(self.version)
        java = shutil.which("java")
        if java is None:
            raise BrokerError("`java` is not on PATH; Kafka needs Java 17 or newer")

        self._prepare_data_dir()
        self._choose_ports()
        files = brokerfiles.write_config(
            self.data_dir, HOST, self.port, self.controller_port
        )
        cluster_id = self._cluster_id()
        if not (files.log_dirs / "meta.properties").is_file():
            self._format(java, lib, files, cluster_id)

        self._launch(java, lib, files)
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        log.info(
            "Kafka %s ready at %s in %.1fs (data in %s)",
            self.version,
            self.bootstrap,
            time.monotonic() - started,
            self.data_dir,
        )
        return self.bootstrap

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        """SIGTERM, wait up to `timeout`, then SIGKILL; returns once ports free."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        was_running = proc.poll() is None
        process.terminate(proc.pid, proc, timeout)
        (self.data_dir / PID_FILE).unlink(missing_ok=True)
        if was_running:
            process.wait_ports_free((self.port, self.controller_port), 5.0)
        log.info("Kafka broker at %s:%d stopped", HOST, self.port)

    def _prepare_data_dir(self) -> None:
        try:
            (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise BrokerError(
                f"cannot use {self.data_dir} as the broker data dir: {exc}; "
                "pass a writable folder (--data-dir)"
            ) from None
        running = read_state(self.data_dir)
        if running is not None:
            raise BrokerError(
                f"a broker already runs from {self.data_dir} at {running.bootstrap} "
                f"(pid {running.pid}); use it, or stop it with "
                f"`scorestream broker stop --data-dir {self.data_dir}`"
            )

    def _choose_ports(self) -> None:
        # Reusing the last ports keeps the bootstrap address stable across
        # restarts of the same data dir when the caller did not pick one.
        last = _last_ports(self.data_dir)
        self.port = self._wanted_port or _reuse_or_new(last[0])
        self.controller_port = self._wanted_controller_port or _reuse_or_new(
            last[1], avoid=self.port
        )
        if self.controller_port == self.port:
            raise BrokerError(f"broker and controller ports are both {self.port}")

    def _cluster_id(self) -> str:
        path = self.data_dir / "cluster.id"
        if path.is_file():
            return path.read_text().strip()
        # Kafka's own ids never start with "-", which its CLI would read as a flag.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            raw = uuid.uuid4().bytes
            cluster_id = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        path.write_text(cluster_id + "\n")
        return cluster_id

    def _format(
        self, java: str, lib: Path, files: brokerfiles.ConfigFiles, cluster_id: str
    ) -> None:
        cmd = [
            java,
            f"-Dlog4j2.configurationFile={files.log4j}",
            "-cp",
            f"{lib}/*",
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster_id,
            "--config",
            str(files.server),
            "--standalone",
        ]
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=120, check=False
        )
        output = (done.stdout + done.stderr).strip()
        (self.data_dir / "logs" / "format.log").write_text(output + "\n")
        if done.returncode != 0:
            raise BrokerError(
                f"formatting the broker storage in {files.log_dirs} failed "
                f"(exit {done.returncode}):\n{_tail_text(output)}"
            )

    def _launch(self, java: str, lib: Path, files: brokerfiles.ConfigFiles) -> None:
        cmd = [
            java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={files.log4j}",
            f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            "-cp",
            f"{lib}/*",
            "kafka.Kafka",
            str(files.server),
        ]
        console = open(self.data_dir / "logs" / "console.log", "ab")  # noqa: SIM115
        with console:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=process.die_with_parent if self.stop_with_parent else None,
                cwd=self.data_dir,
            )
        (self.data_dir / PID_FILE).write_text(f"{self._proc.pid}\n")
        state = BrokerState(
            self._proc.pid, self.port, self.controller_port, self.version
        )
        (self.data_dir / STATE_FILE).write_text(json.dumps(asdict(state), indent=2))

    def _wait_ready(self, started: float) -> None:
        deadline = started + self.start_timeout
        proc = self._proc
        assert proc is not None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise self._start_error(
                    f"the Kafka JVM exited with code {proc.returncode}"
                )
            # The admin client logs every refused connection, so wait for the
            # socket first and ask for metadata only once something listens.
            if process.port_in_use(self.port) and _metadata_ok(
                self.bootstrap, min(5.0, deadline - time.monotonic())
            ):
                return
            time.sleep(0.2)
        raise self._start_error(
            f"Kafka did not answer a metadata request within {self.start_timeout:.0f}s"
        )

    def _start_error(self, what: str) -> BrokerError:
        hints = [
            f"port {HOST}:{port} is already used by another process"
            for port in (self.port, self.controller_port)
            if self._proc is not None
            and self._proc.poll() is not None
            and process.port_in_use(port)
        ]
        hint = "".join(f"\nlikely cause: {h}" for h in hints)
        return BrokerError(
            f"{what} (data dir {self.data_dir}).{hint}\n"
            f"last lines of {self.server_log}:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 25) -> str:
        """The errors and last lines of the broker log, and JVM console output."""
        parts = []
        for path in (self.server_log, self.data_dir / "logs" / "console.log"):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").strip()
                if text:
                    parts.append(f"--- {path.name}\n{_tail_text(text, lines)}")
        errors = _error_lines(self.server_log)
        if errors:
            parts.insert(0, "--- errors in server.log\n" + "\n".join(errors))
        return "\n".join(parts) or "(the broker wrote no log)"


def _error_lines(path: Path, limit: int = 12) -> list[str]:
    # Shutdown chatter after a fatal error buries the cause, so the error and
    # its "Caused by" chain are shown first.
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    wanted = (" ERROR ", " FATAL ", "Caused by:")
    found = [line for line in text.splitlines() if any(w in line for w in wanted)]
    return found[:limit]


def _tail_text(text: str, lines: int = 40) -> str:
    # Java stack frames push the one line that names the cause out of view.
    kept = [
        line
        for line in text.splitlines()
        if not line.startswith("\tat ") and not line.lstrip().startswith("... ")
    ]
    return "\n".join(kept[-lines:])


def _metadata_ok(bootstrap: str, timeout: float) -> bool:
    from confluent_kafka.admin import AdminClient

    if timeout <= 0:
        return False
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except Exception:  # any failure here just means "not yet"
        return False
    return bool(metadata.brokers)


def _last_ports(data_dir: Path) -> tuple[int | None, int | None]:
    try:
        raw = json.loads((data_dir / STATE_FILE).read_text())
        return int(raw["port"]), int(raw["controller_port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def _reuse_or_new(last: int | None, avoid: int = 0) -> int:
    if last and last != avoid and not process.port_in_use(last):
        return last
    port = process.free_port()
    while port == avoid:
        port = process.free_port()
    return port
