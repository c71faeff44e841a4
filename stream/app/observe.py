"""Watches a running ScoringJob for the HTTP API: metrics, grade counts, readiness.

The job knows nothing about these observers. They hook onto a few of its
methods (inputs taken, rejects, emitted changes, decay sweeps) and onto
Faust's rebalance signals, so the scoring path pays one extra call per
batch and per change, and nothing when no one is watching.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from stream.app.gradecount import GradeCounts
from stream.app.metrics import WorkerMetrics
from stream.scoring.changes import ScoreChange
from stream.state import ContactState

log = logging.getLogger(__name__)

# How long the post-recovery recount waits for the job to take the new
# assignment over (the two run from the same signal, in no fixed order).
RECOVERY_WAIT_S = 120.0
RECOVERY_POLL_S = 0.05

RecoveryHook = Callable[[set[int], set[int]], Awaitable[None]]
"""Called with (partitions newly assigned, all partitions now owned)."""


def follow_recoveries(app: Any, job: Any, hook: RecoveryHook) -> None:
    """Run `hook` after each recovery, under the job's lock, once the job has
    taken the new assignment over.

    Faust sends its rebalance signal to every receiver in no fixed order, so
    a receiver cannot simply run after the job's own: it waits, bounded,
    until the job's partitions equal the new assignment.
    """
    state = {"owned": set[int]()}
    # Held until done: the event loop keeps only weak references to tasks.
    running: set[asyncio.Future[None]] = set()

    async def run(actives: set[int]) -> None:
        deadline = time.monotonic() + RECOVERY_WAIT_S
        while time.monotonic() < deadline:
            async with job.lock:
                if job.partitions == actives:
                    added = actives - state["owned"]
                    state["owned"] = set(actives)
                    await hook(added, actives)
                    return
            await asyncio.sleep(RECOVERY_POLL_S)
        log.error(
            "the job did not take partitions %s within %.0f s; %s skipped",
            sorted(actives),
            RECOVERY_WAIT_S,
            getattr(hook, "__qualname__", "a recovery step"),
        )

    async def on_recovered(sender: Any = None, **_: Any) -> None:
        actives = {
            tp.partition
            for tp in app.assignor.assigned_actives()
            if tp.topic in job.kinds
        }
        task = asyncio.ensure_future(run(actives))
        running.add(task)
        task.add_done_callback(running.discard)

    app.on_rebalance_complete.connect(on_recovered)


def tap(obj: Any, name: str, before: Callable[..., Any]) -> None:
    """Call `before(*args)` ahead of every call of the method `obj.name`.

    Raises AttributeError at install time if the job no longer has the
    method, so a rename fails the tests instead of silently blinding us.
    """
    original = getattr(obj, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before(*args, **kwargs)
        return original(*args, **kwargs)

    setattr(obj, name, wrapper)


class JobObserver:
    """Feeds metrics and grade counts from the job; tracks readiness."""

    def __init__(self, app: Any, job: Any) -> None:
        self.app = app
        self.job = job
        self.metrics = WorkerMetrics()
        self.counts = GradeCounts()
        self.ready = False
        self.recovering = False
        # The partitions the grade counts cover (recounted at their recovery).
        self.counted: set[int] = set()

    def install(self) -> None:
        job = self.job
        tap(job, "handle_messages", self._inputs)
        tap(job, "_dead_letter", self._rejected)
        tap(job, "_emit", self._changes)
        tap(job, "_erased", self._erased)
        self._time_sweeps(job.processor)
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_rebalance_complete.connect(self._on_recovering)
        follow_recoveries(self.app, job, self._recount)

    # -- taps -----------------------------------------------------------------

    def _inputs(self, messages: Sequence[Any]) -> None:
        self.metrics.inputs(messages, time.time())

    def _rejected(self, _message: Any, _value: bytes, reason: str, *_: Any) -> None:
        self.metrics.dead_lettered.labels(reason).inc()

    def _changes(self, changes: Sequence[ScoreChange]) -> None:
        self.metrics.changes(changes)
        partition_of = self.job.store.partition_of
        for change in changes:
            partition = partition_of.get(change.contact_id)
            if partition is not None:
                self.counts.observe(change, partition)

    def _erased(self, contact_id: str, state: ContactState) -> None:
        partition = self.job.store.partition_of.get(contact_id)
        if partition is not None:
            self.counts.remove(state, partition)

    def _time_sweeps(self, processor: Any) -> None:
        advance = processor.advance
        metrics = self.metrics

        @functools.wraps(advance)
        def timed(now: int) -> list[ScoreChange]:
            before = processor.swept
            started = time.perf_counter()
            changes: list[ScoreChange] = advance(now)
            swept = processor.swept - before
            if swept:
                metrics.sweep.observe(time.perf_counter() - started)
                metrics.swept.inc(swept)
            return changes

        processor.advance = timed

    # -- rebalancing ----------------------------------------------------------

    async def _on_revoked(self, sender: Any = None, *args: Any, **_: Any) -> None:
        self.ready = False
        self.metrics.ready.set(0)

    async def _on_recovering(self, sender: Any = None, **_: Any) -> None:
        self.recovering = True

    async def _recount(self, added: set[int], actives: set[int]) -> None:
        """Runs under the job's lock, after the job's own recovery."""
        started = time.monotonic()
        counts = self.counts
        counts.drop(counts.partitions() - actives)
        read = counts.recount(self.job.store, sorted(added))
        self.counted = set(actives)
        self.metrics.partitions.set(len(actives))
        self.metrics.recoveries.inc()
        if added:
            self.metrics.contacts_recovered.set(read)
        self.recovering = False
        self.ready = True
        self.metrics.ready.set(1)
        log.info(
            "API ready: partitions %s; %d records counted in %.2f s",
            sorted(actives) or "none",
            read,
            time.monotonic() - started,
        )
