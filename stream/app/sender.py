"""Sends the worker's output through one confluent-kafka producer.

Faust's producer goes through aiokafka, which builds each record, its
future and its batch in Python: for a batch of a few thousand score
changes and records that is a fifth of the worker's time. librdkafka does
the same work in C. Sends are queued with `produce()` (cheap, never waits)
and a batch is confirmed with a flush that runs in a thread, so the event
loop keeps serving Faust's heartbeats and the web API meanwhile.

Messages of one partition leave in the order they were queued, and the
producer is idempotent: a retried send can neither reorder nor duplicate
them. That is what the crash-safe order in outbox relies on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from stream.errors import BrokerError

log = logging.getLogger(__name__)

# A flush that takes longer than this means the broker is gone; the batch
# is then not acknowledged and the worker stops (its inputs come again).
FLUSH_TIMEOUT_S = 60.0

PRODUCER_SETTINGS = {
    # The Java client's partitioner, as Faust's producer used: a contact's
    # score changes keep landing on the partition they always did.
    "partitioner": "murmur2_random",
    "enable.idempotence": "true",
    "acks": "all",
    "compression.type": "lz4",
    # A flush sends at once; between flushes, short waits fill batches.
    "linger.ms": "5",
    "queue.buffering.max.messages": "1000000",
    "queue.buffering.max.kbytes": "1048576",
    "batch.size": "1000000",
}


class Sender:
    """Queues messages and confirms them a batch at a time."""

    def __init__(self, client_config: Mapping[str, str]) -> None:
        from confluent_kafka import Producer

        self._producer: Any = Producer({**client_config, **PRODUCER_SETTINGS})
        self._failures: list[str] = []
        # (topic, partition) -> highest offset confirmed since the last take.
        self._confirmed: dict[tuple[str, int], int] = {}

    def _delivered(self, err: Any, msg: Any) -> None:
        # Runs in the thread that polls or flushes.
        if err is not None:
            self._failures.append(f"{msg.topic()}[{msg.partition()}]: {err}")
            return
        key = (msg.topic(), msg.partition())
        offset = msg.offset()
        if offset > self._confirmed.get(key, -1):
            self._confirmed[key] = offset

    def _delivered_maybe(self, err: Any, msg: Any) -> None:
        if err is None:
            self._delivered(err, msg)
        else:
            log.warning(
                "a marker or tombstone to %s[%d] was not written (%s); a "
                "restart may resend copies or delete the record again",
                msg.topic(),
                msg.partition(),
                err,
            )

    def queue(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        *,
        best_effort: bool = False,
    ) -> None:
        """Queue one message; it leaves with the next flush at the latest.
        A `best_effort` message's failure is logged, not raised by `confirm`."""
        callback = self._delivered_maybe if best_effort else self._delivered
        args: dict[str, Any] = {"on_delivery": callback}
        if partition is not None:
            args["partition"] = partition
        try:
            self._producer.produce(topic, value, key, **args)
        except BufferError:
            # The local queue is full: let deliveries drain it, then retry.
            self._producer.poll(1.0)
            self._producer.produce(topic, value, key, **args)

    async def confirm(self, what: str) -> dict[tuple[str, int], int]:
        """Wait until everything queued is confirmed; the highest offset per
        topic partition confirmed since the last call. BrokerError if any
        send failed or the broker did not confirm in time."""
        loop = asyncio.get_running_loop()
        left = await loop.run_in_executor(None, self._producer.flush, FLUSH_TIMEOUT_S)
        failures, self._failures = self._failures, []
        confirmed, self._confirmed = self._confirmed, {}
        if left:
            raise BrokerError(
                f"sending {what}: {left} messages not confirmed within "
                f"{FLUSH_TIMEOUT_S:.0f} s; is the broker up?"
            )
        if failures:
            raise BrokerError(f"sending {what} failed: {'; '.join(failures[:3])}")
        return confirmed

    def close(self, timeout: float = 5.0) -> int:
        """Flush what is queued (markers, tombstones); how many did not leave."""
        left: int = self._producer.flush(timeout)
        return left
