"""End-to-end figures on a broker: worker throughput beside raw confluent-kafka
and a bare Faust agent, one worker against two, and worker state on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.bench_worker import passthrough, produce, visits
from bench.common import ROOT, folder_bytes, say
from stream.app.app import faust_id
from stream.app.publish import parse_lines, publish
from stream.app.settings import Settings
from stream.kafka import topics
from stream.kafka.config import kafka_client_config

# Bounds every wait so a stuck run ends by itself.
MAX_WAIT_S = 600.0
INPUTS = (topics.PAGE_VISITS, topics.CONVERSIONS, topics.PROPERTY_CHANGES)


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """The real worker as a process, settings passed as its env variables."""
    env = dict(os.environ)
    env.update(
        {
            "SCORESTREAM_BOOTSTRAP": settings.bootstrap,
            "SCORESTREAM_TOPIC_PREFIX": settings.topic_prefix,
            "SCORESTREAM_MODELS": str(settings.models),
            "SCORESTREAM_DATA_DIR": str(settings.data_dir),
            "SCORESTREAM_PARTITIONS": str(settings.partitions),
            "SCORESTREAM_CLOCK": settings.clock,
            "SCORESTREAM_WEB_PORT": "0",
        }
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "stream.app.worker"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process we started, then SIGKILL it if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def worker_totals(log: Path) -> dict[str, Any]:
    """The totals the worker logs when it stops; empty if it did not."""
    marker = "worker stopped; totals "
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if marker in line:
            totals: dict[str, Any] = json.loads(line.split(marker, 1)[1])
            return totals
    return {}


def settings_for(bootstrap: str, prefix: str, data_dir: Path, clock: str) -> Settings:
    return Settings(
        bootstrap=bootstrap,
        topic_prefix=prefix,
        models=ROOT / "models",
        data_dir=data_dir,
        partitions=4,
        clock=clock,  # type: ignore[arg-type]
        web_port=0,
    )


def wait_group(
    config: dict[str, str], group: str, members: int, procs: Sequence[Any]
) -> None:
    """Until `group` is stable with `members` members that all hold partitions."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(config)
    deadline = time.monotonic() + MAX_WAIT_S
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"a process exited early ({proc.returncode})")
        try:
            desc = admin.describe_consumer_groups([group])[group].result(10)
            held = [m for m in desc.members if m.assignment.topic_partitions]
            if desc.state == ConsumerGroupState.STABLE and len(held) == members:
                return
        except Exception:  # the group may not exist yet
            pass
        time.sleep(0.2)
    raise SystemExit(f"group {group} did not settle within {MAX_WAIT_S:.0f} s")


def end_offsets(config: dict[str, str], names: Sequence[str]) -> dict[Any, int]:
    from confluent_kafka import Consumer, TopicPartition

    probe = Consumer({**config, "group.id": f"bench-probe-{uuid.uuid4().hex[:6]}"})
    try:
        ends = {}
        for name in names:
            meta = probe.list_topics(name, timeout=10).topics[name]
            for p in meta.partitions:
                tp = TopicPartition(name, p)
                ends[(name, p)] = probe.get_watermark_offsets(tp, timeout=10)[1]
        return ends
    finally:
        probe.close()


