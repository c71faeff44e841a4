"""Hands fetched input messages to the scoring job a batch at a time.

Faust delivers each message on its own: the fetcher starts two tasks per
message to race delivery against a flow-control event, the conductor takes
a lock and builds an event, the stream runs its processors, and the agent
acknowledges. That machinery costs more than scoring the message does, and
it caps a worker at a few thousand inputs per second.

This consumer keeps Faust's fetching, offsets, commits and rebalancing, and
short-cuts only the delivery of the input topics: every fetched message of
those topics goes, in fetch order, into a batch that one call scores and
publishes, after which the batch is acknowledged. Any other topic
(the table changelog during recovery, Faust's own topics) takes the normal
route. The scoring agent still subscribes to the input topics, so
assignment and co-partitioning are Faust's as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from aiokafka import TopicPartition
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[Any]], Awaitable[None]]

MAX_BATCH = 5000


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with batched delivery of chosen topics."""

    async def _drain_messages(self, fetcher: Any) -> None:
        transport = cast("BatchTransport", self.transport)
        handler = transport.batch_handler
        topics = transport.batch_topics
        if handler is None or not topics:
            await super()._drain_messages(fetcher)
            return

        callback = self.callback
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        should_stop = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (should_stop() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records = self.getmany(timeout=1.0)
                await self.sleep(0)
                if self.should_stop:
                    continue
                generation = self.app.consumer_generation_id
                batch: list[Any] = []
                async for tp, message in records:
                    offset = message.offset
                    read = get_read_offset(tp)
                    if read is not None and offset < read:
                        continue
                    # A hole in the offsets (compaction, transaction
                    # markers) must not block commits past it.
                    if read and offset - read > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, read + 1, offset)
                    if message.topic in topics:
                        batch.append(message)
                        if len(batch) >= MAX_BATCH:
                            await self._deliver(handler, batch, generation)
                            batch = []
                    else:
                        await self.wait_first(
                            callback(message), self.suspend_flow.wait()
                        )
                    set_read_offset(tp, offset)
                if batch:
                    await self._deliver(handler, batch, generation)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def perform_seek(self) -> None:
        """Rewind to the committed offsets, and uncommitted inputs to the start.

        Records fetched while a rebalance runs can be dropped before anyone
        sees them; Faust relies on this seek to fetch them again, but
        aiokafka only rewinds partitions whose committed offset is above
        zero. An input partition nothing was committed for yet would skip
        such a record for good, so it goes back to its beginning (the reset
        policy anyway); records already scored there are recognised by
        their event ids.
        """
        await super().perform_seek()
        transport = cast("BatchTransport", self.transport)
        fresh = [
            TopicPartition(tp.topic, tp.partition)
            for tp in self.assignment()
            if tp.topic in transport.batch_topics and not self._committed_offset.get(tp)
        ]
        if fresh:
            await self._thread.seek_to_beginning(*fresh)

    async def _deliver(
        self, handler: BatchHandler, batch: list[Any], generation: int
    ) -> None:
        # Paused while a rebalance runs, as Faust's own delivery is.
        await self.app.flow_control.acquire()
        if self.app.consumer_generation_id != generation:
            # Fetched before a rebalance. Messages of partitions still ours
            # are scored anyway: if the new assignment fetches them again,
            # the event ids in the records make the second time a no-op,
            # while dropping them could leave a gap nothing refills.
            assigned = self.assignment()
            batch = [m for m in batch if m.tp in assigned]
            if not batch:
                return
        await handler(batch)
        for message in batch:
            self.ack(message)
        await self.app.producer.buffer.wait_until_ebb()


class BatchTransport(faust_aiokafka.Transport):
    """The aiokafka transport, creating BatchConsumers."""

    Consumer = BatchConsumer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_handler: BatchHandler | None = None
        self.batch_topics: frozenset[str] = frozenset()


def install(app: Any, topics: frozenset[str], handler: BatchHandler) -> None:
    """Make `app` deliver messages of `topics` to `handler` in batches."""
    transport = BatchTransport(app.conf.broker_consumer, app)
    transport.batch_handler = handler
    transport.batch_topics = topics
    app.transport = transport
