"""Running the stream worker in a subprocess and reading what it produced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream import jsonutil
from stream.app.app import faust_id
from stream.app.publish import parse_lines, publish
from stream.app.settings import Settings
from stream.app.store import CLOCK_KEY
from stream.app.tail import read_all
from stream.kafka import topics
from stream.state import ContactState

REPO = Path(__file__).resolve().parents[2]
INPUTS = (topics.PAGE_VISITS, topics.CONVERSIONS, topics.PROPERTY_CHANGES)


@dataclass
class Worker:
    """One `python -m stream.app.worker` process and its log file."""

    proc: subprocess.Popen[bytes]
    log: Path
    settings: Settings

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(
                    f"worker ignored SIGTERM for {timeout} s:\n{self.log_tail()}"
                ) from None
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start_worker(settings: Settings, log: Path) -> Worker:
    env = dict(os.environ)
    env.update(
        {
            "SCORESTREAM_BOOTSTRAP": settings.bootstrap,
            "SCORESTREAM_TOPIC_PREFIX": settings.topic_prefix,
            "SCORESTREAM_MODELS": str(settings.models),
            "SCORESTREAM_DATA_DIR": str(settings.data_dir),
            "SCORESTREAM_PARTITIONS": str(settings.partitions),
            "SCORESTREAM_CLOCK": settings.clock,
            "SCORESTREAM_WEB_PORT": str(settings.web_port),
            "SCORESTREAM_LOG_LEVEL": settings.log_level,
            "SCORESTREAM_APP_ID": settings.app_id,
        }
    )
    out = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream.app.worker"],
        env=env,
        cwd=REPO,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out.close()
    return Worker(proc, log, settings)


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
    config: Mapping[str, str], worker: Worker, timeout: float = 120.0
) -> None:
    """Until the worker's group has committed every input partition to its end."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    settings = worker.settings
    names = [topics.topic_name(t, settings.topic_prefix) for t in INPUTS]
    tps = [TopicPartition(n, p) for n in names for p in range(settings.partitions)]
    probe = Consumer({**config, "group.id": faust_id(settings)})
    deadline = time.monotonic() + timeout
    try:
        while True:
            if worker.proc.poll() is not None:
                raise AssertionError(
                    f"worker exited with {worker.proc.returncode}:\n{worker.log_tail()}"
                )
            try:
                behind = _behind(probe, tps)
            except KafkaException:
                # The group coordinator is still loading; ask again.
                behind = -1
            if behind == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"worker still {behind} inputs behind after {timeout} s:\n"
                    f"{worker.log_tail()}"
                )
            time.sleep(0.5)
    finally:
        probe.close()


def _behind(probe: Any, tps: list[Any]) -> int:
    behind = 0
    for tp in probe.committed(tps, timeout=10):
        _, high = probe.get_watermark_offsets(tp, timeout=10)
        behind += max(0, high - max(tp.offset, 0))
    return behind


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
        if key is not None and key != CLOCK_KEY:
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