def wait_committed(
    config: dict[str, str], group: str, ends: dict[Any, int], procs: Sequence[Any]
) -> None:
    """Until `group` has committed every offset up to `ends`."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    tps = [TopicPartition(t, p) for (t, p), end in ends.items() if end > 0]
    probe = Consumer({**config, "group.id": group})
    deadline = time.monotonic() + MAX_WAIT_S
    try:
        while time.monotonic() < deadline:
            for proc in procs:
                if proc.poll() is not None:
                    raise SystemExit(f"a worker exited early ({proc.returncode})")
            try:
                done = probe.committed(tps, timeout=10)
            except KafkaException:
                done = []
            if done and all(tp.offset >= ends[(tp.topic, tp.partition)] for tp in done):
                return
            time.sleep(0.05)
    finally:
        probe.close()
    raise SystemExit(f"group {group} did not finish within {MAX_WAIT_S:.0f} s")


def read_topic(config: dict[str, str], name: str) -> list[tuple[int, int]]:
    """(key + value bytes, timestamp ms) of every record of a topic."""
    from confluent_kafka import Consumer, TopicPartition

    ends = end_offsets(config, [name])
    consumer = Consumer({**config, "group.id": f"bench-read-{uuid.uuid4().hex[:6]}"})
    consumer.assign([TopicPartition(t, p, 0) for (t, p) in ends])
    want = sum(ends.values())
    out: list[tuple[int, int]] = []
    deadline = time.monotonic() + 120
    try:
        while len(out) < want and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error() is None:
                    size = len(msg.key() or b"") + len(msg.value() or b"")
                    out.append((size, msg.timestamp()[1]))
    finally:
        consumer.close()
    return out


def state_on_disk(
    config: dict[str, str], settings: Settings, contacts: int
) -> dict[str, Any]:
    """RocksDB folder and changelog bytes per contact after a worker run."""
    changelog = f"{faust_id(settings)}-contacts-changelog"
    records = read_topic(config, changelog)
    raw = sum(size for size, _ in records)
    disk = folder_bytes(settings.data_dir)
    return {
        "contacts": contacts,
        "rocksdb_bytes": disk,
        "rocksdb_bytes_per_contact": round(disk / contacts, 1),
        "changelog_records": len(records),
        "changelog_bytes_raw": raw,
        "changelog_bytes_per_contact_raw": round(raw / contacts, 1),
    }


def bare_faust(bootstrap: str, topic: str, expected: int, work: Path) -> dict[str, Any]:
    """events/s of a Faust agent that only reads, first to last message."""
    result = work / "bare.json"
    env = dict(os.environ)
    env.update(
        {
            "BENCH_BOOTSTRAP": bootstrap,
            "BENCH_TOPIC": topic,
            "BENCH_EXPECTED": str(expected),
            "BENCH_GROUP": f"bench-bare-{uuid.uuid4().hex[:8]}",
            "BENCH_PARTITIONS": "4",
        }
    )
    with (work / "bare.log").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_faust", str(result)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + MAX_WAIT_S
        while not result.exists() and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"bare Faust agent exited; see {work / 'bare.log'}")
            time.sleep(0.1)
    finally:
        stop(proc)
    seen = json.loads(result.read_text())
    span = max(seen["last"] - seen["first"], 1e-6)
    return {"events": seen["events"], "events_per_s": round(seen["events"] / span)}


def throughput(
    bootstrap: str, work: Path, events: int, contacts: int
) -> dict[str, Any]:
    """Raw consume, bare Faust and one worker on the same pre-produced topic."""
    config = kafka_client_config(bootstrap)
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    topics.create_topics(config, prefix, 4)
    topic = topics.topic_name(topics.PAGE_VISITS, prefix)
    produce_rate = produce(config, topic, visits(events, contacts))
    raw = passthrough(config, topic, events)
    say(f"e2e   raw consume {raw:,.0f} events/s")
    bare = bare_faust(bootstrap, topic, events, work)
    say(f"e2e   bare Faust agent {bare['events_per_s']:,} events/s")
    settings = settings_for(bootstrap, prefix, work / "w1", "event")
    log = work / "worker-1.log"
    proc = start_worker(settings, log)
    try:
        ends = end_offsets(config, [topic])
        wait_committed(config, faust_id(settings), ends, [proc])
    finally:
        stop(proc)
    totals = worker_totals(log)
    rate = totals.get("events_per_s", 0)
    say(f"e2e   worker {rate:,} events/s")
    return {
        "events": events,
        "contacts": contacts,
        "produce_events_per_s": round(produce_rate),
        "raw_events_per_s": round(raw),
        "bare_faust_events_per_s": bare["events_per_s"],
        "worker_events_per_s": rate,
        "worker_vs_raw": round(rate / raw, 4) if raw else None,
        "worker_vs_bare_faust": (
            round(rate / bare["events_per_s"], 3) if bare["events_per_s"] else None
        ),
        "worker_totals": totals,
        "state": state_on_disk(config, settings, contacts),
    }


def scaling(
    bootstrap: str, work: Path, events: int, contacts: int, workers: int
) -> dict[str, Any]:
    """`workers` workers already in their group, then `events` produced at once.

    The rate runs from the first produce to the last changelog write (each
    batch writes its contacts there after scoring), so it covers input to
    output for all workers on one clock.
    """
    config = kafka_client_config(bootstrap)
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    topics.create_topics(config, prefix, 4)
    topic = topics.topic_name(topics.PAGE_VISITS, prefix)
    messages = visits(events, contacts, seed=13)
    procs = []
    base = settings_for(bootstrap, prefix, work / "unused", "event")
    try:
        for w in range(workers):
            settings = settings_for(
                bootstrap, prefix, work / f"s{workers}-{w}", "event"
            )
            procs.append(start_worker(settings, work / f"scale-{workers}-{w}.log"))
        wait_group(config, faust_id(base), workers, procs)
        time.sleep(2.0)
        started = time.time()
        produce(config, topic, messages)
        wait_committed(config, faust_id(base), end_offsets(config, [topic]), procs)
    finally:
        for proc in procs:
            stop(proc)
    written = read_topic(config, f"{faust_id(base)}-contacts-changelog")
    last = max(ts for _, ts in written) / 1000
    rate = events / max(last - started, 1e-6)
    say(f"e2e   {workers} worker(s), input to output: {rate:,.0f} events/s")
    return {
        "workers": workers,
        "events": events,
        "seconds": round(last - started, 3),
        "events_per_s": round(rate),
    }


def real_data_state(bootstrap: str, work: Path, source: Path) -> dict[str, Any]:
    """The real data set through one worker: its state on disk and in Kafka."""
    config = kafka_client_config(bootstrap)
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    topics.create_topics(config, prefix, 4)
    lines = source.read_bytes().splitlines()
    publish(parse_lines(lines), config, prefix)
    contacts = len({json.loads(x)["contact_id"] for x in lines if x.strip()})
    settings = settings_for(bootstrap, prefix, work / "real", "event")
    log = work / "worker-real.log"
    proc = start_worker(settings, log)
    try:
        names = [topics.topic_name(t, prefix) for t in INPUTS]
        wait_committed(config, faust_id(settings), end_offsets(config, names), [proc])
    finally:
        stop(proc)
    totals = worker_totals(log)
    return {
        "inputs": len(lines),
        "worker_events_per_s": totals.get("events_per_s"),
        **state_on_disk(config, settings, contacts),
    }
