"""End-to-end stream-worker benchmark against a raw confluent-kafka passthrough.

Publishes N synthetic page visits over C contacts, then in the same run
measures (1) a plain confluent-kafka consumer that reads and parses every
message, and (2) the real worker (a subprocess, event clock, the repo's
models) from the start of its first batch to the end of its last, as the
worker itself reports on stopping (start-up and idle time left out).
Prints events/s of both and their ratio, and writes
bench/results/worker-<time>.json.

Usage: python -m bench.bench_worker [--events N] [--contacts C] [--partitions P]
Uses KAFKA_BOOTSTRAP if set, else starts a local broker for the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from stream.app.app import faust_id
from stream.app.process import spawn_worker
from stream.app.settings import Settings
from stream.kafka import topics
from stream.kafka.config import ensure_broker, kafka_client_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
T0 = 1_431_857_103_000
URLS = (
    "https://example.com/support/faq",
    "https://example.com/resources/guide",
    "https://example.com/blog/2015/05/kafka",
    "https://example.com/pricing",
    "https://example.com/files/brief.pdf",
)
# Bounds every wait so a stuck run ends by itself.
MAX_WAIT_S = 900.0


def visits(events: int, contacts: int, seed: int = 11) -> list[tuple[bytes, bytes]]:
    """(key, value) of `events` page visits, one second apart, random contacts."""
    rng = random.Random(seed)
    out = []
    for i in range(events):
        contact = f"contact-{rng.randrange(contacts):05d}"
        body = {
            "event_id": f"bench-{i}",
            "contact_id": contact,
            "timestamp": T0 + i * 1000,
            "url": rng.choice(URLS),
            "title": "Benchmark page",
        }
        out.append((contact.encode(), orjson.dumps(body)))
    return out


def produce(config: dict[str, str], topic: str, messages: list[Any]) -> float:
    from confluent_kafka import Producer

    producer = Producer(
        {
            **config,
            "partitioner": "murmur2_random",
            "linger.ms": "20",
            "compression.type": "lz4",
        }
    )
    started = time.perf_counter()
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120) != 0:
        raise SystemExit("the broker did not take every message within 120 s")
    return len(messages) / (time.perf_counter() - started)


def passthrough(config: dict[str, str], topic: str, expected: int) -> float:
    """events/s of consume(500) + JSON parse of every message, from assignment."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            **config,
            "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": "false",
        }
    )
    consumer.subscribe([topic])
    seen = 0
    started: float | None = None
    deadline = time.monotonic() + MAX_WAIT_S
    try:
        while seen < expected and time.monotonic() < deadline:
            batch = consumer.consume(500, timeout=0.5)
            if batch and started is None:
                started = time.perf_counter()
            for msg in batch:
                if msg.error() is None:
                    orjson.loads(msg.value())
                    seen += 1
        if started is None or seen < expected:
            raise SystemExit(f"passthrough read {seen} of {expected} messages")
        return seen / (time.perf_counter() - started)
    finally:
        consumer.close()


def worker_run(settings: Settings, expected: int, log: Path) -> dict[str, Any]:
    """Runs the worker until its group committed every input; its timings.

    The rate is taken between the first commit that covers some inputs and
    the commit that covers all of them, so start-up and the group join are
    left out (they are reported separately). Commits come every few seconds,
    which blurs each end by up to one commit interval.
    """
    started = time.perf_counter()
    # Every setting goes to the child explicitly, so no SCORESTREAM_*
    # variable of the calling shell can point it at another group.
    worker = spawn_worker(settings, log)
    proc = worker.proc
    try:
        first_at, first_done, done_at = _wait_committed(settings, expected, proc)
        cpu_s = _cpu_seconds(proc.pid)
    finally:
        worker.stop(60)
    measured_s = max(done_at - first_at, 1e-3)
    totals = _worker_totals(log)
    return {
        "events_per_s": totals["events_per_s"],
        "scoring_span_s": totals["span_s"],
        "scoring_busy_s": totals["busy_s"],
        "batches": totals["batches"],
        "events_per_s_by_commits": (expected - first_done) / measured_s,
        "wall_s_incl_startup": done_at - started,
        "cpu_s_incl_startup": cpu_s,
        "events_per_cpu_s_incl_startup": expected / cpu_s if cpu_s else None,
        "exit_code": proc.returncode,
    }


def _worker_totals(log: Path) -> dict[str, Any]:
    """The totals the worker logs when it stops (rate from its own clock)."""
    marker = "worker stopped; totals "
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if marker in line:
            totals: dict[str, Any] = json.loads(line.split(marker, 1)[1])
            return totals
    raise SystemExit(f"the worker did not log its totals; see {log}")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux only)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _wait_committed(
    settings: Settings, expected: int, proc: Any
) -> tuple[float, int, float]:
    """(time of first progress, inputs done then, time all were done)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    config = kafka_client_config(settings.bootstrap)
    topic = topics.topic_name(topics.PAGE_VISITS, settings.topic_prefix)
    tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
    probe = Consumer({**config, "group.id": faust_id(settings)})
    deadline = time.monotonic() + MAX_WAIT_S
    first: tuple[float, int] | None = None
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the worker exited early ({proc.returncode})")
            try:
                done = sum(max(tp.offset, 0) for tp in probe.committed(tps, timeout=10))
            except KafkaException:
                done = 0
            now = time.perf_counter()
            if done and first is None:
                first = (now, done)
            if done >= expected:
                if first is None or first[1] >= expected:
                    raise SystemExit("too few events to measure: raise --events")
                return first[0], first[1], now
            time.sleep(0.1)
    finally:
        probe.close()
    raise SystemExit(f"the worker did not finish within {MAX_WAIT_S:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--contacts", type=int, default=2_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    messages = visits(args.events, args.contacts)
    with ensure_broker(work / "kafka") as bootstrap:
        prefix = f"bench-{uuid.uuid4().hex[:8]}."
        config = kafka_client_config(bootstrap)
        topics.create_topics(config, prefix, args.partitions)
        topic = topics.topic_name(topics.PAGE_VISITS, prefix)
        produce_rate = produce(config, topic, messages)
        raw_rate = passthrough(config, topic, args.events)
        settings = Settings(
            bootstrap=bootstrap,
            topic_prefix=prefix,
            models=args.models,
            data_dir=work / "worker",
            partitions=args.partitions,
            clock="event",
            web_port=0,
        )
        worker = worker_run(settings, args.events, work / "worker.log")

    result = {
        "benchmark": "worker",
        "events": args.events,
        "contacts": args.contacts,
        "partitions": args.partitions,
        "models": sorted(p.stem for p in args.models.glob("*.y*ml")),
        "produce_events_per_s": round(produce_rate),
        "raw_consume_events_per_s": round(raw_rate),
        "worker_events_per_s": round(worker["events_per_s"]),
        "worker_vs_raw": round(worker["events_per_s"] / raw_rate, 4),
        "worker": worker,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "worker_log": str(work / "worker.log"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"worker-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"raw confluent-kafka consume+parse: {raw_rate:,.0f} events/s\n"
        f"stream worker end to end:          {worker['events_per_s']:,.0f} events/s "
        f"({worker['events_per_s'] / raw_rate:.1%} of raw; "
        f"{worker['wall_s_incl_startup']:.1f} s wall incl. start-up)\n"
        f"written to {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
