"""The scoring agent: inputs in, score changes and dead letters out.

One agent consumes the three input topics. They are co-partitioned by
contact id, so one contact's inputs reach one task in order, and the state
table is only ever written by that task. Inputs are taken in batches; every
contact touched by a batch is written once, before the batch's offsets are
acknowledged, so a crash replays at most whole batches, and the event ids in
each contact record make the replay harmless.

After a crash, score changes of the replayed batch can be sent twice, with
the same `seq`: consumers drop duplicates by (contact_id, model_id, seq).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from stream import jsonutil
from stream.app import fastpath
from stream.app.settings import Settings
from stream.app.stats import Stats
from stream.app.store import TableStore
from stream.decode import dead_letter_record, decode
from stream.errors import InputError
from stream.kafka import topics
from stream.messages import InputKind, InputMessage
from stream.model.types import Model
from stream.processor import Processor
from stream.scoring.changes import ScoreChange
from stream.scoring.engine import Engine

log = logging.getLogger(__name__)

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
        self.settings = settings
        self.live = settings.clock == "live"
        prefix = settings.topic_prefix
        self.kinds: dict[str, InputKind] = {
            topics.topic_name(topics.PAGE_VISITS, prefix): "page_visit",
            topics.topic_name(topics.CONVERSIONS, prefix): "conversion",
            topics.topic_name(topics.PROPERTY_CHANGES, prefix): "property_change",
        }
        self.engine = Engine(models)
        self.table = contacts_table(app, settings)
        self.store = TableStore(self.table)
        self.processor = Processor(self.engine, self.store)
        self.stats = Stats()
        self.partitions: set[int] = set()
        self._last_error_log = 0.0
        self._errors_since_log = 0

        raw = {"key_serializer": "raw", "value_serializer": "raw"}
        self.inputs = app.topic(*self.kinds, key_type=bytes, value_type=bytes, **raw)
        self.changes_out = app.topic(
            topics.topic_name(topics.SCORE_CHANGES, prefix), **raw
        )
        self.shadow_out = app.topic(
            topics.topic_name(topics.SCORE_CHANGES_SHADOW, prefix), **raw
        )
        self.dead_letters = app.topic(
            topics.topic_name(topics.DEAD_LETTER, prefix), **raw
        )

        app.agent(self.inputs, name="scorestream.score")(self._consume)
        if batched:
            fastpath.install(app, frozenset(self.kinds), self.handle_messages)
        app.timer(SUMMARY_EVERY_S, name="scorestream.summary")(self._summary)
        if self.live:
            app.timer(LIVE_TICK_S, name="scorestream.decay")(self._tick)
        app.on_rebalance_complete.connect(self._on_recovered)
        app.on_partitions_revoked.connect(self._on_revoked)

    # -- the stream -----------------------------------------------------------

    async def _consume(self, stream: Any) -> None:
        # With the batch consumer installed (the default) this agent only
        # subscribes the input topics; its messages arrive via
        # `handle_messages` instead. Without it, they come through here.
        async for events in stream.take_events(BATCH_SIZE, BATCH_WITHIN_S):
            # Synchronous on purpose: nothing else touches the store or the
            # processor until the batch is written, and the batch's offsets
            # are only acknowledged when the loop asks for the next one.
            self.handle_messages([event.message for event in events])

    def handle_messages(self, messages: Sequence[Any]) -> None:
        """Score one batch of input messages and write what it changed."""
        started = time.perf_counter()
        wall = wall_ms()
        for message in messages:
            self._handle(message, wall)
        self._commit_state()
        self.stats.batch_done(started, len(messages))

    def _handle(self, message: Any, wall: int) -> None:
        value: bytes = message.value or b""
        contact_id: str | None = None
        undo: bytes | None = None
        try:
            kind = self.kinds[message.topic]
            msg = decode(kind, value, key=message.key)
            contact_id = msg.contact_id
            now = self._now_for(msg, wall)
            self.store.bind(contact_id, message.partition)
            undo = self.store.snapshot(contact_id)
            changes, outcome = self.processor.apply(msg, now)
        except InputError as exc:
            self._dead_letter(message, value, exc.reason, exc.detail)
            return
        except Exception as exc:
            if contact_id is not None:
                self.store.restore(contact_id, undo)
            self._internal_error(message, value, exc)
            return
        if outcome.duplicate:
            self.stats.duplicates += 1
        self._emit(changes)

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
            topic = self.shadow_out if change.shadow else self.changes_out
            topic.send_soon(
                key=change.contact_id.encode(),
                value=jsonutil.dumps(change.to_dict()),
            )
            self.stats.changes_out += 1
            if change.cause == "decay":
                self.stats.decay_changes += 1

    def _commit_state(self) -> None:
        self.store.flush()
        now = self.processor.now
        if now is not None and now != self.stats.clock_written:
            for partition in self.partitions:
                self.store.write_clock(partition, now)
            self.stats.clock_written = now

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
        )
        self.dead_letters.send_soon(key=message.key, value=jsonutil.dumps(record))
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
        self.catch_up(wall_ms())

    def catch_up(self, now: int) -> None:
        """Run decay re-grades due up to `now` and write what they changed."""
        self._emit(self.processor.advance(now))
        self._commit_state()

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
        self._drop(self.partitions - actives)
        added = sorted(actives - self.partitions)
        self.partitions = actives
        if added:
            self._rebuild(added)
        log.info(
            "recovery done: partitions %s; %d contacts on the decay schedule",
            sorted(actives) or "none",
            len(self.processor.schedule),
        )
        if self.live:
            self.catch_up(wall_ms())

    async def _on_revoked(self, sender: Any = None, *args: Any, **_: Any) -> None:
        revoked = args[0] if args else set()
        gone = {tp.partition for tp in revoked if tp.topic in self.kinds}
        if gone:
            log.info("partitions revoked: %s", sorted(gone))

    def _drop(self, partitions: set[int]) -> None:
        if not partitions:
            return
        for contact_id in self.store.forget(partitions):
            self.processor.schedule.set(contact_id, None)
        self.partitions -= partitions
        log.info("partitions dropped: %s", sorted(partitions))

    def _rebuild(self, partitions: list[int]) -> None:
        """Put the contacts of newly assigned partitions back on the schedule.

        Reads every stored contact of those partitions once; fine at start-up
        and rebalance, but its cost grows with the number of contacts.
        """
        started = time.monotonic()
        scanned = 0
        for partition in partitions:
            clock = self.store.read_clock(partition)
            if clock is not None and not self.live:
                now = self.processor.now
                self.processor.now = clock if now is None else max(now, clock)
            for _, contact_id, state in self.store.scan([partition]):
                scanned += 1
                self.store.bind(contact_id, partition)
                if state.has_live_activity():
                    after = clock if clock is not None else _latest(state)
                    self.processor.track(contact_id, state, after)
        log.info(
            "partitions assigned: %s; %d contacts read in %.2f s",
            partitions,
            scanned,
            time.monotonic() - started,
        )


def _latest(state: Any) -> int:
    """The latest input time a record knows, when no clock was stored."""
    times = list(state.seen.values()) + [ts for _, ts in state.properties.values()]
    return max(times, default=0)
