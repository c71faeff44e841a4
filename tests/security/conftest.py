"""One Kafka broker whose only client listener is SASL_SSL, shared by these tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from stream.kafka.broker import LocalBroker
from stream.kafka.secure import SaslUser, SecureListener

USER = "scorer"


@pytest.fixture(scope="session")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A started broker without PLAINTEXT: clients must use TLS and SASL."""
    listener = SecureListener((SaslUser.generate(USER),), plaintext=False)
    broker = LocalBroker(
        tmp_path_factory.getbasetemp() / "secure-broker", secure=listener
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def secure_topic(secure_broker: LocalBroker) -> Callable[[int], str]:
    """Factory: a new topic on the secure broker, created over SASL_SSL."""

    def create(partitions: int = 2) -> str:
        name = f"secure-{uuid.uuid4().hex[:10]}"
        admin = AdminClient(secure_broker.client_config(USER))
        futures = admin.create_topics([NewTopic(name, partitions, 1)])
        futures[name].result(timeout=30)
        return name

    return create
