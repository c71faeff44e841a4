"""Contact records in the worker's Faust table, one write per contact per batch.

The processor reads and writes contacts through `TableStore` exactly as it
does through the in-memory store offline. Writes are held until `flush()`,
so a batch that touches one contact fifty times writes its record once: to
the partition's local RocksDB and to the table's changelog topic.

Faust's own table writes take the partition from the event being handled in
the current task. A batch spans several partitions, and decay re-grades run
from a timer with no event at all, so this adapter writes by explicit
partition instead: every contact is bound to the partition its inputs
arrive on (or, after recovery, the partition whose database holds it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from stream.errors import StateError
from stream.state import ContactState

log = logging.getLogger(__name__)

# Contact ids cannot hold control characters (decode rejects them), so a
# key starting with NUL can never collide with a contact.
CLOCK_KEY = b"\x00clock"


class TableStore:
    """A StateStore over the Faust table `table` (bytes keys and values)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._pending: dict[str, ContactState] = {}
        self._dirty: set[str] = set()
        self.partition_of: dict[str, int] = {}
        self.writes = 0

    # -- StateStore -----------------------------------------------------------

    def get(self, contact_id: str) -> ContactState | None:
        state = self._pending.get(contact_id)
        if state is not None:
            return state
        partition = self.partition_of.get(contact_id)
        if partition is None:
            return None
        raw = self._db(partition).get(contact_id.encode())
        if raw is None:
            return None
        state = ContactState.from_bytes(raw)
        self._pending[contact_id] = state
        return state

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

    def snapshot(self, contact_id: str) -> bytes | None:
        """The contact's current record, to undo a half-applied input."""
        state = self.get(contact_id)
        return None if state is None else state.to_bytes()

    def restore(self, contact_id: str, record: bytes | None) -> None:
        """Put back a record taken by `snapshot` (None: the contact is new)."""
        if record is None:
            self._pending.pop(contact_id, None)
            self._dirty.discard(contact_id)
        else:
            self._pending[contact_id] = ContactState.from_bytes(record)

    def flush(self) -> int:
        """Write every contact changed since the last flush; returns how many."""
        written = 0
        for contact_id in self._dirty:
            state = self._pending[contact_id]
            self._write(
                self.partition_of[contact_id], contact_id.encode(), state.to_bytes()
            )
            written += 1
        self._dirty.clear()
        self._pending.clear()
        self.writes += written
        return written

    def discard(self) -> None:
        """Forget unwritten changes (the batch is abandoned)."""
        self._dirty.clear()
        self._pending.clear()

    # -- the scoring clock ----------------------------------------------------

    def read_clock(self, partition: int) -> int | None:
        raw = self._db(partition).get(CLOCK_KEY)
        return None if raw is None else int(raw)

    def write_clock(self, partition: int, now: int) -> None:
        """Persist how far this partition's decay re-grades have run."""
        self._write(partition, CLOCK_KEY, str(now).encode())

    # -- recovery -------------------------------------------------------------

    def scan(
        self, partitions: Iterable[int]
    ) -> Iterator[tuple[int, str, ContactState]]:
        """Every contact record stored locally for `partitions`.

        Reads each record once: the cost grows with the number of contacts,
        which is acceptable at start-up and after a rebalance.
        """
        skip = {CLOCK_KEY, self._offset_key()}
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
                yield partition, contact_id, state

    def forget(self, partitions: Iterable[int]) -> list[str]:
        """Drop the bindings of contacts in revoked `partitions`."""
        gone = set(partitions)
        dropped = [c for c, p in self.partition_of.items() if p in gone]
        for contact_id in dropped:
            del self.partition_of[contact_id]
            self._pending.pop(contact_id, None)
            self._dirty.discard(contact_id)
        return dropped

    # -- Faust internals, kept in one place -----------------------------------

    def _db(self, partition: int) -> Any:
        # The per-partition RocksDB handle Faust opened (rocksdict, raw mode).
        return self.table.data._db_for_partition(partition)

    def _offset_key(self) -> bytes:
        key: bytes = self.table.data.offset_key
        return key

    def _write(self, partition: int, key: bytes, value: bytes) -> None:
        self._db(partition).put(key, value)
        self.table.send_changelog(partition, key, value)
