"""LocalBroker with PLAINTEXT and SASL_SSL side by side; users and TLS files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from stream.errors import BrokerError
from stream.kafka.broker import LocalBroker, read_state
from stream.kafka.connection import check_connection
from stream.kafka.process import port_in_use
from stream.kafka.secure import SaslUser, SecureListener
from stream.kafka.tls import CA_CERT

ALICE = SaslUser("alice", "alice-password-1")
BOB = SaslUser("bob", "bob-password-22")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.broker
def test_both_listeners_then_a_user_added_on_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "broker"
    broker = LocalBroker(data_dir, secure=SecureListener((ALICE,)))
    broker.start()
    try:
        assert broker.port != broker.secure_port
        assert AdminClient(broker.client_config()).list_topics(timeout=10).brokers
        for mechanism in ("PLAIN", "SCRAM-SHA-512"):
            assert check_connection(broker.client_config("alice", mechanism), 15) == 1
        state = read_state(data_dir)
        assert state is not None and state.secure_port == broker.secure_port
        assert _mode(data_dir / "server.properties") == 0o600
        assert _mode(data_dir / "tls" / "server.p12") == 0o600
        assert _mode(data_dir / "tls") == 0o700
        ca_before = (data_dir / "tls" / CA_CERT).read_bytes()
    finally:
        broker.stop()
    assert not port_in_use(broker.secure_port)

    # The storage is formatted already, so bob's SCRAM login must come from
    # the credentials stored after start, not from the format step.
    again = LocalBroker(data_dir, secure=SecureListener((ALICE, BOB)))
    again.start()
    try:
        assert again.secure_port == broker.secure_port, "the address stays stable"
        assert (data_dir / "tls" / CA_CERT).read_bytes() == ca_before
        assert check_connection(again.client_config("bob", "SCRAM-SHA-512"), 15) == 1
        assert check_connection(again.client_config("alice", "SCRAM-SHA-512"), 15)
    finally:
        again.stop()


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("al ice", "long-enough-1"),
        ("-x", "long-enough-1"),
        ("bob", "short"),
        ("bob", 'has"quote-in-it'),
        ("bob", "semi;colon-here"),
    ],
)
def test_user_names_and_passwords_that_would_break_the_config(
    name: str, password: str
) -> None:
    with pytest.raises(BrokerError) as caught:
        SaslUser(name, password)

    assert password not in str(caught.value)


def test_listener_rejects_duplicate_and_reserved_users() -> None:
    with pytest.raises(BrokerError, match="distinct"):
        SecureListener((ALICE, SaslUser("alice", "other-password-3")))
    with pytest.raises(BrokerError, match="scorestream-broker"):
        SecureListener((SaslUser("scorestream-broker", "any-password-4"),))


def test_secure_only_broker_needs_a_user(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path, secure=SecureListener((ALICE,), plaintext=False))

    with pytest.raises(BrokerError, match="only for SASL_SSL"):
        broker.client_config()
    assert "alice-password-1" not in repr(ALICE)
