"""A real single-node Apache Kafka broker (KRaft) on 127.0.0.1 for demo and tests."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from types import TracebackType

from stream.errors import BrokerError
from stream.kafka import brokerfiles, process
from stream.kafka.brokerstate import (
    DEFAULT_STOP_TIMEOUT_S,
    PID_FILE,
    STATE_FILE,
    BrokerState,
    last_ports,
    log_tail,
    read_state,
    reuse_or_new,
    stop_broker,
    tail_text,
)
from stream.kafka.jars import ensure_jars
from stream.kafka.secure import (
    BROKER_USER,
    PLAIN,
    SCRAM,
    SaslUser,
    SecureListener,
    client_env,
    format_args,
    server_settings,
    upsert_scram_users,
)
from stream.kafka.tls import BrokerTls, ensure_broker_tls

__all__ = [
    "KAFKA_VERSION",
    "PID_FILE",
    "STATE_FILE",
    "BrokerState",
    "LocalBroker",
    "read_state",
    "stop_broker",
]

log = logging.getLogger(__name__)

# The one pin: deploy/kafka/pom.xml, docker-compose.yml and the test fixture
# follow it (a test checks they agree).
KAFKA_VERSION = "4.4.0"

HOST = process.HOST
DEFAULT_START_TIMEOUT_S = 60.0
DEFAULT_HEAP = "512m"


class LocalBroker:
    """One KRaft broker+controller JVM whose files all live in `data_dir`.

    The JVM runs in its own session so a Ctrl-C in the terminal reaches only
    Python, which then stops the broker in order. With `stop_with_parent` the
    kernel also sends it SIGTERM if the starting process dies. With `secure`
    it also (or only) listens for SASL_SSL clients; see `client_config`.
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
        secure: SecureListener | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.version = version
        self.start_timeout = start_timeout
        self.heap = heap
        self.stop_with_parent = stop_with_parent
        self._wanted_port = port
        self._wanted_controller_port = controller_port
        self.secure = secure
        self.port = 0
        self.secure_port = 0
        self.controller_port = 0
        self.tls: BrokerTls | None = None
        self._broker_password = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        if not self.port:
            raise BrokerError("the broker has not been started; call start() first")
        return f"{HOST}:{self.port}"

    @property
    def secure_bootstrap(self) -> str:
        """host:port of the SASL_SSL listener."""
        if self.secure is None:
            raise BrokerError("this broker has no SASL_SSL listener (pass secure=)")
        if not self.secure_port:
            raise BrokerError("the broker has not been started; call start() first")
        return f"{HOST}:{self.secure_port}"

    def client_env(self, user: str, mechanism: str = SCRAM) -> dict[str, str]:
        """KAFKA_* variables for `user` on the SASL_SSL listener (with password)."""
        if self.secure is None or self.tls is None:
            raise BrokerError("this broker has no SASL_SSL listener (pass secure=)")
        return client_env(
            self.secure_bootstrap, self.tls.ca_file, self.secure.user(user), mechanism
        )

    def client_config(
        self, user: str | None = None, mechanism: str = SCRAM
    ) -> dict[str, str]:
        """confluent-kafka settings: PLAINTEXT, or SASL_SSL as `user`."""
        from stream.kafka.config import kafka_client_config

        if user is None:
            if self.secure is not None and not self.secure.plaintext:
                raise BrokerError("this broker listens only for SASL_SSL; name a user")
            return kafka_client_config(self.bootstrap, env={})
        return kafka_client_config(env=self.client_env(user, mechanism))

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
        files = self._write_config()
        cluster_id = self._cluster_id()
        fresh = not (files.log_dirs / "meta.properties").is_file()
        if fresh:
            self._format(java, lib, files, cluster_id)

        self._launch(java, lib, files)
        try:
            self._wait_ready(started)
            if self.secure is not None and not fresh:
                # Users added since the storage was formatted exist only in
                # the JAAS file so far; SCRAM needs them in the metadata.
                upsert_scram_users(self._admin_config(), self.secure.users)
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
            process.wait_ports_free(
                (self.port, self.secure_port, self.controller_port), 5.0
            )
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
        last = last_ports(self.data_dir)
        secure = self.secure
        if secure is None or secure.plaintext:
            self.port = self._wanted_port or reuse_or_new(last[0])
        self.secure_port = 0
        if secure is not None:
            self.secure_port = secure.port or reuse_or_new(last[2], avoid=self.port)
            self.port = self.port or self.secure_port
        self.controller_port = self._wanted_controller_port or reuse_or_new(
            last[1], avoid=self.port, also=self.secure_port
        )
        used = [self.port, self.controller_port]
        if self.secure_port != self.port:
            used.append(self.secure_port)
        if len(set(used)) != len(used):
            raise BrokerError(f"the broker's listeners share a port: {used}")

    def _write_config(self) -> brokerfiles.ConfigFiles:
        if self.secure is None:
            return brokerfiles.write_config(
                self.data_dir, HOST, self.port, self.controller_port
            )
        self.tls = ensure_broker_tls(self.data_dir)
        self._broker_password = secrets.token_urlsafe(24)
        return brokerfiles.write_config(
            self.data_dir,
            HOST,
            self.port if self.secure.plaintext else 0,
            self.controller_port,
            secure_port=self.secure_port,
            secure_settings=server_settings(
                self.secure, self.tls, self._broker_password
            ),
        )

    def _admin_config(self) -> dict[str, str]:
        """Settings for our own admin calls: the broker's user over SASL_SSL."""
        assert self.tls is not None
        user = SaslUser(BROKER_USER, self._broker_password)
        env = client_env(self.secure_bootstrap, self.tls.ca_file, user, PLAIN)
        from stream.kafka.config import kafka_client_config

        return kafka_client_config(env=env)

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
        if self.secure is not None:
            cmd += format_args(self.secure.users)
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=120, check=False
        )
        output = (done.stdout + done.stderr).strip()
        if self.secure is not None:
            # The tool may echo its arguments when it rejects them.
            for user in self.secure.users:
                output = output.replace(user.password, "***")
        (self.data_dir / "logs" / "format.log").write_text(output + "\n")
        if done.returncode != 0:
            raise BrokerError(
                f"formatting the broker storage in {files.log_dirs} failed "
                f"(exit {done.returncode}):\n{tail_text(output)}"
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
            self._proc.pid,
            self.port,
            self.controller_port,
            self.version,
            self.secure_port,
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
            if all(process.port_in_use(p) for p in (self.port, self.secure_port) if p):
                left = min(5.0, deadline - time.monotonic())
                if all(_metadata_ok(c, left) for c in self._readiness_configs()):
                    return
            time.sleep(0.2)
        raise self._start_error(
            f"Kafka did not answer a metadata request within {self.start_timeout:.0f}s"
        )

    def _readiness_configs(self) -> list[dict[str, str]]:
        configs = []
        if self.secure is None or self.secure.plaintext:
            configs.append({"bootstrap.servers": self.bootstrap})
        if self.secure is not None:
            configs.append(self._admin_config())
        return configs

    def _start_error(self, what: str) -> BrokerError:
        hints = [
            f"port {HOST}:{port} is already used by another process"
            for port in {self.port, self.secure_port, self.controller_port}
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
        return log_tail(self.data_dir, lines)


def _metadata_ok(config: dict[str, str], timeout: float) -> bool:
    from confluent_kafka.admin import AdminClient

    if timeout <= 0:
        return False
    admin = AdminClient({**config, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except Exception:  # any failure here just means "not yet"
        return False
    return bool(metadata.brokers)
