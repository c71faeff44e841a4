"""Contact records in the worker's Faust table, one write per contact per batch.

The processor reads and writes contacts through `TableStore` exactly as it
does through the in-memory store offline. Changed records stay in memory
until the job takes them (`take_records`) to send them to the changelog and
then writes them to the partition's local RocksDB (`write_local`), so a
batch that touches one contact fifty times writes its record once.

Faust's own table writes take the partition from the event being handled in
the current task. A batch spans several partitions, and decay re-grades run
from a timer with no event at all, so this adapter writes by explicit
partition instead: every contact is bound to the partition its inputs
arrive on (or, after recovery, the partition whose database holds it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from stream.errors import StateError
from stream.state import ContactState, GradeMark, Unsent

log = logging.getLogger(__name__)

# Contact ids cannot hold control characters (decode rejects them), so a
# key starting with NUL can never collide with a contact.
CLOCK_KEY = b"\x00clock"
# Per partition: the last batch whose score changes are confirmed sent.
SENT_KEY = b"\x00sent"


def is_contact_key(key: bytes) -> bool:
    """Whether a table key is a contact's (the others start with NUL)."""
    return not key.startswith(b"\x00")


# Contact states kept in memory between batches (a few KB each).
CACHE_CONTACTS = 20_000

Record = tuple[int, bytes, bytes]
"""(partition, key, value) of one table write."""


def copy_state(state: ContactState) -> ContactState:
    """A copy sharing nothing mutable with `state` (a quarter of a to_bytes)."""
    return ContactState(
        properties=dict(state.properties),
        counters={key: dict(counts) for key, counts in state.counters.items()},
        seen=dict(state.seen),
        grades={
            m: GradeMark(g.grade, g.seq, g.version, g.fit, g.cause)
            for m, g in state.grades.items()
        },
        unsent=list(state.unsent),
        unsent_batch=state.unsent_batch,
        forgotten=state.forgotten,
    )


@dataclass(slots=True)
class Batch:
    """What one publish writes: its number, the records, the partitions whose
    records carry score changes, and the erased contacts to delete once their
    final events are sent."""

    number: int
    records: list[Record]
    with_changes: set[int]
    erased: list[tuple[int, str]]
    # The same records without their unsent changes, for the local store.
    local: list[Record]


