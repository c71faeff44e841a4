"""Pytest plugin: one real Kafka broker per test session, and per-test topics."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stream.errors import BrokerError
from stream.kafka.broker import KAFKA_VERSION, LocalBroker
from stream.kafka.config import BOOTSTRAP_ENV, kafka_client_config
from stream.kafka.process import free_port
from stream.kafka.topics import TopicSpec, create_topics, scorestream_topics

HOW_TO_GET_A_BROKER = (
    "No Kafka broker for the tests. Either set KAFKA_BOOTSTRAP=host:port to a "
    "running broker, or install Java 17+ and Maven 3.8+ (with access to Maven "
    "Central) so the tests can start a local one, or run a Docker engine."
)


def _docker_answers() -> bool:
    # A missing socket or a stopped engine must cost seconds, not a timeout.
    if os.environ.get("SCORESTREAM_NO_DOCKER"):
        return False
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _start_docker_broker() -> tuple[Any, str] | None:
    """(container, bootstrap) of the official image, or None if it failed."""
    # testcontainers' KafkaContainer only drives Confluent images, so the
    # official image is run directly with a fixed, loopback-only host port
    # that it can advertise.
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    port = free_port()
    container = DockerContainer(f"apache/kafka:{KAFKA_VERSION}").with_bind_ports(
        9092, ("127.0.0.1", port)
    )
    settings = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    }
    for key, value in settings.items():
        container = container.with_env(key, value)
    try:
        container.start()
        wait_for_logs(container, "Kafka Server started", timeout=90)
    except Exception as exc:
        print(f"Docker Kafka failed ({exc}); starting a local broker instead")
        with contextlib.suppress(Exception):
            container.stop()
        return None
    return container, f"127.0.0.1:{port}"


@contextlib.contextmanager
def session_broker(data_dir: Path) -> Iterator[str]:
    """KAFKA_BOOTSTRAP if set, else a Docker broker, else a LocalBroker."""
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external:
        yield external
        return

    docker = _start_docker_broker() if _docker_answers() else None
    if docker is not None:
        container, bootstrap = docker
        try:
            yield bootstrap
        finally:
            container.stop()
        return

    broker = LocalBroker(data_dir)
    try:
        broker.start()
    except BrokerError as exc:
        pytest.fail(f"{HOW_TO_GET_A_BROKER}\nLocal broker error: {exc}", pytrace=False)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a real Kafka broker, shared by the whole session."""
    with session_broker(tmp_path_factory.getbasetemp() / "kafka-broker") as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def kafka_config(kafka_bootstrap: str) -> dict[str, str]:
    """confluent-kafka settings for the session broker."""
    return kafka_client_config(kafka_bootstrap)


@pytest.fixture
def topic_prefix() -> str:
    """A prefix no other test uses, so tests never see each other's data."""
    return f"test-{uuid.uuid4().hex[:10]}."


@pytest.fixture
def kafka_topics(
    kafka_config: dict[str, str], topic_prefix: str
) -> Callable[..., dict[str, str]]:
    """Factory: creates this test's topic set; returns short name -> full name."""

    def create(
        partitions: int = 4, extra: tuple[TopicSpec, ...] = ()
    ) -> dict[str, str]:
        create_topics(kafka_config, topic_prefix, partitions, extra=extra)
        names = [s.name for s in scorestream_topics(topic_prefix, partitions)]
        names += [s.name for s in extra]
        return {name.removeprefix(topic_prefix): name for name in names}

    return create
