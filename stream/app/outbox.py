"""Sends a batch's results in the order that lets a crash lose nothing.

A batch produces messages (score changes, dead letters) and contact records.
They leave in three steps, each waiting for the previous one:

1. the messages, and the broker confirms them;
2. the records to the table's changelog, and the broker confirms them;
3. the records to the local RocksDB.

Only then are the batch's input offsets acknowledged. If the worker dies
before step 2, the contact records still say the batch never happened, so
the redelivered inputs produce the same changes again (same seq: consumers
drop the copies). If it dies after step 2, the records say the inputs were
seen, and nothing is produced twice: their messages went out in step 1.
Sending the records first could lose changes for good; sending everything
at once would leave it to chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from stream.app.store import Record
from stream.errors import BrokerError


class Producer(Protocol):
    """The part of Faust's producer the outbox uses."""

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> Any: ...

    async def flush(self) -> None: ...


Message = tuple[str, bytes | None, bytes]
"""(topic, key, value) of one output message."""


class Outbox:
    """Messages waiting for the next publish, in the order they were made."""

    def __init__(self) -> None:
        self._messages: list[Message] = []

    def __len__(self) -> int:
        return len(self._messages)

    def add(self, topic: str, key: bytes | None, value: bytes) -> None:
        self._messages.append((topic, key, value))

    def take(self) -> list[Message]:
        taken, self._messages = self._messages, []
        return taken


async def publish(
    producer: Producer,
    messages: Sequence[Message],
    changelog: str,
    records: Sequence[Record],
) -> dict[int, Any]:
    """Steps 1 and 2; returns the last changelog send per partition.

    The caller does step 3 and then reports the returned sends to Faust as
    persisted, so that its restart replays only the changelog beyond them.
    """
    sent = [
        await producer.send(topic, key, value, None, None, None)
        for topic, key, value in messages
    ]
    if sent:
        await producer.flush()
        _check(sent, "score changes or dead letters")

    last: dict[int, Any] = {}
    sent = []
    for partition, key, value in records:
        last[partition] = await producer.send(
            changelog, key, value, partition, None, None
        )
        sent.append(last[partition])
    if sent:
        await producer.flush()
        _check(sent, f"contact records to {changelog}")
    return last


def _check(sent: list[Any], what: str) -> None:
    """Raise if any send failed: the batch must then not be acknowledged."""
    for future in sent:
        if not future.done():
            raise BrokerError(f"sending {what}: not confirmed after a flush")
        exc = future.exception()
        if exc is not None:
            raise BrokerError(f"sending {what} failed: {exc}") from exc
