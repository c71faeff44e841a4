"""Publishes replay records (input messages with a `type`) to the input topics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stream import jsonutil
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


@dataclass(slots=True)
class PublishReport:
    """What a publish run sent, per topic, and what it could not route."""

    sent: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def route(record: Mapping[str, Any]) -> tuple[str, bytes, bytes]:
    """(short topic name, key, value) of a replay record; InputError if unroutable."""
    kind = record.get("type")
    if kind not in TOPIC_OF_TYPE:
        raise InputError("unknown_type", f"type: {kind!r} names no input topic")
    contact_id = record.get("contact_id")
    if not isinstance(contact_id, str):
        raise InputError("missing_field", "contact_id: needed as the message key")
    body = {k: v for k, v in record.items() if k != "type"}
    # The worker trims ids and wants the key to be exactly the trimmed id.
    key = contact_id.strip().encode()
    return TOPIC_OF_TYPE[kind], key, jsonutil.dumps(body)


def parse_lines(lines: Iterable[bytes]) -> Iterable[Mapping[str, Any] | InputError]:
    """Replay-file lines as records; a line that is not a JSON object as an error."""
    for line in lines:
        if not line.strip():
            continue
        try:
            record = jsonutil.loads(line)
        except InputError as exc:
            yield exc
            continue
        if not isinstance(record, dict):
            yield InputError("not_an_object", "the line is not a JSON object")
            continue
        yield record


def publish(
    records: Iterable[Mapping[str, Any] | InputError],
    client_config: Mapping[str, str],
    prefix: str,
    *,
    on_progress: Callable[[PublishReport], None] | None = None,
    progress_every_s: float = 1.0,
    flush_timeout_s: float = 60.0,
) -> PublishReport:
    """Send every routable record, keyed by contact_id; the rest are counted."""
    from confluent_kafka import Producer

    producer = Producer({**PRODUCER_DEFAULTS, **client_config})
    report = PublishReport()
    started = last = time.monotonic()
    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None and len(failures) < 5:
            failures.append(str(err))

    for record in records:
        try:
            if isinstance(record, InputError):
                raise record
            short, key, value = route(record)
        except InputError as exc:
            report.skipped += 1
            report.skip_reasons[exc.reason] = report.skip_reasons.get(exc.reason, 0) + 1
            continue
        topic = topics.topic_name(short, prefix)
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:
                # The local queue is full: let deliveries drain it.
                producer.poll(0.1)
        report.sent[topic] = report.sent.get(topic, 0) + 1
        producer.poll(0)
        if on_progress is not None and time.monotonic() - last >= progress_every_s:
            last = time.monotonic()
            report.seconds = last - started
            on_progress(report)

    left = producer.flush(flush_timeout_s)
    report.seconds = time.monotonic() - started
    if left or failures:
        raise BrokerError(
            f"{left} messages not delivered within {flush_timeout_s:.0f} s"
            + (f"; first errors: {'; '.join(failures)}" if failures else "")
            + "; check that the broker runs and the topics exist"
        )
    return report
