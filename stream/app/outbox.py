"""Sends a batch's results in the order that lets a crash lose nothing.

A batch produces messages (score changes, dead letters) and contact records.
Each record carries the score changes the batch made for its contact. They
leave in three steps, each waiting for the previous one:

1. the records to the table's changelog, and the broker confirms them;
2. the records to the local RocksDB;
3. the messages, and the broker confirms them.

Only then are the batch's input offsets acknowledged, and the next batch's
changelog write carries a marker saying this batch's changes went out.

If the worker dies before step 1 completes, the records still say the
batch never happened: its inputs are delivered again and scored as if for
the first time. If it dies after step 1, the records say the inputs were
seen (the redelivered ones change nothing) and hold the changes: the next
owner of the partition sends every stored change newer than the marker
again, byte for byte. A change can thus reach its topic twice, never in two
versions, and never not at all. Sending the messages first would leave a
crash between the steps to re-score the inputs, perhaps in another order
(three topics interleave freely), and announce another move under a seq
already sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from stream.app.store import Record


class Sender(Protocol):
    """The part of the worker's producer (see sender) the outbox uses."""

    def queue(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        *,
        best_effort: bool = False,
    ) -> None: ...

    async def confirm(self, what: str) -> dict[tuple[str, int], int]: ...


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
    sender: Sender, changelog: str, records: Sequence[Record]
) -> dict[int, int]:
    """Step 1; returns the highest changelog offset confirmed per partition.

    The caller writes the records locally and then tells Faust these
    offsets are persisted, so that its restart replays only the changelog
    beyond them.
    """
    for partition, key, value in records:
        sender.queue(changelog, key, value, partition)
    confirmed = await sender.confirm(f"contact records to {changelog}")
    return {p: offset for (t, p), offset in confirmed.items() if t == changelog}


async def send_messages(sender: Sender, messages: Sequence[Message]) -> None:
    """Step 3: the score changes and dead letters, confirmed."""
    if not messages:
        return
    for topic, key, value in messages:
        sender.queue(topic, key, value)
    await sender.confirm("score changes or dead letters")
