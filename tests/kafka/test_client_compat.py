"""aiokafka and Faust, as the stream worker uses them, against the pinned broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, TopicPartition

from stream.kafka.config import aiokafka_kwargs, kafka_client_config

pytestmark = pytest.mark.broker


async def _round_trip(bootstrap: str, topic: str, count: int) -> list[bytes]:
    kwargs = aiokafka_kwargs(kafka_client_config(bootstrap))
    producer = AIOKafkaProducer(**kwargs, enable_idempotence=True)
    await producer.start()
    try:
        for i in range(count):
            await producer.send(topic, key=b"c%d" % (i % 7), value=b"%d" % i)
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, **kwargs, group_id=f"{topic}-g", auto_offset_reset="earliest"
    )
    await consumer.start()
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while len(values) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            values += [m.value for batch in batches.values() for m in batch]
    finally:
        await consumer.stop()
    return values


def test_aiokafka_round_trip(
    kafka_bootstrap: str, kafka_topics: Callable[..., dict[str, str]]
) -> None:
    topic = kafka_topics()["conversions"]

    values = asyncio.run(_round_trip(kafka_bootstrap, topic, 500))

    assert sorted(int(v) for v in values) == list(range(500))


async def _transaction(bootstrap: str, topic: str) -> None:
    kwargs = aiokafka_kwargs(kafka_client_config(bootstrap))
    producer = AIOKafkaProducer(**kwargs, transactional_id=f"{topic}-tx")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await producer.abort_transaction()
    finally:
        await producer.stop()


def test_transactions_hide_aborted_records(
    kafka_config: dict[str, str], kafka_topics: Callable[..., dict[str, str]]
) -> None:
    topic = kafka_topics(partitions=1)["dead-letter"]

    asyncio.run(_transaction(kafka_config["bootstrap.servers"], topic))

    consumer = Consumer(
        {
            **kafka_config,
            "group.id": f"{topic}-read",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen: list[bytes] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and b"committed" not in seen:
        seen += [m.value() for m in consumer.consume(10, timeout=0.5) if not m.error()]
    consumer.close()
    assert seen == [b"committed"]


FAUST_APP = textwrap.dedent(
    """
    import os, sys
    import faust

    bootstrap, topic, datadir = sys.argv[1], sys.argv[2], sys.argv[3]
    app = faust.App(
        os.environ["APP_ID"],
        broker=f"kafka://{bootstrap}",
        store="rocksdb://",
        datadir=datadir,
        web_enabled=False,
        web_host="127.0.0.1",
        topic_partitions=2,
        topic_replication_factor=1,
        broker_session_timeout=6.0,
    )
    source = app.topic(topic, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw")
    counts = app.Table("counts", default=int, partitions=2, key_type=bytes)
    total = 0

    @app.agent(source)
    async def count(stream):
        global total
        async for key, _ in stream.items():
            counts[key] += 1
            total += 1

    @app.task
    async def produce():
        for i in range(100):
            await source.send(key=b"k%d" % (i % 5), value=b"x")

    @app.timer(0.5)
    async def finish():
        if total >= 100:
            counted = sum(counts[b"k%d" % i] for i in range(5))
            with open(os.path.join(datadir, "counted"), "w") as out:
                out.write(str(counted))
            os._exit(0)

    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()
    """
)


def test_faust_agent_with_rocksdb_table(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    topic_prefix: str,
    tmp_path: Path,
) -> None:
    topic = kafka_topics(partitions=2)["page-visits"]
    app_id = f"{topic_prefix}faust"
    (tmp_path / "faust").mkdir()

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            FAUST_APP,
            kafka_config["bootstrap.servers"],
            topic,
            str(tmp_path / "faust"),
        ],
        env={**os.environ, "APP_ID": app_id},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Faust turns print() into log lines, so the app reports through a file.
    assert (tmp_path / "faust" / "counted").read_text() == "100"
    changelog = f"{app_id}-counts-changelog"
    consumer = Consumer({**kafka_config, "group.id": f"{app_id}-check"})
    ends = [
        consumer.get_watermark_offsets(TopicPartition(changelog, p), timeout=10)[1]
        for p in range(2)
    ]
    consumer.close()
    assert sum(ends) >= 5, "every counted key must reach the table changelog"
