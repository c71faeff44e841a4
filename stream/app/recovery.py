"""Rebuilds the in-memory decay schedule from the table after a rebalance.

The schedule lives only in memory, so when partitions are assigned (at
start-up, or taken over from another worker) their contacts are read back
from the local RocksDB, which Faust has just restored from the changelog.
This reads every stored contact of those partitions once: cheap enough at
start-up for hundreds of thousands of contacts, but it grows with them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from stream.app.store import TableStore
from stream.processor import Processor
from stream.state import ContactState

log = logging.getLogger(__name__)


def drop(store: TableStore, processor: Processor, partitions: Iterable[int]) -> None:
    """Forget the contacts of partitions this worker no longer owns."""
    gone = sorted(partitions)
    if not gone:
        return
    for contact_id in store.forget(gone):
        processor.schedule.set(contact_id, None)
    log.info("partitions dropped: %s", gone)


@dataclass
class Resend:
    """Stored changes of batches not confirmed sent, to send again in order."""

    changes: list[tuple[str, bool, bytes]] = field(default_factory=list)
    # Partition -> the highest batch whose changes are among them.
    batches: dict[int, int] = field(default_factory=dict)
    # Erased contacts whose records still wait for their tombstone.
    erased: list[tuple[int, str]] = field(default_factory=list)


def rebuild(
    store: TableStore,
    processor: Processor,
    partitions: Iterable[int],
    *,
    event_clock: bool,
) -> Resend:
    """Bind and schedule the stored contacts of `partitions`, and collect the
    changes they hold that no marker says were sent.

    Each partition's stored clock says how far its decay re-grades had run,
    so a contact is scheduled for the first boundary after it. On the event
    clock the scoring clock also resumes from the highest stored clock, so a
    restart scores exactly as an uninterrupted run would.
    """
    started = time.monotonic()
    resend = Resend()
    scanned = 0
    added = sorted(partitions)
    highest = 0
    pending: list[tuple[int, str, ContactState]] = []
    for partition in added:
        clock = store.read_clock(partition)
        if clock is not None and event_clock:
            now = processor.now
            processor.now = clock if now is None else max(now, clock)
        sent = store.read_sent(partition)
        highest = max(highest, sent)
        for _, contact_id, state in store.scan([partition], erased=True):
            scanned += 1
            store.bind(contact_id, partition)
            if state.forgotten:
                resend.erased.append((partition, contact_id))
            if state.has_live_activity():
                after = clock if clock is not None else latest_input(state)
                processor.track(contact_id, state, after)
            if state.unsent:
                highest = max(highest, state.unsent_batch)
                if state.unsent_batch > sent:
                    pending.append((state.unsent_batch, contact_id, state))
                    batches = resend.batches
                    batches[partition] = max(
                        state.unsent_batch, batches.get(partition, 0)
                    )
    # Batches are numbered in the order they were sent; within one batch
    # contacts are independent, and each contact keeps its changes' order.
    pending.sort(key=lambda item: item[0])
    resend.changes = [
        (contact_id, shadow, value)
        for _, contact_id, state in pending
        for shadow, value in state.unsent
    ]
    store.recovered(highest)
    log.info(
        "partitions assigned: %s; %d contacts read in %.2f s",
        added,
        scanned,
        time.monotonic() - started,
    )
    return resend


def latest_input(state: ContactState) -> int:
    """The latest input time a record knows, when no clock was stored."""
    times = [*state.seen.values(), *(ts for _, ts in state.properties.values())]
    return max(times, default=0)
