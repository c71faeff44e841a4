"""The CRM sink's main loop: consume score changes, coalesce, deliver, commit."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from stream import jsonutil
from stream.errors import BrokerError, InputError
from stream.kafka.topics import SCORE_CHANGES, topic_name
from stream.sink import rejected
from stream.sink.coalesce import Coalescer, Forgotten, Outcome, parse_message
from stream.sink.delivery import Delivery, Stopped
from stream.sink.metrics import SinkMetrics
from stream.sink.ratelimit import Backoff, TokenBucket
from stream.sink.settings import SinkSettings
from stream.sink.targets import make_target
from stream.sink.transport import HttpTransport, PrintTransport, Transport

log = logging.getLogger(__name__)

POLL_BATCH = 500
POLL_STEP_S = 0.2
COMMIT_TIMEOUT_S = 30.0


class CrmSink:
    """One sink process: a consumer in its own group, so a slow CRM never
    slows scoring, and offsets committed only once the CRM has answered."""

    def __init__(
        self,
        settings: SinkSettings,
        client_config: Mapping[str, str],
        *,
        transport: Transport | None = None,
        out: IO[str] | None = None,
        metrics: SinkMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.client_config = dict(client_config)
        self.metrics = metrics or SinkMetrics()
        self.clock = clock
        self.out = out
        self.topic = topic_name(SCORE_CHANGES, settings.topic_prefix)
        self.rejected_topic = topic_name(rejected.CRM_REJECTED, settings.topic_prefix)
        self.target = make_target(settings)
        if transport is None:
            printing = settings.dry_run or settings.target == "print"
            transport = PrintTransport(out) if printing else HttpTransport()
        self.coalescer = Coalescer(settings.seen_capacity)
        self.delivery = Delivery(
            self.target,
            transport,
            TokenBucket(settings.rate_requests, settings.rate_period_s, clock),
            Backoff(
                settings.backoff_base_s,
                settings.backoff_max_s,
                settings.backoff_attempts,
            ),
            self.metrics,
            timeout=settings.request_timeout_s,
            wait=self._keepalive_wait,
        )
        self._stop = threading.Event()
        self._consumer: Any = None
        self._producer: Any = None
        self._offsets: dict[int, int] = {}  # partition -> next offset to commit
        self._malformed: list[dict[str, Any]] = []
        self._carry: list[Any] = []
        self._window_started: float | None = None
        self._assigned_at: float | None = None

    def stop(self) -> None:
        """Asks the loop to end; safe from a signal handler or another thread."""
        self._stop.set()

    def run(
        self, *, max_seconds: float | None = None, exit_when_idle: float | None = None
    ) -> None:
        """Runs until stop(), `max_seconds`, or `exit_when_idle` quiet seconds
        with nothing pending. Stopped by stop(), pending changes are not sent
        and not committed: the next run reads them again."""
        from confluent_kafka import Consumer, Producer

        from stream.kafka.connection import quiet_client_logs

        settings = self.settings
        log.info("CRM sink starting: %r", settings)
        if not settings.dry_run:
            rejected.ensure_rejected_topic(self.client_config, settings.topic_prefix)
        consumer_config: dict[str, Any] = {
            **self.client_config,
            "group.id": settings.consumer_group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": settings.session_timeout_ms,
            **quiet_client_logs(),
        }
        if settings.instance_id:
            consumer_config["group.instance.id"] = settings.instance_id
        self._consumer = Consumer(consumer_config)
        self._producer = Producer(
            {
                **self.client_config,
                "enable.idempotence": True,
                "linger.ms": 20,
                **quiet_client_logs(),
            }
        )
        self._consumer.subscribe(
            [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke
        )

        started = self.clock()
        last_message = started
        last_summary, since = started, self.metrics.snapshot()
        try:
            while not self._stop.is_set():
                now = self.clock()
                if max_seconds is not None and now - started >= max_seconds:
                    break
                messages = self._carry or self._consumer.consume(
                    POLL_BATCH, timeout=POLL_STEP_S
                )
                self._carry = []
                if self._handle(messages):
                    last_message = self.clock()

                now = self.clock()
                due = self._window_started is not None and (
                    now - self._window_started >= settings.coalesce_window_s
                    or len(self.coalescer) >= settings.max_pending
                )
                if due:
                    self._flush()
                if now - last_summary >= settings.summary_every_s:
                    self._summary(since)
                    last_summary, since = now, self.metrics.snapshot()
                # Idle counts from the assignment too: a group join can take
                # longer than the idle time, and nothing was read before it.
                if (
                    exit_when_idle is not None
                    and self._assigned_at is not None
                    and self._window_started is None
                    and now - max(last_message, self._assigned_at) >= exit_when_idle
                ):
                    break
            if self._stop.is_set():
                raise Stopped
            if self._window_started is not None:
                self._flush()
        except Stopped:
            log.info("CRM sink stopping; unsent changes are re-read on restart")
        finally:
            self._summary(None)
            self._close()

    def _handle(self, messages: list[Any]) -> bool:
        got = False
        for message in messages:
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise BrokerError(f"Kafka consumer failed: {error.str()}")
                log.warning("consumer: %s", error.str())
                continue
            got = True
            partition, offset = message.partition(), message.offset()
            self._offsets[partition] = offset + 1
            if self._window_started is None:
                self._window_started = self.clock()
            self.metrics.add("received")
            source = f"{message.topic()}[{partition}]@{offset}"
            try:
                change = parse_message(message.value(), partition)
            except InputError as exc:
                log.warning("unreadable score change at %s: %s", source, exc.reason)
                self._malformed.append(
                    rejected.malformed_record(
                        message.value(), exc.reason, exc.detail, source
                    )
                )
                continue
            if isinstance(change, Forgotten):
                # The CRM keeps what was written to it before: erasing it
                # there is the CRM's own process.
                dropped = self.coalescer.forget_contact(change.contact_id)
                self.metrics.add("forgotten")
                log.info(
                    "contact erased upstream at %s; %d pending changes dropped",
                    source,
                    dropped,
                )
                continue
            outcome = self.coalescer.add(change)
            if outcome is Outcome.COALESCED:
                self.metrics.add("coalesced")
            elif outcome is Outcome.STALE:
                self.metrics.add("stale")
        return got

    def _flush(self) -> None:
        """Delivers the pending changes, records refusals, then commits."""
        changes = self.coalescer.take()
        offsets = dict(self._offsets)
        malformed, self._malformed = self._malformed, []
        self._window_started = None

        assignment = self._consumer.assignment()
        self._consumer.pause(assignment)
        try:
            report = self.delivery.deliver(changes)
        finally:
            self._consumer.resume(assignment)
        self.metrics.add("sent", len(report.accepted))
        self.metrics.add("rejected", len(report.rejected) + len(malformed))

        records = malformed + [
            rejected.rejection_record(
                r, self.target.name, f"{self.topic}[{r.change.partition}]"
            )
            for r in report.rejected
        ]
        self._record_rejections(records)
        self.coalescer.handled([*report.accepted, *(r.change for r in report.rejected)])
        self._commit(offsets)
        log.debug(
            "window done: %d changes sent, %d rejected",
            len(report.accepted),
            len(records),
        )

    def _record_rejections(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        if self.settings.dry_run:
            out = self.out or sys.stdout
            for record in records:
                out.write(jsonutil.dumps({"rejected": record}).decode() + "\n")
            return
        for record in records:
            key = record.get("contact_id")
            self._producer.produce(
                self.rejected_topic,
                key=key.encode() if isinstance(key, str) else None,
                value=rejected.encode(record),
            )
        left = self._producer.flush(COMMIT_TIMEOUT_S)
        if left:
            # Committing now would lose these refusals for good.
            raise BrokerError(
                f"{left} rejection records could not be written to "
                f"{self.rejected_topic}; stopping without committing"
            )

    def _commit(self, offsets: Mapping[int, int]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        if self.settings.dry_run or not offsets:
            return
        partitions = [TopicPartition(self.topic, p, o) for p, o in offsets.items()]
        try:
            self._consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as exc:
            # Lost partitions in a rebalance: their new owner re-sends from the
            # last commit, which the seq check makes harmless.
            log.warning("offset commit failed (%s); those changes may be re-sent", exc)
            return
        for partition, offset in offsets.items():
            if self._offsets.get(partition) == offset:
                del self._offsets[partition]

    def _keepalive_wait(self, seconds: float) -> bool:
        """Sleeps while the CRM is slow, still polling so the group keeps us.

        The partitions are paused, so polls return no messages; one that slips
        through is kept for the next round, never lost.
        """
        deadline = self.clock() + seconds
        while not self._stop.is_set():
            left = deadline - self.clock()
            if left <= 0:
                return True
            message = self._consumer.poll(min(POLL_STEP_S, left))
            if message is not None:
                self._carry.append(message)
        return False

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        log.info("assigned %s", _names(partitions))
        self._assigned_at = self.clock()

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        log.info("revoked %s", _names(partitions))
        numbers = {tp.partition for tp in partitions}
        dropped = self.coalescer.forget_partitions(numbers)
        for number in numbers:
            self._offsets.pop(number, None)
        self._carry = [m for m in self._carry if m.partition() not in numbers]
        if dropped:
            log.info("left %d pending changes to the partitions' new owner", dropped)

    def _summary(self, since: Any) -> None:
        self._update_lag()
        log.info("CRM sink (%s): %s", self.target.name, self.metrics.summary(since))

    def _update_lag(self) -> None:
        from confluent_kafka import KafkaException

        consumer = self._consumer
        if consumer is None:
            return
        try:
            assignment = consumer.assignment()
            committed = consumer.committed(assignment, timeout=2.0)
            lag = 0
            for tp in committed:
                low, high = consumer.get_watermark_offsets(tp, timeout=2.0)
                done = tp.offset if tp.offset >= 0 else low
                lag += max(0, high - done)
        except KafkaException as exc:
            log.debug("lag unknown: %s", exc)
            return
        self.metrics.set_lag(lag)

    def _close(self) -> None:
        if self._producer is not None:
            self._producer.flush(COMMIT_TIMEOUT_S)
        if self._consumer is not None:
            self._consumer.close()
        self._consumer = self._producer = None


def _names(partitions: list[Any]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
