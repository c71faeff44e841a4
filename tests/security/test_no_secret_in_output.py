"""With a Kafka password in the environment, no output of ours ever shows it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stream.kafka.broker import LocalBroker
from stream.kafka.topics import topic_name
from tests.security.conftest import USER

pytestmark = pytest.mark.broker

WRONG_PASSWORD = "wrong-but-still-secret-7Qx"

# Every --help of every command, as the parser is built with this
# environment: a default read from an env var would show up here.
ALL_HELP = textwrap.dedent(
    """
    import argparse
    from stream.cli.main import build_parser

    def show(parser):
        print(parser.format_help())
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    show(sub)

    show(build_parser())
    """
)

# A client as the tools use one: settings from the environment, logged at
# DEBUG, a produce, then the same with a wrong password.
CLIENT = textwrap.dedent(
    """
    import logging, os, sys
    from confluent_kafka import Producer
    from stream.errors import BrokerError
    from stream.kafka.config import faust_broker_settings, kafka_client_config
    from stream.kafka.connection import check_connection

    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    config = kafka_client_config()
    logging.getLogger("test").info("config %s / %r", config, config)
    print(faust_broker_settings(config))
    check_connection(config)
    producer = Producer(config)
    producer.produce(sys.argv[1], b"x")
    assert producer.flush(15) == 0

    os.environ["KAFKA_SASL_PASSWORD"] = sys.argv[2]
    try:
        check_connection(kafka_client_config(), timeout=15)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(3)
    """
)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_password_never_printed(secure_broker: LocalBroker, tmp_path: Path) -> None:
    secret_env = secure_broker.client_env(USER)
    password = secret_env["KAFKA_SASL_PASSWORD"]
    env = {**os.environ, **secret_env}
    cli = ["-m", "stream.cli.main", "--log-level", "DEBUG"]
    data_dir = str(secure_broker.data_dir)

    runs = {
        "help": _run(["-c", ALL_HELP], env),
        "topics create": _run([*cli, "broker", "topics", "create"], env),
        "status": _run([*cli, "broker", "status", "--data-dir", data_dir], env),
        # After `topics create`, so the topic it writes to exists.
        "client": _run(["-c", CLIENT, topic_name("page-visits"), WRONG_PASSWORD], env),
    }

    assert runs["help"].returncode == 0, runs["help"].stderr
    assert "KAFKA_BOOTSTRAP" in runs["help"].stdout, "the help must have been read"
    assert runs["topics create"].returncode == 0, runs["topics create"].stderr
    assert "sasl.password': '***'" in runs["topics create"].stderr
    assert runs["status"].returncode == 0, runs["status"].stderr
    client = runs["client"]
    assert client.returncode == 3, client.stdout + client.stderr
    assert f"user {USER!r}" in client.stderr
    for name, run in runs.items():
        for secret in (password, WRONG_PASSWORD):
            assert secret not in run.stdout, f"{name} printed a password on stdout"
            assert secret not in run.stderr, f"{name} printed a password on stderr"

    # The broker's own logs, including the storage format with --add-scram.
    for log in (secure_broker.data_dir / "logs").iterdir():
        text = log.read_text(errors="replace")
        assert password not in text, f"{log.name} holds a client password"
