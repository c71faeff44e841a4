"""Running the stream worker in a subprocess and reading what it produced."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from stream import jsonutil
from stream.app.app import faust_id
from stream.app.lag import LagProbe
from stream.app.process import WorkerProcess, spawn_worker
from stream.app.publish import parse_lines, publish
from stream.app.settings import Settings
from stream.app.store import is_contact_key
from stream.app.tail import read_all
from stream.kafka import topics
from stream.state import ContactState

REPO = Path(__file__).resolve().parents[2]


def start_worker(settings: Settings, log: Path) -> WorkerProcess:
    return spawn_worker(settings, log)


def publish_records(
    config: Mapping[str, str], prefix: str, records: Iterable[Mapping[str, Any]]
) -> int:
    report = publish(records, config, prefix)
    assert report.skipped == 0, report.skip_reasons
    return report.total


def publish_lines(config: Mapping[str, str], prefix: str, lines: list[bytes]) -> int:
    report = publish(parse_lines(lines), config, prefix)
    return report.total


def publish_raw(
    config: Mapping[str, str],
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes | None]],
) -> int:
    """Send (key, value) pairs as they are, without any checks."""
    from confluent_kafka import Producer

    producer = Producer({**config, "partitioner": "murmur2_random"})
    n = 0
    for key, value in messages:
        producer.produce(topic, value, key)
        n += 1
    assert producer.flush(30) == 0
    return n


def wait_consumed(
    config: Mapping[str, str], worker: WorkerProcess, timeout: float = 120.0
) -> None:
    """Until the worker's group has committed every input partition to its end."""
    deadline = time.monotonic() + timeout
    with LagProbe(config, worker.settings) as probe:
        while True:
            if not worker.running():
                raise AssertionError(
                    f"worker exited with {worker.proc.returncode}:\n{worker.log_tail()}"
                )
            behind = probe.behind()
            if behind == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"worker still {behind} inputs behind after {timeout} s:\n"
                    f"{worker.log_tail()}"
                )
            time.sleep(0.3)


def read_changes(
    config: Mapping[str, str], prefix: str, short: str = topics.SCORE_CHANGES
) -> list[dict[str, Any]]:
    topic = topics.topic_name(short, prefix)
    return [jsonutil.loads(v) for _, _, v in read_all(config, [topic], idle_s=2.0)]


def read_dead_letters(config: Mapping[str, str], prefix: str) -> list[dict[str, Any]]:
    return read_changes(config, prefix, topics.DEAD_LETTER)


def read_states(
    config: Mapping[str, str], settings: Settings
) -> dict[str, ContactState]:
    """The latest record of every contact in the table's changelog."""
    topic = f"{faust_id(settings)}-contacts-changelog"
    latest: dict[bytes, bytes] = {}
    for _, key, value in read_all(config, [topic], idle_s=2.0):
        if key is not None and is_contact_key(key):
            latest[key] = value
    return {k.decode(): ContactState.from_bytes(v) for k, v in latest.items()}


def by_contact_model(
    changes: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    out: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for change in changes:
        out[(change["contact_id"], change["model_id"])].append(change)
    return out


def seq_problems(
    grouped: Mapping[tuple[str, str], list[Mapping[str, Any]]],
) -> list[Any]:
    """(contact, model, seqs) wherever seqs are not exactly 1..n in order."""
    return [
        (key, [c["seq"] for c in changes])
        for key, changes in grouped.items()
        if [c["seq"] for c in changes] != list(range(1, len(changes) + 1))
    ]
