"""LocalBroker lifecycle: stop leaves nothing behind, restart keeps data, failures."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from stream.errors import BrokerError
from stream.kafka.broker import PID_FILE, LocalBroker, read_state
from stream.kafka.config import ensure_broker
from stream.kafka.process import port_in_use
from stream.kafka.topics import create_topics, topic_name
from tests.broker_fixture import session_broker

pytestmark = pytest.mark.broker


def _pid_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _read_all(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while len(values) < expected and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=0.5):
                assert message.error() is None, message.error()
                values.append(message.value())
    finally:
        consumer.close()
    return values


def test_stop_frees_everything_and_restart_keeps_messages(tmp_path: Path) -> None:
    data_dir = tmp_path / "broker"
    broker = LocalBroker(data_dir)
    broker.start()
    pid, ports = broker.pid, (broker.port, broker.controller_port)
    assert pid is not None
    assert int((data_dir / PID_FILE).read_text()) == pid
    assert os.getpgid(pid) == pid, "the JVM must lead its own process group"

    config = {"bootstrap.servers": broker.bootstrap}
    create_topics(config, "life.", partitions=2)
    topic = topic_name("page-visits", "life.")
    producer = Producer(config)
    for i in range(100):
        producer.produce(topic, key=b"k%d" % i, value=b"%d" % i)
    assert producer.flush(20) == 0

    broker.stop()
    assert _pid_gone(pid)
    assert not any(port_in_use(p) for p in ports)
    assert not (data_dir / PID_FILE).exists()
    assert read_state(data_dir) is None

    with LocalBroker(data_dir) as again:
        assert again.port == ports[0], "a restart reuses the last free port"
        values = _read_all(again.bootstrap, topic, 100)
    assert sorted(int(v) for v in values) == list(range(100))


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_port_taken_fails_fast_with_log_tail(tmp_path: Path, taken_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(BrokerError) as failure:
        LocalBroker(tmp_path / "broker", port=taken_port, start_timeout=45).start()

    message = str(failure.value)
    assert time.monotonic() - started < 30
    assert f"port 127.0.0.1:{taken_port} is already used" in message
    assert "Address already in use" in message
    assert "server.log" in message
    assert read_state(tmp_path / "broker") is None


def test_data_dir_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")

    with pytest.raises(BrokerError, match=r"cannot use .* as the broker data dir"):
        LocalBroker(not_a_folder / "broker").start()


def test_corrupt_storage_fails_fast_with_log_tail(tmp_path: Path) -> None:
    data_dir = tmp_path / "broker"
    (data_dir / "kafka-data").mkdir(parents=True)
    (data_dir / "kafka-data" / "meta.properties").write_text("garbage\n")

    started = time.monotonic()
    with pytest.raises(BrokerError) as failure:
        LocalBroker(data_dir, start_timeout=45).start()

    assert time.monotonic() - started < 30
    message = str(failure.value)
    assert "exited with code" in message
    assert "Exiting Kafka" in message


def test_ensure_broker_uses_kafka_bootstrap_without_starting_one(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", kafka_bootstrap)
    unused = tmp_path / "unused"

    with ensure_broker(unused) as bootstrap:
        assert bootstrap == kafka_bootstrap
        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
        assert metadata.brokers

    assert not unused.exists(), "no second broker may be started"


def test_session_fixture_prefers_kafka_bootstrap(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", kafka_bootstrap)

    with session_broker(tmp_path / "unused") as bootstrap:
        assert bootstrap == kafka_bootstrap

    assert not (tmp_path / "unused").exists()


def test_ensure_broker_starts_and_stops_a_local_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)

    with ensure_broker(tmp_path / "own") as bootstrap:
        state = read_state(tmp_path / "own")
        assert state is not None and state.bootstrap == bootstrap

    assert read_state(tmp_path / "own") is None
    assert _pid_gone(state.pid)
