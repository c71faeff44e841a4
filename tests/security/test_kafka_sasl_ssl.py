"""Clients over SASL_SSL with PLAIN and SCRAM-SHA-512; rejected logins fail fast."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from stream.errors import BrokerError
from stream.kafka.broker import LocalBroker
from stream.kafka.config import kafka_client_config
from stream.kafka.connection import check_connection
from stream.kafka.tls import ensure_broker_tls
from tests.security.conftest import USER

pytestmark = pytest.mark.broker

MECHANISMS = ["PLAIN", "SCRAM-SHA-512"]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_confluent_round_trip(
    secure_broker: LocalBroker, secure_topic: Callable[[int], str], mechanism: str
) -> None:
    topic = secure_topic(2)
    config = kafka_client_config(env=secure_broker.client_env(USER, mechanism))
    assert config["security.protocol"] == "SASL_SSL"

    producer = Producer(config)
    for i in range(200):
        producer.produce(topic, key=b"k%d" % (i % 9), value=b"%d" % i)
    assert producer.flush(15) == 0

    consumer = Consumer(
        {**config, "group.id": f"{topic}-g", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    seen: list[int] = []
    deadline = time.monotonic() + 30
    try:
        while len(seen) < 200 and time.monotonic() < deadline:
            for message in consumer.consume(200, timeout=0.5):
                assert message.error() is None, message.error()
                seen.append(int(message.value()))
    finally:
        consumer.close()
    assert sorted(seen) == list(range(200))


def test_plaintext_client_gets_no_answer(secure_broker: LocalBroker) -> None:
    started = time.monotonic()

    with pytest.raises(BrokerError, match="KAFKA_SECURITY_PROTOCOL") as caught:
        check_connection({"bootstrap.servers": secure_broker.secure_bootstrap}, 3)

    assert time.monotonic() - started < 8
    assert "(PLAINTEXT)" in str(caught.value)


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("wrong", ["KAFKA_SASL_PASSWORD", "KAFKA_SASL_USERNAME"])
def test_wrong_credentials_fail_fast_and_say_why(
    secure_broker: LocalBroker, mechanism: str, wrong: str
) -> None:
    env = secure_broker.client_env(USER, mechanism)
    real_password = env["KAFKA_SASL_PASSWORD"]
    env[wrong] = "not-the-right-one"
    config = kafka_client_config(env=env)
    started = time.monotonic()

    with pytest.raises(BrokerError) as caught:
        check_connection(config, timeout=30)

    message = str(caught.value)
    assert time.monotonic() - started < 15
    assert f"rejected SASL {mechanism} authentication" in message
    assert f"for user {env['KAFKA_SASL_USERNAME']!r}" in message
    assert real_password not in message
    if wrong == "KAFKA_SASL_PASSWORD":
        assert "not-the-right-one" not in message


def test_untrusted_certificate_names_the_ca_setting(
    secure_broker: LocalBroker, tmp_path: Path
) -> None:
    # A CA made the same way, but not the one that signed this broker.
    other_ca = ensure_broker_tls(tmp_path).ca_file
    env = {**secure_broker.client_env(USER), "KAFKA_SSL_CA_LOCATION": str(other_ca)}

    with pytest.raises(BrokerError, match="KAFKA_SSL_CA_LOCATION") as caught:
        check_connection(kafka_client_config(env=env), timeout=15)

    assert "certificate verify failed" in str(caught.value)


def test_check_connection_passes_with_the_right_login(
    secure_broker: LocalBroker,
) -> None:
    for mechanism in MECHANISMS:
        config = kafka_client_config(env=secure_broker.client_env(USER, mechanism))
        assert check_connection(config, timeout=15) == 1


# Settings come only from the KAFKA_* environment, as in the worker.
FAUST_APP = textwrap.dedent(
    """
    import os, sys
    import faust
    from stream.kafka.config import faust_broker_settings

    topic, datadir = sys.argv[1], sys.argv[2]
    app = faust.App(
        os.environ["APP_ID"],
        **faust_broker_settings(),
        datadir=datadir,
        web_enabled=False,
        web_host="127.0.0.1",
        topic_partitions=2,
        topic_replication_factor=1,
        broker_session_timeout=6.0,
    )
    source = app.topic(topic, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    seen = set()

    @app.agent(source)
    async def collect(stream):
        async for value in stream:
            seen.add(value)

    @app.task
    async def produce():
        for i in range(50):
            await source.send(key=b"k%d" % (i % 5), value=b"%d" % i)

    @app.timer(0.5)
    async def finish():
        if len(seen) >= 50:
            with open(os.path.join(datadir, "seen"), "w") as out:
                out.write(str(len(seen)))
            os._exit(0)

    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()
    """
)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_faust_app_sends_and_receives(
    secure_broker: LocalBroker,
    secure_topic: Callable[[int], str],
    mechanism: str,
    tmp_path: Path,
) -> None:
    topic = secure_topic(2)
    env = {
        **os.environ,
        **secure_broker.client_env(USER, mechanism),
        "APP_ID": f"faust-{uuid.uuid4().hex[:8]}",
    }

    done = subprocess.run(
        [sys.executable, "-c", FAUST_APP, topic, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )

    output = done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode == 0, output
    assert (tmp_path / "seen").read_text() == "50"
    assert env["KAFKA_SASL_PASSWORD"] not in done.stdout + done.stderr