class TableStore:
    """A StateStore over the Faust table `table` (bytes keys and values)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._pending: dict[str, ContactState] = {}
        self._dirty: set[str] = set()
        self.partition_of: dict[str, int] = {}
        self.writes = 0
        # Score changes made since the last take, per contact, in order.
        self._unsent: dict[str, Unsent] = {}
        # The number the next take gives its batch; above every batch number
        # stored in an owned partition (see `recovered`).
        self.batch = 1

    # -- StateStore -----------------------------------------------------------

    def get(self, contact_id: str) -> ContactState | None:
        """The contact's state; None if unknown or erased."""
        state = self._pending.get(contact_id)
        if state is None:
            partition = self.partition_of.get(contact_id)
            if partition is None:
                return None
            raw = self._db(partition).get(contact_id.encode())
            if raw is None:
                return None
            state = ContactState.from_bytes(raw)
            self._pending[contact_id] = state
        return None if state.forgotten else state

    def put(self, contact_id: str, state: ContactState) -> None:
        if contact_id not in self.partition_of:
            raise StateError(
                f"contact {contact_id!r} has no partition; bind() it to the "
                "partition of its input before storing it"
            )
        self._pending[contact_id] = state
        self._dirty.add(contact_id)

    # -- batches --------------------------------------------------------------

    def bind(self, contact_id: str, partition: int) -> None:
        """Record that `contact_id`'s inputs and record live in `partition`."""
        self.partition_of[contact_id] = partition

    def snapshot(self, contact_id: str) -> ContactState | None:
        """What `restore` needs to undo a half-applied input: a copy of the
        contact's state if this batch changed it, else None (the stored
        record, or no record, is then what to go back to)."""
        state = self._pending.get(contact_id)
        if state is None or contact_id not in self._dirty:
            return None
        return copy_state(state)

    def add_unsent(self, contact_id: str, shadow: bool, value: bytes) -> None:
        """Keep a score change with its contact's record until it is sent."""
        self._unsent.setdefault(contact_id, []).append((shadow, value))
        if contact_id in self.partition_of:
            self._dirty.add(contact_id)

    def restore(self, contact_id: str, saved: ContactState | None) -> None:
        """Put back a state taken by `snapshot` (None: the stored one)."""
        if saved is None:
            self._pending.pop(contact_id, None)
            self._dirty.discard(contact_id)
        else:
            self._pending[contact_id] = saved

    def has_writes(self) -> bool:
        """Whether a take would return any record."""
        return bool(self._dirty)

    def forget_contact(self, contact_id: str) -> ContactState | None:
        """Erase the contact's state; its record becomes an erased marker
        until `delete_local`. Returns what was erased (None: nothing was)."""
        state = self.get(contact_id)
        if state is None:
            return None
        self._pending[contact_id] = ContactState(forgotten=True)
        self._dirty.add(contact_id)
        return state

    def take_records(self) -> Batch:
        """The records of every contact changed since the last take, each
        carrying the score changes made for it since then."""
        batch = Batch(self.batch, [], set(), [], [])
        for contact_id in self._dirty:
            state = self._pending[contact_id]
            partition = self.partition_of[contact_id]
            # A record's stored changes are only ever its latest batch's.
            state.unsent = self._unsent.pop(contact_id, [])
            state.unsent_batch = batch.number if state.unsent else 0
            if state.unsent:
                batch.with_changes.add(partition)
            if state.forgotten:
                batch.erased.append((partition, contact_id))
            key = contact_id.encode()
            sent, kept = state.to_bytes_both()
            batch.records.append((partition, key, sent))
            batch.local.append((partition, key, kept))
        self._dirty.clear()
        if self._unsent:
            raise StateError(
                f"score changes for {len(self._unsent)} contacts that have no "
                "record to travel with (first: "
                f"{next(iter(self._unsent))!r}); this is a bug"
            )
        self.writes += len(batch.records)
        if batch.records:
            self.batch += 1
        return batch

    @staticmethod
    def sent_record(partition: int, batch: int) -> Record:
        """Says the changes of batches up to `batch` in `partition` went out."""
        return partition, SENT_KEY, str(batch).encode()

    def read_sent(self, partition: int) -> int:
        raw = self._db(partition).get(SENT_KEY)
        return 0 if raw is None else int(raw)

    def recovered(self, highest_batch: int) -> None:
        """Number later batches above `highest_batch`, a batch number found
        in a partition just taken over: the markers compare numbers."""
        self.batch = max(self.batch, highest_batch + 1)

    def write_local(self, records: Iterable[Record]) -> None:
        """Write records to the local RocksDB (after the changelog has them)."""
        self.put_local(records)
        # Records just written stay cached, so a contact active in the next
        # batches is not read and parsed again; past the limit only what was
        # changed since `take_records` stays.
        if len(self._pending) > CACHE_CONTACTS:
            self._pending = {c: self._pending[c] for c in self._dirty}

    def delete_local(self, erased: Iterable[tuple[int, str]]) -> None:
        """Delete erased contacts' records locally (the caller sends their
        tombstones) and forget them, unless an input revived one meanwhile."""
        for partition, contact_id in erased:
            state = self._pending.get(contact_id)
            if state is not None and not state.forgotten:
                continue
            self._db(partition).delete(contact_id.encode())
            self._pending.pop(contact_id, None)
            if contact_id not in self._dirty:
                self.partition_of.pop(contact_id, None)

    def put_local(self, records: Iterable[Record]) -> None:
        """Only the RocksDB writes of `write_local`; the cache stays as it is."""
        for partition, key, value in records:
            self._db(partition).put(key, value)

    def discard(self) -> None:
        """Forget unwritten changes (the batch is abandoned)."""
        self._dirty.clear()
        self._pending.clear()
        self._unsent.clear()

    # -- the scoring clock ----------------------------------------------------

    def read_clock(self, partition: int) -> int | None:
        raw = self._db(partition).get(CLOCK_KEY)
        return None if raw is None else int(raw)

    @staticmethod
    def clock_record(partition: int, now: int) -> Record:
        """How far this partition's decay re-grades have run, as a record."""
        return partition, CLOCK_KEY, str(now).encode()

    # -- recovery -------------------------------------------------------------

    def scan(
        self, partitions: Iterable[int], *, erased: bool = False
    ) -> Iterator[tuple[int, str, ContactState]]:
        """Every contact record stored locally for `partitions` (and, with
        `erased`, the records of erased contacts not yet deleted).

        Reads each record once: the cost grows with the number of contacts,
        which is acceptable at start-up and after a rebalance.
        """
        skip = {CLOCK_KEY, SENT_KEY, self._offset_key()}
        for partition in partitions:
            for key, value in self._db(partition).items():
                if key in skip:
                    continue
                contact_id = key.decode()
                try:
                    state = ContactState.from_bytes(value)
                except StateError as exc:
                    log.error(
                        "skipping contact %r in partition %d: %s",
                        contact_id,
                        partition,
                        exc,
                    )
                    continue
                if state.forgotten and not erased:
                    continue
                yield partition, contact_id, state

    def forget(self, partitions: Iterable[int]) -> list[str]:
        """Drop the bindings of contacts in revoked `partitions`."""
        gone = set(partitions)
        dropped = [c for c, p in self.partition_of.items() if p in gone]
        for contact_id in dropped:
            del self.partition_of[contact_id]
            self._pending.pop(contact_id, None)
            self._dirty.discard(contact_id)
            self._unsent.pop(contact_id, None)
        return dropped

    # -- Faust internals, kept in one place -----------------------------------

    def _db(self, partition: int) -> Any:
        # The per-partition RocksDB handle Faust opened (rocksdict, raw mode).
        return self.table.data._db_for_partition(partition)

    def _offset_key(self) -> bytes:
        key: bytes = self.table.data.offset_key
        return key

    def changelog_topic(self) -> str:
        name: str = self.table.changelog_topic.get_topic_name()
        return name

    def persisted(self, sent: Any) -> None:
        """Tell Faust a changelog record is stored (a future of its metadata).

        Faust keeps the highest such offset in each partition's RocksDB, so
        a restart replays only the changelog beyond it.
        """
        self.table._on_changelog_sent(sent)
