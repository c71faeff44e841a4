"""Sends a batch's results in the order that lets a crash lose nothing.

A batch produces messages (score changes, dead letters) and contact records.
Each record carries the score changes the batch made for its contact. They
leave in three steps, each waiting for the previous one:

1. the records to the table's changelog, and the broker confirms them;
2. the messages, and the broker confirms them;
3. the records, without the changes, to the local RocksDB.

Only then are the batch's input offsets acknowledged, and a marker on the
changelog says this batch's changes went out.

If the worker dies before step 1 completes, the records still say the
batch never happened: its inputs are delivered again and scored as if for
the first time. If it dies after step 1, the changelog says the inputs were
seen (the redelivered ones change nothing) and holds the changes: the
restart brings the local store up to the changelog, and the next owner of
the partition sends every stored change newer than the marker again, byte
for byte. A change can thus reach its topic twice, never in two versions,
and never not at all. Sending the messages first would leave a crash
between the steps to re-score the inputs, perhaps in another order (three
topics interleave freely), and announce another move under a seq already
sent. The local copy drops the changes because once they are confirmed
they would only take space.
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


async def send_records(
    producer: Producer, changelog: str, records: Sequence[Record]
) -> dict[int, Any]:
    """Step 1; returns the last changelog send per partition.

    After step 3 the caller reports the returned sends to Faust as
    persisted, so that its restart replays only the changelog beyond them.
    """
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


async def send_messages(producer: Producer, messages: Sequence[Message]) -> None:
    """Step 2: the score changes and dead letters, confirmed."""
    sent = [
        await producer.send(topic, key, value, None, None, None)
        for topic, key, value in messages
    ]
    if sent:
        await producer.flush()
        _check(sent, "score changes or dead letters")


def _check(sent: list[Any], what: str) -> None:
    """Raise if any send failed: the batch must then not be acknowledged."""
    for future in sent:
        if not future.done():
            raise BrokerError(f"sending {what}: not confirmed after a flush")
        exc = future.exception()
        if exc is not None:
            raise BrokerError(f"sending {what} failed: {exc}") from exc
