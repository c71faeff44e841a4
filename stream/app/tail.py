"""Reads the score-change and dead-letter topics, and renders score changes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from stream import jsonutil
from stream.errors import BrokerError


def consumer(
    client_config: Mapping[str, str], topics: list[str], *, from_start: bool
) -> Any:
    """A confluent-kafka consumer of `topics` in a throw-away group."""
    from confluent_kafka import Consumer

    c = Consumer(
        {
            **client_config,
            "group.id": f"scorestream-tail-{uuid.uuid4().hex[:12]}",
            "auto.offset.reset": "earliest" if from_start else "latest",
            "enable.auto.commit": "false",
            "enable.partition.eof": "false",
        }
    )
    c.subscribe(topics)
    return c


def polls(
    client_config: Mapping[str, str],
    topics: list[str],
    *,
    from_start: bool = True,
    max_s: float = 3600.0,
) -> Iterator[list[tuple[str, bytes | None, bytes]]]:
    """Each poll's (topic, key, value) messages, an empty list when idle."""
    from confluent_kafka import KafkaError

    c = consumer(client_config, topics, from_start=from_start)
    started = time.monotonic()
    try:
        while time.monotonic() - started <= max_s:
            batch = []
            for msg in c.consume(500, timeout=0.2):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise BrokerError(f"reading {msg.topic()}: {err.str()}")
                batch.append((msg.topic(), msg.key(), msg.value() or b""))
            yield batch
    finally:
        c.close()


def follow(
    client_config: Mapping[str, str],
    topics: list[str],
    *,
    from_start: bool = True,
    idle_s: float | None = None,
    max_s: float = 3600.0,
) -> Iterator[tuple[str, bytes | None, bytes]]:
    """(topic, key, value) of each message until idle for `idle_s` or `max_s`."""
    last = time.monotonic()
    for batch in polls(client_config, topics, from_start=from_start, max_s=max_s):
        if batch:
            last = time.monotonic()
            yield from batch
        elif idle_s is not None and time.monotonic() - last > idle_s:
            return


def read_all(
    client_config: Mapping[str, str],
    topics: list[str],
    *,
    idle_s: float = 5.0,
    max_s: float = 300.0,
) -> list[tuple[str, bytes | None, bytes]]:
    """Everything in `topics` from the start, once nothing new came for `idle_s`."""
    return list(follow(client_config, topics, idle_s=idle_s, max_s=max_s))


def describe(change: Mapping[str, Any]) -> str:
    """One line for a person, e.g. `contact 245.57.13.67  upsell  D4 -> D3  ...`."""
    if change.get("forgotten") is True:
        return (
            f"contact {change.get('contact_id')}  erased at {change.get('as_of')} "
            f"(last seq {change.get('last_seq')})"
        )
    previous = change.get("previous_grade") or "--"
    line = (
        f"contact {change.get('contact_id')}  {change.get('model_id')}  "
        f"{previous} -> {change.get('grade')}  {change.get('recommended_action')}"
    )
    trigger = change.get("trigger") or {}
    cause = change.get("cause")
    if cause == "event":
        names = ", ".join(trigger.get("categories") or []) or trigger.get("kind", "")
        line += f"  (event: {names})"
    elif cause == "property_change":
        line += f"  (properties: {', '.join(trigger.get('properties') or [])})"
    else:
        line += f"  ({cause} at {change.get('as_of')})"
    return line


def parse_change(value: bytes) -> dict[str, Any] | None:
    """A score-change message as a dict; None if it is not one."""
    try:
        obj = jsonutil.loads(value)
    except Exception:
        return None
    if not isinstance(obj, dict):
        return None
    return obj if "grade" in obj or obj.get("forgotten") is True else None
