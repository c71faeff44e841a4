"""Delivering changes to a target: pacing, retries, bisection of refused batches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stream.errors import SinkError
from stream.sink.coalesce import Change
from stream.sink.metrics import SinkMetrics
from stream.sink.ratelimit import Backoff, TokenBucket
from stream.sink.targets import Target, Verdict
from stream.sink.transport import Transport

log = logging.getLogger(__name__)

# Waits for `seconds`; returns False when the sink is stopping instead.
Wait = Callable[[float], bool]


class Stopped(Exception):
    """The sink was asked to stop while a batch was still unanswered."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A change the CRM refused for good, with the CRM's answer."""

    change: Change
    status: int
    answer: Any


@dataclass
class Report:
    accepted: list[Change] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class Delivery:
    """Sends changes through one target until each is accepted or rejected.

    Policy, in order of the answer:
    - 2xx: accepted (a 207 may refuse single contacts: those are rejected);
    - 401/403, or HubSpot naming a property that does not exist: the setup
      is wrong; SinkError stops the sink, nothing is committed, so a restart
      after the fix sends everything;
    - 429: wait Retry-After (or the backoff) and hold the whole target off;
    - 408, 5xx, timeouts, network errors: retry with exponential backoff and
      jitter, then at the longest backoff for as long as it takes;
    - any other 4xx: halve the batch until the refusing contact is alone,
      then reject it, so one bad contact never costs the others their update.
    """

    def __init__(
        self,
        target: Target,
        transport: Transport,
        bucket: TokenBucket,
        backoff: Backoff,
        metrics: SinkMetrics,
        *,
        timeout: float,
        wait: Wait,
    ) -> None:
        self.target = target
        self.transport = transport
        self.bucket = bucket
        self.backoff = backoff
        self.metrics = metrics
        self.timeout = timeout
        self.wait = wait

    def deliver(self, changes: Sequence[Change]) -> Report:
        """Every change ends accepted or rejected; Stopped or SinkError otherwise."""
        report = Report()
        for batch in self.target.batches(changes):
            self._send(batch, report)
        return report

    def _send(self, batch: Sequence[Change], report: Report) -> None:
        verdict = self._until_answered(batch)

        if verdict.kind == "ok":
            for change in batch:
                if change.contact_id in verdict.rejected:
                    answer = verdict.rejected[change.contact_id]
                    report.rejected.append(Rejection(change, verdict.status, answer))
                else:
                    report.accepted.append(change)
            if verdict.rejected:
                log.warning(
                    "%s refused %d of %d contacts in a batch (HTTP %d); "
                    "they go to the rejected topic",
                    self.target.name,
                    len(verdict.rejected),
                    len({c.contact_id for c in batch}),
                    verdict.status,
                )
            return

        contacts = list(dict.fromkeys(c.contact_id for c in batch))
        if len(contacts) > 1:
            half = set(contacts[: len(contacts) // 2])
            log.info(
                "%s refused a batch of %d contacts (HTTP %d); splitting it to "
                "find the refused ones",
                self.target.name,
                len(contacts),
                verdict.status,
            )
            self._send([c for c in batch if c.contact_id in half], report)
            self._send([c for c in batch if c.contact_id not in half], report)
            return
        log.warning(
            "%s refused contact %s (HTTP %d); it goes to the rejected topic",
            self.target.name,
            contacts[0],
            verdict.status,
        )
        report.rejected.extend(
            Rejection(c, verdict.status, verdict.answer) for c in batch
        )

    def _until_answered(self, batch: Sequence[Change]) -> Verdict:
        """Sends until the answer is ok or reject; retries everything else."""
        failures = 0
        throttled = 0
        while True:
            self._pace(self.bucket.reserve())
            request = self.target.build(batch)
            self.metrics.add("requests")
            try:
                response = self.transport.send(request, self.timeout)
            except OSError as exc:
                verdict = Verdict("retry", 0, answer=type(exc).__name__)
            else:
                verdict = self.target.interpret(batch, response)

            if verdict.kind in ("ok", "reject"):
                return verdict
            if verdict.kind == "fatal":
                raise SinkError(
                    f"{self.target.name} answered HTTP {verdict.status}: "
                    f"{verdict.detail}. Nothing was committed, so a restart "
                    "after the fix sends everything."
                )

            self.metrics.add("retried")
            if verdict.status == 429:
                throttled += 1
                delay = verdict.retry_after
                if delay is None:
                    delay = self.backoff.delay(throttled)
                self.bucket.hold_off(delay)
                log.info(
                    "%s is rate limiting (HTTP 429); waiting %.1fs",
                    self.target.name,
                    delay,
                )
                # The next round's reserve() now waits out the hold-off.
                continue

            failures += 1
            delay = self.backoff.delay(failures)
            what = f"HTTP {verdict.status}" if verdict.status else verdict.answer
            if self.backoff.exhausted(failures):
                log.error(
                    "%s has failed %d times in a row (%s); still retrying every "
                    "%.0fs, nothing is skipped",
                    self.target.name,
                    failures,
                    what,
                    delay,
                )
            else:
                log.warning(
                    "%s failed (%s); retry %d in %.1fs",
                    self.target.name,
                    what,
                    failures,
                    delay,
                )
            self._pace(delay)

    def _pace(self, seconds: float) -> None:
        if seconds > 0 and not self.wait(seconds):
            raise Stopped
