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

Faust seeks every partition back to its committed offset at the end of a
rebalance, while the fetcher already runs. Records fetched before or during
such a seek are never scored, and the offsets read, acknowledged or taken
for holes before it are forgotten: the seek brings those records back, in
order. Scored or counted anyway, they ran ahead of the records the seek
brought back, or made a commit skip or crawl over them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, cast

from aiokafka import TopicPartition
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[Any]], Awaitable[None]]

MAX_BATCH = 5000


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with batched delivery of chosen topics."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Changes when a seek starts and when it ends, so a fetch can tell
        # whether a seek overlapped it.
        self._seeks = 0
        self._seeks_running = 0
        self._no_seek = asyncio.Event()
        self._no_seek.set()

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        # Faust hands the consumer thread its live set of active partitions.
        # Emptied while the thread waits for records (between the changelog
        # reads and the input resume of a rebalance), the set means "every
        # partition" to aiokafka: input records are taken out of the fetch
        # buffer, then dropped by Faust as not active, and the partition's
        # next records arrive after a hole. A copy keeps the request as made.
        if active_partitions is not None:
            active_partitions = set(active_partitions)
        return await super()._getmany(active_partitions, timeout)

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
                # A fetch running beside a seek can return records from
                # before it or take ones the seek just rewound to.
                await self._no_seek.wait()
                seeks = self._seeks
                generation = self.app.consumer_generation_id
                records = cast(
                    "AsyncGenerator[tuple[Any, Any], None]", self.getmany(timeout=1.0)
                )
                await self.sleep(0)
                if self.should_stop:
                    continue
                batch: list[Any] = []
                async with contextlib.aclosing(records):
                    async for tp, message in records:
                        if self._seeks != seeks:
                            break
                        offset = message.offset
                        read = get_read_offset(tp)
                        if read is not None and offset < read:
                            continue
                        # A hole in the offsets (compaction, transaction
                        # markers) must not block commits past it.
                        if (
                            read
                            and offset - read > 1
                            and acks_enabled_for(message.topic)
                        ):
                            await self._add_gap(tp, read + 1, offset)
                        if message.topic in topics:
                            batch.append(message)
                        else:
                            await self.wait_first(
                                callback(message), self.suspend_flow.wait()
                            )
                        set_read_offset(tp, offset)
                if self._seeks != seeks:
                    # Read offsets noted after the seek began are not to be
                    # trusted either: start over from the committed offsets.
                    await self._seek_again(len(batch))
                    continue
                for start in range(0, len(batch), MAX_BATCH):
                    chunk = batch[start : start + MAX_BATCH]
                    if not await self._deliver(handler, chunk, generation, seeks):
                        break
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

        Every input record from the new position on is delivered and
        acknowledged again, so the acknowledgements and holes noted before
        the seek are forgotten: a hole noted from records that were dropped
        rather than missing from the log would otherwise be counted twice
        once those records arrive, and Faust's commit would then advance
        by one offset per commit interval.
        """
        self._seeks += 1
        self._seeks_running += 1
        self._no_seek.clear()
        try:
            await super().perform_seek()
            transport = cast("BatchTransport", self.transport)
            inputs = [
                tp for tp in self.assignment() if tp.topic in transport.batch_topics
            ]
            for tp in inputs:
                self._gap.pop(tp, None)
                self._acked.pop(tp, None)
                self._acked_index.pop(tp, None)
            fresh = [
                TopicPartition(tp.topic, tp.partition)
                for tp in inputs
                if not self._committed_offset.get(tp)
            ]
            if fresh:
                await self._thread.seek_to_beginning(*fresh)
        finally:
            self._seeks += 1
            self._seeks_running -= 1
            if not self._seeks_running:
                self._no_seek.set()

    async def _seek_again(self, dropped: int) -> None:
        """Seek once more after a fetch that overlapped a seek.

        Such a fetch may have taken records the seek had already rewound
        to; they are dropped here and must be fetched again. A rebalance
        under way ends with its own seek, so this one is left to it.
        """
        await self._no_seek.wait()
        if not self.flow_active or not self.assignment():
            return
        # Around every rebalance an empty fetch overlaps the final seek;
        # only a fetch that returned input records is worth an INFO line.
        log.log(
            logging.INFO if dropped else logging.DEBUG,
            "fetch overlapped a seek: %d input records dropped, seeking again",
            dropped,
        )
        try:
            await self.perform_seek()
        except Exception as exc:
            log.warning("seek after an overlapping fetch failed: %r", exc)

    async def _deliver(
        self, handler: BatchHandler, batch: list[Any], generation: int, seeks: int
    ) -> bool:
        """Score and acknowledge `batch`; False if it was dropped instead."""
        # Paused while a rebalance runs, as Faust's own delivery is.
        await self.app.flow_control.acquire()
        if self.app.consumer_generation_id != generation or self._seeks != seeks:
            # Fetched before a seek that rewound its partitions to their
            # committed offsets, or before a rebalance that ends with such a
            # seek: the records come again in order from there. Scored now,
            # they would run ahead of the records before them that the
            # seek brings back, and their offsets would be counted as read.
            log.info(
                "%d input records fetched before a rebalance or seek dropped; "
                "they are fetched again from the committed offsets",
                len(batch),
            )
            return False
        await handler(batch)
        for message in batch:
            self.ack(message)
        await self.app.producer.buffer.wait_until_ebb()
        return True


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
