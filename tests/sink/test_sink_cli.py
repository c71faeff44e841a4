"""`scorestream sink crm` start-up failures: one prefixed sentence, no client noise."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream.cli import sink_cmd
from stream.cli.main import main
from stream.errors import BrokerError
from stream.sink.rejected import ensure_rejected_topic


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port nothing listens on: bound once, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    yield port


@pytest.fixture
def no_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An environment that names no broker and has no local one running."""
    for var in ("KAFKA_BOOTSTRAP", "SCORESTREAM_BOOTSTRAP"):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "broker"
    monkeypatch.setenv("SCORESTREAM_BROKER_DIR", str(folder))
    return folder


@pytest.mark.usefixtures("no_broker")
def test_an_unreachable_broker_is_one_sentence_naming_the_address(
    closed_port: int,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sink_cmd, "CONNECT_TIMEOUT_S", 2.0)
    bootstrap = f"127.0.0.1:{closed_port}"

    code = main(
        [
            *("sink", "crm", "--bootstrap", bootstrap),
            *("--target", "print", "--max-seconds", "5"),
        ]
    )

    err = capfd.readouterr().err
    assert code == 1
    assert len(err.splitlines()) == 1, err
    assert err.startswith(
        f"scorestream sink: Kafka at {bootstrap} (PLAINTEXT), given with "
        "--bootstrap, did not answer within 2s ("
    )
    assert err.endswith(
        "); check --bootstrap, that the brokers run, and that "
        "KAFKA_SECURITY_PROTOCOL matches the listener\n"
    )


def test_no_broker_at_all_is_prefixed_and_says_how_to_get_one(
    no_broker: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sink", "crm", "--target", "print"])

    assert code == 2
    assert capsys.readouterr().err == (
        "scorestream sink: no Kafka broker: set KAFKA_BOOTSTRAP=host:port, pass "
        "--bootstrap, or start the local one with `scorestream broker start` "
        f"(looked for a running broker in {no_broker})\n"
    )


def test_bootstrap_help_names_the_local_broker_like_other_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["sink", "crm", "--help"])

    text = " ".join(capsys.readouterr().out.split())
    start = text.index("--bootstrap BOOTSTRAP Kafka")
    option = text[start : text.index(" --topic-prefix TOPIC_PREFIX", start)]
    assert option == (
        "--bootstrap BOOTSTRAP Kafka bootstrap servers, host:port[,host:port] (env "
        "SCORESTREAM_BOOTSTRAP, else KAFKA_BOOTSTRAP, else the local broker "
        "`scorestream broker start` left running)"
    )


def test_topic_creation_without_an_answer_is_a_broker_error(closed_port: int) -> None:
    bootstrap = f"127.0.0.1:{closed_port}"

    with pytest.raises(BrokerError) as caught:
        ensure_rejected_topic({"bootstrap.servers": bootstrap}, "t.", timeout=1)

    assert str(caught.value) == (
        f"cannot create topic t.crm-rejected: Kafka at {bootstrap} did not answer "
        "within 1 s; check that the broker runs (`scorestream broker status`) and "
        "--bootstrap names it"
    )
