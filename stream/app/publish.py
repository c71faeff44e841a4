"""Publishes replay records (input messages with a `type`) to the input topics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stream import jsonutil
from stream.decode import type_name
from stream.errors import BrokerError, InputError
from stream.kafka import topics

TOPIC_OF_TYPE = {
    "page_visit": topics.PAGE_VISITS,
    "conversion": topics.CONVERSIONS,
    "property_change": topics.PROPERTY_CHANGES,
}

# The Java client's partitioner: keys land on the same partitions whichever
# client (Faust's aiokafka, Kafka Streams, this one) produced them.
PRODUCER_DEFAULTS = {
    "partitioner": "murmur2_random",
    "linger.ms": "20",
    "compression.type": "lz4",
    "enable.idempotence": "true",
}


# Skipped lines listed by line number, per reason; the rest only counted.
EXAMPLES_PER_REASON = 3
# librdkafka's own default for message.max.bytes.
DEFAULT_MAX_MESSAGE_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a replay file: its number and its record, or why it has none."""

    number: int
    record: Mapping[str, Any] | InputError


@dataclass(frozen=True, slots=True)
class Skip:
    """A line (or record) that was not sent, and why."""

    where: str
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: rejected ({self.reason}): {self.detail}"


@dataclass(slots=True)
class PublishReport:
    """What a publish run sent, per topic, and what it could not route."""

    sent: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    examples: list[Skip] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def skip(self, where: str, error: InputError) -> None:
        seen = self.skip_reasons.get(error.reason, 0)
        self.skipped += 1
        self.skip_reasons[error.reason] = seen + 1
        if seen < EXAMPLES_PER_REASON:
            self.examples.append(Skip(where, error.reason, error.detail))


def route(record: Mapping[str, Any]) -> tuple[str, bytes, bytes]:
    """(short topic name, key, value) of a replay record; InputError if unroutable."""
    kind = record.get("type")
    if kind not in TOPIC_OF_TYPE:
        raise InputError("unknown_type", f"type: {kind!r} names no input topic")
    contact_id = record.get("contact_id")
    if contact_id is None:
        raise InputError("missing_field", "contact_id: needed as the message key")
    if not isinstance(contact_id, str):
        raise InputError(
            "wrong_type",
            f"contact_id: found {type_name(contact_id)}; expected a string",
        )
    body = {k: v for k, v in record.items() if k != "type"}
    # The worker trims ids and wants the key to be exactly the trimmed id.
    key = contact_id.strip().encode()
    return TOPIC_OF_TYPE[kind], key, jsonutil.dumps(body)


def parse_lines(lines: Iterable[bytes]) -> Iterable[Line]:
    """Replay-file lines as numbered records; a line that is not a JSON object
    carries the error instead. Blank lines are left out but still counted."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = jsonutil.loads(line)
        except InputError as exc:
            yield Line(number, exc)
            continue
        if not isinstance(record, dict):
            yield Line(
                number,
                InputError(
                    "not_an_object",
                    f"found {type_name(record)}; expected a JSON object",
                ),
            )
            continue
        yield Line(number, record)


def publish(
    records: Iterable[Mapping[str, Any] | InputError | Line],
    client_config: Mapping[str, str],
    prefix: str,
    *,
    on_progress: Callable[[PublishReport], None] | None = None,
    progress_every_s: float = 1.0,
    flush_timeout_s: float = 60.0,
) -> PublishReport:
    """Send every routable record, keyed by contact_id; the rest are counted.

    Records without a line number are named by their position ("record 3").
    """
    from confluent_kafka import Producer

    from stream.kafka.connection import quiet_client_logs

    producer = Producer({**PRODUCER_DEFAULTS, **client_config, **quiet_client_logs()})
    limit = int(client_config.get("message.max.bytes", DEFAULT_MAX_MESSAGE_BYTES))
    report = PublishReport()
    started = last = time.monotonic()
    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None and len(failures) < 5:
            failures.append(str(err))

    try:
        for position, item in enumerate(records, start=1):
            if isinstance(item, Line):
                where, record = f"line {item.number}", item.record
            else:
                where, record = f"record {position}", item
            try:
                if isinstance(record, InputError):
                    raise record
                short, key, value = route(record)
                topic = topics.topic_name(short, prefix)
                _produce(producer, topic, key, value, delivered, limit)
            except InputError as exc:
                report.skip(where, exc)
                continue
            report.sent[topic] = report.sent.get(topic, 0) + 1
            producer.poll(0)
            if on_progress is not None and time.monotonic() - last >= progress_every_s:
                last = time.monotonic()
                report.seconds = last - started
                on_progress(report)
    except Exception:
        # What was queued before the failure still goes out.
        producer.flush(flush_timeout_s)
        raise

    left = producer.flush(flush_timeout_s)
    report.seconds = time.monotonic() - started
    if left or failures:
        raise BrokerError(
            f"{left} messages not delivered within {flush_timeout_s:.0f} s"
            + (f"; first errors: {'; '.join(failures)}" if failures else "")
            + "; check that the broker runs and the topics exist"
        )
    return report


def _produce(
    producer: Any,
    topic: str,
    key: bytes,
    value: bytes,
    on_delivery: Callable[[Any, Any], None],
    limit: int,
) -> None:
    """Queues one message; InputError if Kafka would never take it."""
    from confluent_kafka import KafkaError, KafkaException

    while True:
        try:
            producer.produce(topic, value, key, on_delivery=on_delivery)
            return
        except BufferError:
            # The local queue is full: let deliveries drain it.
            producer.poll(0.1)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if (
                isinstance(error, KafkaError)
                and error.code() == KafkaError.MSG_SIZE_TOO_LARGE
            ):
                raise InputError(
                    "message_too_large",
                    f"{len(key) + len(value):,} bytes; the producer sends at most "
                    f"{limit:,} (message.max.bytes)",
                ) from None
            reason = error.str() if isinstance(error, KafkaError) else str(exc)
            raise BrokerError(f"cannot send to {topic}: {reason}") from None
