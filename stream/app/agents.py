"""The scoring job: inputs in, score changes and dead letters out.

One agent subscribes the three input topics. They are co-partitioned by
contact id, so one contact's inputs reach one task in order, and the state
table is only ever written by that task. Inputs are scored in batches: the
batch consumer (see fastpath) hands over everything fetched at once. Every
contact a batch touches is written once, together with the score changes
the batch made for it, and the batch's results leave in the order described
in outbox before its offsets are acknowledged. A crash therefore replays at
most whole batches: the event ids kept in each contact record make the
replayed inputs harmless, and the stored changes are sent again as they
were first made.

After a crash, score changes of the last batch can be sent twice, byte for
byte the same: consumers drop duplicates by (contact_id, model_id, seq).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from stream import jsonutil
from stream.app import fastpath, outbox, recovery
from stream.app.settings import Settings
from stream.app.stats import Stats
from stream.app.store import Record, TableStore
from stream.decode import dead_letter_record, decode
from stream.erasure import decode_forget, forgotten_event
from stream.errors import InputError
from stream.kafka import topics
from stream.messages import InputKind, InputMessage
from stream.model.types import Model
from stream.processor import Processor
from stream.scoring.changes import ScoreChange
from stream.scoring.engine import Engine
from stream.state import ContactState

log = logging.getLogger(__name__)

# Used only when the batch consumer is off and Faust's own delivery is used.
BATCH_SIZE = 500
BATCH_WITHIN_S = 0.05
# How often live mode re-grades contacts whose activity aged past a boundary.
LIVE_TICK_S = 5.0
SUMMARY_EVERY_S = 10.0
# At most one traceback per this many seconds for unexpected errors.
ERROR_LOG_EVERY_S = 60.0


def wall_ms() -> int:
    return int(time.time() * 1000)


class ScoringJob:
    """Wires the processor, the table store and the topics into one app."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        models: Sequence[Model],
        *,
        batched: bool = True,
    ) -> None:
        from stream.app.app import contacts_table

        self.app = app
        self.live = settings.clock == "live"
        prefix = settings.topic_prefix
        self.kinds: dict[str, InputKind] = {
            topics.topic_name(topics.PAGE_VISITS, prefix): "page_visit",
            topics.topic_name(topics.CONVERSIONS, prefix): "conversion",
            topics.topic_name(topics.PROPERTY_CHANGES, prefix): "property_change",
        }
        self.forget_topic = topics.topic_name(topics.FORGET_REQUESTS, prefix)
        self.changes_topic = topics.topic_name(topics.SCORE_CHANGES, prefix)
        self.shadow_topic = topics.topic_name(topics.SCORE_CHANGES_SHADOW, prefix)
        self.dead_letter_topic = topics.topic_name(topics.DEAD_LETTER, prefix)
        self.engine = Engine(models, regex_timeout=settings.regex_timeout_ms / 1000)
        self.limits = settings.limits
        self.table = contacts_table(app, settings)
        self.store = TableStore(self.table)
        self.processor = Processor(self.engine, self.store)
        self.outbox = outbox.Outbox()
        self.stats = Stats()
        self.partitions: set[int] = set()
        # Batches, timer ticks and rebalances take turns: each scores and
        # publishes completely before the next one reads a contact.
        self.lock = asyncio.Lock()
        self._last_error_log = 0.0
        self._errors_since_log = 0

        # Forget requests share the agent (and so the partitioning and the
        # order) of the inputs: an erasure lands between the inputs before
        # and after it, on the task that owns the contact.
        subscribed = frozenset([*self.kinds, self.forget_topic])
        inputs = app.topic(
            *subscribed,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        app.agent(inputs, name="scorestream.score")(self._consume)
        if batched:
            fastpath.install(app, subscribed, self.deliver)
        app.timer(SUMMARY_EVERY_S, name="scorestream.summary")(self._summary)
        if self.live:
            app.timer(LIVE_TICK_S, name="scorestream.decay")(self._tick)
        app.on_rebalance_complete.connect(self._on_recovered)
        app.on_partitions_revoked.connect(self._on_revoked)

    # -- the stream -----------------------------------------------------------

    async def _consume(self, stream: Any) -> None:
        # With the batch consumer installed (the default) this agent only
        # subscribes the input topics and never receives a message.
        async for events in stream.take_events(BATCH_SIZE, BATCH_WITHIN_S):
            await self.deliver([event.message for event in events])

    async def deliver(self, messages: Sequence[Any]) -> None:
        """Score a batch and publish its results; then it may be acknowledged."""
        async with self.lock:
            self.handle_messages(messages)
            await self.publish()

    def handle_messages(self, messages: Sequence[Any]) -> None:
        """Score a batch in memory: results wait in the outbox and the store."""
        started = time.perf_counter()
        wall = wall_ms()
        for message in messages:
            self._handle(message, wall)
        self.stats.batch_done(started, len(messages))

    def _handle(self, message: Any, wall: int) -> None:
        value: bytes = message.value or b""
        if message.topic == self.forget_topic:
            self._forget(message, value)
            return
        contact_id: str | None = None
        saved: ContactState | None = None
        try:
            msg = decode(
                self.kinds[message.topic], value, key=message.key, limits=self.limits
            )
            contact_id = msg.contact_id
            now = self._now_for(msg, wall)
            # Decay re-grades of other contacts come first and on their own,
            # so an error scoring this input cannot take their changes along.
            self._emit(self.processor.advance(now))
            self.store.bind(contact_id, message.partition)
            saved = self.store.snapshot(contact_id)
            changes, outcome = self.processor.apply(msg, now)
        except InputError as exc:
            self._dead_letter(message, value, exc.reason, exc.detail)
            return
        except Exception as exc:
            # The engine may have changed the record half-way: put it back.
            if contact_id is not None:
                self.store.restore(contact_id, saved)
            self._internal_error(message, value, exc)
            return
        if outcome.duplicate:
            self.stats.duplicates += 1
        self._emit(changes)

    def _forget(self, message: Any, value: bytes) -> None:
        try:
            request = decode_forget(value, key=message.key, limits=self.limits)
        except InputError as exc:
            self._dead_letter(message, value, exc.reason, exc.detail)
            return
        contact_id = request.contact_id
        self.store.bind(contact_id, message.partition)
        state = self.store.forget_contact(contact_id)
        if state is None:
            # Unknown, or erased already (a request delivered again after a
            # crash finds the record gone): nothing left to announce.
            self.stats.forget_unknown += 1
            log.info(
                "forget request for an unknown contact on %s[%d]@%d",
                message.topic,
                message.partition,
                message.offset,
            )
            return
        self.processor.schedule.set(contact_id, None)
        self._erased(contact_id, state)
        event = jsonutil.dumps(forgotten_event(request, state))
        for shadow in (False, True):
            self._queue(contact_id, shadow, event)
        self.stats.forgotten += 1

    def _erased(self, contact_id: str, state: ContactState) -> None:
        """Called once per erased contact with the state it had (a hook for
        the grade counts)."""

    def _now_for(self, msg: InputMessage, wall: int) -> int:
        """The scoring clock for `msg`: wall time, or the event clock."""
        if self.live:
            return wall
        if msg.timestamp > wall + self.engine.future_tolerance_ms:
            raise InputError(
                "timestamp_in_future",
                f"timestamp is {(msg.timestamp - wall) / 1000:.0f} s ahead of the "
                "present; check the producer's clock",
            )
        now = self.processor.now
        return msg.timestamp if now is None else max(msg.timestamp, now)

    def _emit(self, changes: list[ScoreChange]) -> None:
        for change in changes:
            value = jsonutil.dumps(change.to_dict())
            self._queue(change.contact_id, change.shadow, value)
            self.stats.changes_out += 1
            if change.cause == "decay":
                self.stats.decay_changes += 1

    def _topic(self, shadow: bool) -> str:
        return self.shadow_topic if shadow else self.changes_topic

    def _queue(self, contact_id: str, shadow: bool, value: bytes) -> None:
        """Send with the next publish, and keep with the contact's record
        until then (see outbox)."""
        self.outbox.add(self._topic(shadow), contact_id.encode(), value)
        self.store.add_unsent(contact_id, shadow, value)

    async def publish(self) -> None:
        """Store what was scored since the last publish, then send it."""
        now = self.processor.now
        clock_moved = now is not None and now != self.stats.clock_written
        if not (self.store.has_writes() or self.outbox or clock_moved):
            return
        batch = self.store.take_records()
        clocks: list[Record] = []
        if clock_moved:
            assert now is not None
            clocks = [self.store.clock_record(p, now) for p in self.partitions]
            self.stats.clock_written = now
        messages = self.outbox.take()
        last = await outbox.send_records(
            self.app.producer, self.store.changelog_topic(), batch.records + clocks
        )
        await outbox.send_messages(self.app.producer, messages)
        # Only now, and without the changes: once they are confirmed sent,
        # keeping them would only make the local store bigger. A crash
        # before this point leaves the local store behind the changelog, and
        # the restart replays the records, changes included, from there.
        self.store.write_local(batch.local + clocks)
        for sent in last.values():
            self.store.persisted(sent)
        await self._mark_sent({p: batch.number for p in batch.with_changes})
        await self._delete(batch.erased)

    async def _delete(self, erased: Sequence[tuple[int, str]]) -> None:
        """Tombstone the records of erased contacts whose final event is sent.

        Not waited for, like the markers: a lost tombstone leaves the erased
        marker record, which the next owner deletes (after sending its event
        again).
        """
        await self._send_unconfirmed([(p, c.encode(), None) for p, c in erased])
        self.store.delete_local(erased)

    async def _mark_sent(self, batches: dict[int, int]) -> None:
        """Record that the changes stored by these batches went out.

        Not waited for: the next batch's changelog flush takes the markers
        along, and a crash that loses one only makes the next owner send
        copies of changes already sent.
        """
        markers = [self.store.sent_record(p, b) for p, b in batches.items()]
        await self._send_unconfirmed(markers)
        self.store.put_local(markers)

    async def _send_unconfirmed(
        self, records: Sequence[tuple[int, bytes, bytes | None]]
    ) -> None:
        if not records:
            return
        changelog = self.store.changelog_topic()
        for partition, key, value in records:
            await self.app.producer.send(changelog, key, value, partition, None, None)

    # -- rejects --------------------------------------------------------------

    def _dead_letter(
        self, message: Any, value: bytes, reason: str, detail: str
    ) -> None:
        record = dead_letter_record(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=value,
            reason=reason,
            detail=detail,
            limits=self.limits,
        )
        self.outbox.add(self.dead_letter_topic, message.key, jsonutil.dumps(record))
        self.stats.dead_lettered += 1
        log.debug(
            "dead-lettered %s[%d]@%d: %s",
            message.topic,
            message.partition,
            message.offset,
            reason,
        )

    def _internal_error(self, message: Any, value: bytes, exc: Exception) -> None:
        detail = f"{type(exc).__name__}: {exc}"
        self._dead_letter(message, value, "internal_error", detail)
        self._errors_since_log += 1
        mono = time.monotonic()
        if mono - self._last_error_log >= ERROR_LOG_EVERY_S:
            log.error(
                "unexpected error on %s[%d]@%d (%d since last report); the input "
                "went to the dead-letter topic",
                message.topic,
                message.partition,
                message.offset,
                self._errors_since_log,
                exc_info=exc,
            )
            self._last_error_log = mono
            self._errors_since_log = 0

    # -- time -----------------------------------------------------------------

    async def _tick(self) -> None:
        async with self.lock:
            self.catch_up(wall_ms())
            await self.publish()

    def catch_up(self, now: int) -> None:
        """Run the decay re-grades due up to `now` (published by `publish`)."""
        self._emit(self.processor.advance(now))

    async def _summary(self) -> None:
        line = self.stats.summary()
        if line is not None:
            log.info("%s", line)

    # -- rebalancing ----------------------------------------------------------

    async def _on_recovered(self, sender: Any = None, **_: Any) -> None:
        actives = {
            tp.partition
            for tp in self.app.assignor.assigned_actives()
            if tp.topic in self.kinds
        }
        async with self.lock:
            recovery.drop(self.store, self.processor, self.partitions - actives)
            added = actives - self.partitions
            self.partitions = actives
            if added:
                resend = recovery.rebuild(
                    self.store, self.processor, added, event_clock=not self.live
                )
                await self._resend(resend)
                await self._delete(resend.erased)
            log.info(
                "recovery done: partitions %s; %d contacts on the decay schedule",
                sorted(actives) or "none",
                len(self.processor.schedule),
            )
            if self.live:
                # Catch up on the boundaries passed while no worker ran.
                self.catch_up(wall_ms())
                await self.publish()

    async def _resend(self, resend: recovery.Resend) -> None:
        """Send again the stored changes a crash left unconfirmed."""
        if not resend.changes:
            return
        for contact_id, shadow, value in resend.changes:
            # Already kept with the records: only sent again.
            self.outbox.add(self._topic(shadow), contact_id.encode(), value)
        await outbox.send_messages(self.app.producer, self.outbox.take())
        await self._mark_sent(resend.batches)
        self.stats.resent += len(resend.changes)
        log.info(
            "sent again %d score changes stored by batches not confirmed sent "
            "(partitions %s)",
            len(resend.changes),
            sorted(resend.batches),
        )

    async def _on_revoked(self, sender: Any = None, *args: Any, **_: Any) -> None:
        revoked = args[0] if args else set()
        gone = {tp.partition for tp in revoked if tp.topic in self.kinds}
        if not gone:
            return
        # The group waits for this before handing the partitions on. A batch
        # still being published must reach the changelog first: otherwise
        # the next owner restores the records without it, scores its inputs
        # again, and announces different changes under the same seqs.
        async with self.lock:
            log.info("partitions revoked: %s", sorted(gone))
