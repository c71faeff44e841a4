"""Latency from produce to score change, under a fixed offered load.

The producer is open-loop: it sends on a schedule whatever the worker does,
so a worker that falls behind shows as growing latency, not as a slower
producer. Every event is a new contact's first input, which always grades
it, so every event has a score change to wait for; the change names the
event in `trigger.event_id`. Send times stay in a map here, arrival times
are taken by a separate process reading the score-change topic.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench.common import percentile, say
from bench.endtoend import settings_for, start_worker, stop, wait_group
from stream.app.app import faust_id
from stream.kafka import topics
from stream.kafka.config import kafka_client_config

DRAIN_S = 60.0


def collect(
    config: dict[str, str], topic: str, out: str, ready: Any, done: Any
) -> None:
    """Write `event_id arrival` lines for every change until `done` is set."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition

    consumer = Consumer(
        {
            **config,
            "group.id": f"bench-lat-{uuid.uuid4().hex[:6]}",
            "fetch.wait.max.ms": "5",
        }
    )
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in meta.partitions])
    consumer.consume(1, timeout=1.0)
    ready.set()
    deadline = time.monotonic() + 1800
    with open(out, "w") as sink:
        while not done.is_set() and time.monotonic() < deadline:
            # consume() waits for the whole batch or the timeout and every
            # message is stamped after it returns, so the timeout is a bias
            # on the measured latency: keep it far below the figures sought.
            for msg in consumer.consume(500, timeout=0.005):
                if msg.error() is not None:
                    continue
                arrived = time.time()
                trigger = orjson.loads(msg.value()).get("trigger") or {}
                if "event_id" in trigger:
                    sink.write(f"{trigger['event_id']} {arrived}\n")
            sink.flush()
    consumer.close()


def offered(
    producer: Any, topic: str, rate: int, seconds: float, tag: str
) -> dict[str, float]:
    """Send rate * seconds page visits on schedule; their send times."""
    sent: dict[str, float] = {}
    total = int(rate * seconds)
    start = time.time()
    i = 0
    while i < total and time.time() - start < seconds * 3:
        due = min(total, int((time.time() - start) * rate) + 1)
        while i < due:
            event_id = f"{tag}-{i}"
            now = time.time()
            body = {
                "event_id": event_id,
                "contact_id": event_id,
                "timestamp": int(now * 1000),
                "url": "/support/faq",
                "properties": {"status": "200"},
            }
            producer.produce(topic, orjson.dumps(body), event_id.encode())
            sent[event_id] = now
            i += 1
        producer.poll(0)
        time.sleep(0.001)
    producer.flush(30)
    return sent


def run(bootstrap: str, work: Path, rates: list[int], seconds: float) -> list[Any]:
    from confluent_kafka import Producer

    config = kafka_client_config(bootstrap)
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    topics.create_topics(config, prefix, 4)
    settings = settings_for(bootstrap, prefix, work / "lat", "live")
    proc = start_worker(settings, work / "worker-latency.log")
    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    arrivals = work / "arrivals.txt"
    changes = topics.topic_name(topics.SCORE_CHANGES, prefix)
    collector = ctx.Process(
        target=collect, args=(config, changes, str(arrivals), ready, done)
    )
    producer = Producer({**config, "linger.ms": "1", "compression.type": "lz4"})
    topic = topics.topic_name(topics.PAGE_VISITS, prefix)
    rows = []
    try:
        wait_group(config, faust_id(settings), 1, [proc])
        collector.start()
        ready.wait(60)
        offered(producer, topic, 50, 2.0, "warm")
        time.sleep(3.0)
        for rate in rates:
            sent = offered(producer, topic, rate, seconds, f"r{rate}")
            rows.append(_settle(arrivals, sent, rate, seconds))
            r = rows[-1]
            say(
                f"lat   {rate:>6,}/s offered: p50 {r['p50_ms']} ms, p99 "
                f"{r['p99_ms']} ms, max {r['max_ms']} ms, lost {r['missing']}"
            )
    finally:
        done.set()
        collector.join(30)
        if collector.is_alive():
            collector.kill()
        stop(proc)
    return rows


def _settle(
    arrivals: Path, sent: dict[str, float], rate: int, seconds: float
) -> dict[str, Any]:
    """Waits (bounded) for every sent event's change; the latency figures."""
    first: dict[str, float] = {}
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline:
        first = {}
        for line in arrivals.read_text().splitlines():
            event_id, _, at = line.partition(" ")
            if event_id in sent and event_id not in first:
                first[event_id] = float(at)
        if len(first) >= len(sent):
            break
        time.sleep(0.5)
    lat = sorted((first[e] - sent[e]) * 1000 for e in first)
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "sent": len(sent),
        "received": len(lat),
        "missing": len(sent) - len(lat),
        "p50_ms": round(percentile(lat, 50), 1),
        "p99_ms": round(percentile(lat, 99), 1),
        "max_ms": round(lat[-1], 1) if lat else None,
    }
