"""The models topic: one JSON model document per message, keyed by model id.

The topic is compacted, so it keeps the latest document of every model id;
an empty value (a tombstone) removes the model. `scorestream model` writes
it, and every worker reads all of it (no consumer group: each worker needs
every model, not a share of the partitions).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stream import jsonutil
from stream.errors import BrokerError, InputError, ModelError, Problem
from stream.model.dump import model_document
from stream.model.load import parse_model
from stream.model.types import Model

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TopicModels:
    """The topic read to its end: latest model per id, where each partition ended."""

    models: dict[str, Model | None] = field(default_factory=dict)
    ends: dict[int, int] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)


def encode(model: Model) -> tuple[bytes, bytes]:
    """(key, value) of the message that publishes `model`."""
    return model.id.encode(), jsonutil.dumps(model_document(model))


def decode(key: bytes | None, value: bytes | None, where: str) -> Model | None:
    """The model in one message; None for a tombstone. Raises ModelError."""
    if not value:
        return None
    try:
        data = jsonutil.loads(value)
    except InputError as exc:
        raise ModelError([Problem(where, "", exc.detail)]) from None
    model = parse_model(data, where)
    if key is not None and key.decode("utf-8", "replace") != model.id:
        raise ModelError(
            [Problem(where, "id", f"model id {model.id!r} under key {key!r}")]
        )
    return model


def read_topic(
    client_config: Mapping[str, str], topic: str, *, timeout_s: float = 30.0
) -> TopicModels:
    """Everything in the models topic, up to the end offsets seen at the start."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer: Any = Consumer(
        {
            **client_config,
            "group.id": f"scorestream-models-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": "false",
            "auto.offset.reset": "earliest",
        }
    )
    out = TopicModels()
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=timeout_s)
        except KafkaException as exc:
            raise BrokerError(f"cannot read topic {topic}: {exc}") from None
        info = metadata.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            raise BrokerError(
                f"topic {topic} does not exist; create it with "
                "`scorestream broker topics create` (or with your own tooling)"
            )
        wanted: dict[int, int] = {}
        for partition in sorted(info.partitions):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s
            )
            out.ends[partition] = high
            if high > low:
                wanted[partition] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in wanted])
        deadline = time.monotonic() + timeout_s
        while wanted and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.2):
                if msg.error() is not None:
                    continue
                partition, offset = msg.partition(), msg.offset()
                _take(out, msg.key(), msg.value(), f"{topic}[{partition}]@{offset}")
                if partition in wanted and offset + 1 >= wanted[partition]:
                    del wanted[partition]
        if wanted:
            raise BrokerError(
                f"reading {topic}: partitions {sorted(wanted)} not read to their "
                f"end within {timeout_s:.0f} s"
            )
    finally:
        consumer.close()
    return out


def _take(out: TopicModels, key: bytes | None, value: bytes | None, where: str) -> None:
    model_id = (key or b"").decode("utf-8", "replace")
    try:
        out.models[model_id] = decode(key, value, where)
        out.bad.pop(model_id, None)
    except ModelError as exc:
        # A later valid message for the same id replaces it; until then the
        # previous good version (if any) stays.
        out.bad[model_id] = str(exc)


def publish(client_config: Mapping[str, str], topic: str, model: Model) -> None:
    """Send one model document and wait until the broker has it."""
    from confluent_kafka import Producer

    key, value = encode(model)
    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    producer = Producer({**client_config, "enable.idempotence": "true"})
    producer.produce(topic, value, key, on_delivery=delivered)
    left = producer.flush(30)
    if left or errors:
        raise BrokerError(
            f"model {model.id!r} not delivered to {topic}: "
            + ("; ".join(errors) or "no answer within 30 s")
        )
