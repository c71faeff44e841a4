"""The connection check's messages: where the address came from, and why it failed."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from stream.errors import BrokerError
from stream.kafka.connection import (
    FROM_LOCAL_BROKER,
    FROM_OPTION,
    LIBRDKAFKA_LOGGER,
    bootstrap_source,
    check_connection,
    quiet_client_logs,
)

UNRESOLVABLE = "broker.scorestream.invalid"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port nothing listens on: bound once, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    yield port


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for var in ("KAFKA_BOOTSTRAP", "SCORESTREAM_BOOTSTRAP"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SCORESTREAM_BROKER_DIR", str(tmp_path))


def _failure(bootstrap: str, source: str | None = None) -> str:
    with pytest.raises(BrokerError) as caught:
        check_connection({"bootstrap.servers": bootstrap}, 2, source=source)
    return str(caught.value)


def _resolver_reason(host: str) -> str:
    with pytest.raises(socket.gaierror) as caught:
        socket.getaddrinfo(host, None)
    return str(caught.value.strerror)


@pytest.mark.usefixtures("clean_env")
def test_an_address_from_the_option_names_the_option(closed_port: int) -> None:
    message = _failure(f"127.0.0.1:{closed_port}", FROM_OPTION)

    # Between the brackets: librdkafka's last word, which depends on timing.
    assert message.startswith(
        f"Kafka at 127.0.0.1:{closed_port} (PLAINTEXT), given with --bootstrap, "
        "did not answer within 2s ("
    )
    assert message.endswith(
        "); check --bootstrap, that the brokers run, and that "
        "KAFKA_SECURITY_PROTOCOL matches the listener"
    )
    assert "KAFKA_BOOTSTRAP" not in message


@pytest.mark.parametrize("var", ["KAFKA_BOOTSTRAP", "SCORESTREAM_BOOTSTRAP"])
@pytest.mark.usefixtures("clean_env")
def test_an_address_from_a_variable_names_the_variable(
    closed_port: int, var: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap = f"127.0.0.1:{closed_port}"
    monkeypatch.setenv(var, bootstrap)

    message = _failure(bootstrap)

    assert message.startswith(
        f"Kafka at {bootstrap} (PLAINTEXT), from {var}, did not answer within 2s ("
    )
    assert message.endswith(
        f"); check {var}, that the brokers run, and that "
        "KAFKA_SECURITY_PROTOCOL matches the listener"
    )


@pytest.mark.usefixtures("clean_env")
def test_the_local_broker_points_to_broker_status(closed_port: int) -> None:
    message = _failure(f"127.0.0.1:{closed_port}", FROM_LOCAL_BROKER)

    assert message.startswith(
        f"Kafka at 127.0.0.1:{closed_port} (PLAINTEXT), the local broker "
        "`scorestream broker start` left running, did not answer within 2s ("
    )
    assert message.endswith(
        "); check it with `scorestream broker status`, or start it again with "
        "`scorestream broker start`"
    )


@pytest.mark.usefixtures("clean_env")
def test_a_name_that_does_not_resolve_is_said_so() -> None:
    reason = _resolver_reason(UNRESOLVABLE)

    message = _failure(f"{UNRESOLVABLE}:9092", FROM_OPTION)

    assert message == (
        f"Kafka at {UNRESOLVABLE}:9092 (PLAINTEXT), given with --bootstrap, cannot "
        f"be reached: the host name {UNRESOLVABLE} ({reason}) does not resolve; "
        "check --bootstrap"
    )


@pytest.mark.usefixtures("clean_env")
def test_only_the_names_that_do_not_resolve_are_listed() -> None:
    reason = _resolver_reason(UNRESOLVABLE)
    other = "other.scorestream.invalid"
    bootstrap = f"127.0.0.1:1,PLAINTEXT://{UNRESOLVABLE}:9092,[{other}]:9093"

    message = _failure(bootstrap, "KAFKA_BOOTSTRAP")

    assert message == (
        f"Kafka at {bootstrap} (PLAINTEXT), from KAFKA_BOOTSTRAP, cannot be "
        f"reached: the host names {UNRESOLVABLE} ({reason}), {other} ({reason}) "
        "do not resolve; check KAFKA_BOOTSTRAP"
    )


@pytest.mark.usefixtures("clean_env")
def test_bootstrap_source_follows_the_resolution_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert bootstrap_source("a:1", given=" a:1 ") == FROM_OPTION
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "a:1")
    assert bootstrap_source("a:1") == "KAFKA_BOOTSTRAP"
    monkeypatch.setenv("SCORESTREAM_BOOTSTRAP", "a:1")
    assert bootstrap_source("a:1") == "SCORESTREAM_BOOTSTRAP"
    assert bootstrap_source("a:1", given="a:1") == FROM_OPTION
    # Found nowhere else, it can only have been given on the command line.
    assert bootstrap_source("b:2") == FROM_OPTION


def test_librdkafka_logs_go_to_debug_not_stderr(
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger=LIBRDKAFKA_LOGGER)
    producer = Producer(
        {"bootstrap.servers": f"127.0.0.1:{closed_port}", **quiet_client_logs()}
    )
    for _ in range(50):
        producer.poll(0.1)
        if caplog.records:
            break
    del producer

    assert caplog.records, "librdkafka logged nothing about the refused connection"
    assert {r.levelno for r in caplog.records} == {logging.DEBUG}
    assert any("Connection refused" in r.getMessage() for r in caplog.records)
    assert "|FAIL|" not in capfd.readouterr().err
