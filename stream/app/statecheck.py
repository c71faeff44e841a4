"""Refuses to restore the contacts table from a changelog that lost records.

Faust restores a table partition by reading its changelog from the offset
its local RocksDB has reached, or from the start when the data dir is new.
When the oldest records of the changelog are gone (an operator added
`delete` to the topic's cleanup policy and retention or DeleteRecords
removed them), Faust quietly starts at the first record still there: the
contacts only the deleted records held would vanish, and the worker would
score them again from nothing, announcing their grades a second time with
seq 1. This table checks, after its partitions are opened and before
recovery reads anything, that no record it still needs was deleted, and
stops the worker with a message naming the partitions if one was.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import faust

from stream.errors import StateError

log = logging.getLogger(__name__)

WATERMARK_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class Gap:
    """Records of one changelog partition that are needed but deleted."""

    topic: str
    partition: int
    local: int | None
    earliest: int

    def describe(self) -> str:
        have = (
            "an empty local state"
            if self.local is None
            else f"local state up to offset {self.local}"
        )
        return (
            f"{self.topic}[{self.partition}] now starts at offset {self.earliest}, "
            f"but {have} needs it from offset {needed_from(self.local)}"
        )


def needed_from(local: int | None) -> int:
    """The first changelog offset a partition with state up to `local` reads."""
    return 0 if local is None else local + 1


def find_gaps(
    local: Mapping[tuple[str, int], int | None],
    earliest: Mapping[tuple[str, int], int],
) -> list[Gap]:
    """Partitions whose first remaining record lies past the first one needed."""
    return [
        Gap(topic, partition, offset, earliest[(topic, partition)])
        for (topic, partition), offset in sorted(local.items())
        if earliest.get((topic, partition), 0) > needed_from(offset)
    ]


def gaps_error(gaps: Iterable[Gap]) -> StateError:
    lines = "; ".join(gap.describe() for gap in gaps)
    return StateError(
        "the contacts table cannot be recovered: changelog records it needs were "
        f"deleted ({lines}). Restoring would silently drop the contacts those "
        "records held. Restore the worker's data dir from a backup, or, to start "
        "over on purpose, delete the changelog topic and the consumer group's "
        "offsets so every input is scored again. Keep the changelog's "
        "cleanup.policy at 'compact' so this cannot happen"
    )


def low_watermarks(
    client_config: Mapping[str, str], tps: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """The first offset still stored in each (topic, partition)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            **client_config,
            "group.id": f"scorestream-statecheck-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": "false",
        }
    )
    try:
        out = {}
        for topic, partition in tps:
            low, _ = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=WATERMARK_TIMEOUT_S
            )
            out[(topic, partition)] = int(low)
        return out
    finally:
        consumer.close()


class CheckedTable(faust.Table[bytes, bytes]):
    """A Faust table that will not restore across deleted changelog records."""

    client_config: Mapping[str, str] = {}

    async def on_rebalance(
        self,
        assigned: set[Any],
        revoked: set[Any],
        newly_assigned: set[Any],
        generation_id: int = 0,
    ) -> None:
        # The store opens the new partitions here; recovery starts reading
        # only after every table's on_rebalance returned.
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        mine = self.changelog_topic.topics
        standbys = self.app.assignor.assigned_standbys()
        tps = [tp for tp in newly_assigned if tp.topic in mine and tp not in standbys]
        if not tps:
            return
        local = {(tp.topic, tp.partition): self.data.persisted_offset(tp) for tp in tps}
        earliest = await asyncio.to_thread(low_watermarks, self.client_config, local)
        gaps = find_gaps(local, earliest)
        if gaps:
            error = gaps_error(gaps)
            log.critical("%s", error)
            raise error
