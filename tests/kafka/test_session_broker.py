"""The shared session broker: a large round trip and idempotent topic creation."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from stream.errors import BrokerError
from stream.kafka.topics import DEFAULT_PARTITIONS, create_topics, scorestream_topics

pytestmark = pytest.mark.broker


def test_ten_thousand_messages_round_trip(
    kafka_config: dict[str, str], kafka_topics: Callable[..., dict[str, str]]
) -> None:
    topic = kafka_topics()["page-visits"]
    count = 10_000

    producer = Producer({**kafka_config, "linger.ms": 5, "compression.type": "lz4"})
    for i in range(count):
        producer.produce(topic, key=f"c{i % 97}".encode(), value=b"%d" % i)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            **kafka_config,
            "group.id": f"{topic}-reader",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: set[int] = set()
    received = 0
    deadline = time.monotonic() + 60
    try:
        while received < count and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=1.0):
                assert message.error() is None, message.error()
                received += 1
                values.add(int(message.value()))
    finally:
        consumer.close()

    assert received == count
    assert values == set(range(count))


def test_topic_creation_is_idempotent_with_configs(
    kafka_config: dict[str, str], topic_prefix: str
) -> None:
    first = create_topics(kafka_config, topic_prefix)
    second = create_topics(kafka_config, topic_prefix)

    specs = scorestream_topics(topic_prefix)
    assert set(first.values()) == {"created"}
    assert second == {spec.name: "exists" for spec in specs}

    admin = AdminClient(kafka_config)
    metadata = admin.list_topics(timeout=10)
    resources = [ConfigResource("topic", spec.name) for spec in specs]
    described = admin.describe_configs(resources)
    for spec, resource in zip(specs, resources, strict=True):
        assert len(metadata.topics[spec.name].partitions) == DEFAULT_PARTITIONS
        actual = described[resource].result(timeout=10)
        for key, value in spec.config.items():
            assert actual[key].value == value, (spec.name, key)
    models = next(s for s in specs if s.name.endswith("models"))
    assert models.config["cleanup.policy"] == "compact"


def test_partition_count_mismatch_is_reported(
    kafka_config: dict[str, str], topic_prefix: str
) -> None:
    create_topics(kafka_config, topic_prefix, partitions=2)

    with pytest.raises(BrokerError, match="has 2 partitions, expected 4"):
        create_topics(kafka_config, topic_prefix, partitions=4)
