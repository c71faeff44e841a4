"""Hostile input at the stream level: dead-lettered with a reason, nothing else hurt.

Every kind of bad message the decoder knows (its table is reused), plus the
ones only a stream has: a missing or wrong Kafka key, an empty value, a
clock far ahead, a regex rule that explodes, bodies of several megabytes,
and broken model documents on the models topic. All are interleaved with a
slice of the real data, which must score exactly as its offline replay.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from stream.kafka import topics
from tests.app.helpers import (
    publish_lines,
    publish_raw,
    read_dead_letters,
    wait_consumed,
)
from tests.app.test_end_to_end import real_lines
from tests.reliability.compare import check_identical, read_output
from tests.reliability.test_rejected_input import EXPLODING, PAYLOAD_MODEL
from tests.test_decode import CASES, PV

pytestmark = [pytest.mark.broker, pytest.mark.reliability, pytest.mark.timeout(240)]

TOPIC_OF_KIND = {
    "page_visit": topics.PAGE_VISITS,
    "conversion": topics.CONVERSIONS,
    "property_change": topics.PROPERTY_CHANGES,
}
BIG = 3 * 1024 * 1024
BURST = 12
# A worker's resident memory may grow by this much over a burst of
# BURST * BIG bytes of rejected input (about 36 MB): it must not keep them.
RSS_BOUND = 120 * 1024 * 1024


@dataclass(frozen=True)
class Bad:
    """One hostile message and the reason it must be dead-lettered with."""

    name: str
    topic: str
    key: bytes | None
    value: bytes | None
    reason: str


def pv(**changes: object) -> bytes:
    return orjson.dumps({**PV, **changes})


def decoder_cases() -> list[Bad]:
    out = []
    for case in CASES:
        kind, body = case.input
        if kind == "replay":
            continue
        value = body if isinstance(body, bytes) else orjson.dumps(body)
        key = case.key if case.key is not None else b"c1"
        out.append(Bad(case.id, TOPIC_OF_KIND[kind], key, value, case.reason))
    return out


def stream_cases() -> list[Bad]:
    visits = topics.PAGE_VISITS
    return [
        Bad("no-key", visits, None, pv(), "key_mismatch"),
        # The partition follows the key's bytes: "c1 " and "c1" can land on
        # different partitions, and the contact's record would be split.
        Bad("key-with-blank", visits, b"c1 ", pv(), "key_mismatch"),
        Bad("key-other-case", visits, b"C1", pv(), "key_mismatch"),
        Bad("empty-key", visits, b"", pv(), "key_mismatch"),
        Bad("tombstone", visits, b"c1", None, "malformed_json"),
        Bad("far-future", visits, b"c1", pv(timestamp="2999-01-01T00:00:00Z"),
            "timestamp_in_future"),
        Bad("regex-explodes", visits, b"c1",
            pv(properties={"payload": EXPLODING}), "regex_timeout"),
        # Under the input topic's limit, but its dead letter with the
        # original bytes kept would not be under the dead-letter topic's.
        Bad("900kB-garbage", topics.CONVERSIONS, b"c1", b"x" * 900_000,
            "malformed_json"),
    ]  # fmt: skip


def burst() -> list[Bad]:
    return [
        Bad(
            f"{BIG}-bytes-{i}",
            topics.PAGE_VISITS,
            b"c1",
            b"{" * BIG,
            "message_too_large",
        )
        for i in range(BURST)
    ]


# Model documents a worker must ignore (and say so) without stopping.
BAD_MODEL_DOCS = [
    (b"upsell", b"not json"),
    (b"upsell", b"[1, 2]"),
    (b"upsell", b"42"),
    (b"upsell", b'{"id": "upsell"}'),
    (b"cross_sell", orjson.dumps({"id": "other", "name": "x", "version": 9})),
]


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def allow_big_messages(config: dict[str, str], topic: str) -> None:
    from confluent_kafka.admin import (
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ResourceType,
    )

    # The local broker's segments are small; a record must fit in one.
    entries = [
        ConfigEntry(name, str(value), incremental_operation=AlterConfigOpType.SET)
        for name, value in (("max.message.bytes", 8 * BIG), ("segment.bytes", 16 * BIG))
    ]
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
    admin = AdminClient(config)
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def send(config: dict[str, str], prefix: str, bad: list[Bad]) -> None:
    producer_config = {**config, "message.max.bytes": str(8 * BIG)}
    for item in bad:
        publish_raw(
            producer_config,
            topics.topic_name(item.topic, prefix),
            [(item.key, item.value)],
        )


def test_hostile_messages_are_dead_lettered_and_the_rest_scored(
    tmp_path: Path,
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
    models: Path,
) -> None:
    kafka_topics(4)
    (models / "payload.yaml").write_text(PAYLOAD_MODEL)
    settings = worker_settings(models=models)
    prefix = settings.topic_prefix
    allow_big_messages(kafka_config, topics.topic_name(topics.PAGE_VISITS, prefix))
    valid = list(real_lines())[:3000]
    hostile = decoder_cases() + stream_cases()
    assert len(hostile) >= 40 and len({b.reason for b in hostile}) >= 20
    half = len(hostile) // 2

    publish_lines(kafka_config, prefix, valid[:1000])
    worker = run_worker(settings)
    wait_consumed(kafka_config, worker)
    before = rss(worker.pid)

    send(kafka_config, prefix, hostile[:half])
    publish_lines(kafka_config, prefix, valid[1000:2000])
    send(kafka_config, prefix, burst())
    publish_raw(kafka_config, topics.topic_name(topics.MODELS, prefix), BAD_MODEL_DOCS)
    send(kafka_config, prefix, hostile[half:])
    publish_lines(kafka_config, prefix, valid[2000:])
    wait_consumed(kafka_config, worker)
    after = rss(worker.pid)
    assert worker.running()
    assert worker.stop() == 0, worker.log_tail()
    log = worker.log.read_text()

    assert after - before < RSS_BOUND, (before, after)
    assert "internal_error" not in log and "Traceback" not in log
    assert log.count("is invalid and ignored") == len(BAD_MODEL_DOCS)

    dead = read_dead_letters(kafka_config, prefix)
    expected = hostile + burst()
    got = sorted((d["topic"], d["value_size"], d["error"]["reason"]) for d in dead)
    want = sorted(
        (topics.topic_name(b.topic, prefix), len(b.value or b""), b.reason)
        for b in expected
    )
    assert got == want
    for record in dead:
        detail = record["error"]["detail"]
        # Says what was wrong in a sentence, without echoing the payload.
        assert 15 <= len(detail) <= 400, detail
        kept = base64.b64decode(record["value_base64"])
        assert len(kept) <= record["value_size"]
        assert record["value_truncated"] == (len(kept) < record["value_size"])

    check_identical(valid, read_output(kafka_config, settings), models)
