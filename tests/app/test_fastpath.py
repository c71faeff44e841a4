"""The batch consumer's offset bookkeeping around seeks, without a broker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from faust.types import TP

from stream.app import fastpath
from stream.app.app import create_app
from stream.app.settings import Settings

TOPIC = "unit.page-visits"
PARTITION = TP(TOPIC, 3)


@dataclass(eq=False)
class FakeMessage:
    """The fields of a Faust message the consumer's acknowledgement reads."""

    topic: str
    partition: int
    offset: int
    acked: bool = False

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)


async def no_handler(messages: Any) -> None:
    raise AssertionError("nothing is delivered in these tests")


@pytest.fixture
def consumer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    settings = Settings(
        # Never contacted: the consumer is driven by hand, the app never starts.
        bootstrap="127.0.0.1:9",
        topic_prefix="unit.",
        models=tmp_path / "models",
        data_dir=tmp_path / "state",
        partitions=4,
        clock="event",
        web_port=0,
    )
    app = create_app(settings)
    fastpath.install(app, frozenset({TOPIC}), no_handler)
    batch_consumer = app.consumer
    assert isinstance(batch_consumer, fastpath.BatchConsumer)
    monkeypatch.setattr(app.topics, "acks_enabled_for", lambda topic: True)
    monkeypatch.setattr(batch_consumer, "assignment", lambda: {PARTITION})
    yield batch_consumer


def test_a_hole_noted_before_a_seek_does_not_slow_the_commit_after_it(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Records 226..573 were taken from the fetch buffer and dropped during a
    # rebalance, so 574 came next and 227..574 was noted as a hole; the seek
    # at the end of the rebalance then went back to the committed 226.
    asyncio.run(consumer._add_gap(PARTITION, 227, 574))

    async def committed() -> dict[TP, int]:
        return {PARTITION: 226}

    monkeypatch.setattr(consumer, "seek_to_committed", committed)
    asyncio.run(consumer.perform_seek())
    for offset in range(226, 781):
        consumer.ack(FakeMessage(TOPIC, PARTITION.partition, offset))

    # All of 226..780 is scored: one commit covers it, not one offset a time.
    assert consumer._new_offset(PARTITION) == 781


def test_a_fetch_asks_for_the_partitions_active_when_it_was_made(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    active = {PARTITION}
    asked: list[set[TP]] = []

    async def getmany(partitions: set[TP], timeout: float) -> dict[TP, list[Any]]:
        # The rebalance pauses the last active partition while the thread
        # waits for records; an empty set would mean "all" to aiokafka.
        active.clear()
        asked.append(set(partitions))
        return {}

    monkeypatch.setattr(consumer._thread, "getmany", getmany)
    asyncio.run(consumer._getmany(active, 1.0))

    assert asked == [{PARTITION}]


def test_records_of_a_fetch_that_overlapped_a_seek_are_fetched_again(
    consumer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered: list[int] = []
    seeks: list[int] = []
    fetches = 0
    fetcher_stopped = asyncio.Event()
    fetcher = type("Fetcher", (), {"_stopped": fetcher_stopped})()

    async def handler(messages: Any) -> None:
        delivered.extend(m.offset for m in messages)

    async def committed() -> dict[TP, int]:
        seeks.append(226)
        return {PARTITION: 226}

    async def getmany(timeout: float) -> Any:
        nonlocal fetches
        fetches += 1
        if fetches == 1:
            # The end-of-rebalance seek runs while this fetch waits, and the
            # fetch returns records from after a dropped stretch.
            await consumer.perform_seek()
            offsets = range(574, 580)
        else:
            fetcher_stopped.set()
            offsets = range(226, 230)
        for offset in offsets:
            yield PARTITION, FakeMessage(TOPIC, PARTITION.partition, offset)

    consumer.transport.batch_handler = handler
    consumer.app.flow_control.resume()
    monkeypatch.setattr(consumer, "seek_to_committed", committed)
    monkeypatch.setattr(consumer, "getmany", getmany)
    asyncio.run(consumer._drain_messages(fetcher))

    # Scored from the committed offset on, in order; the seek was repeated
    # because the fetch may have taken records it had rewound to.
    assert delivered == [226, 227, 228, 229]
    assert len(seeks) == 2
    assert not consumer._gap[PARTITION]
    assert consumer._new_offset(PARTITION) == 230
