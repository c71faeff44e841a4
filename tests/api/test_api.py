"""The HTTP API of one worker on a small known input, against the offline replay."""

from __future__ import annotations

import random
import string
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream import jsonutil
from stream.app.process import WorkerProcess
from stream.app.routing import partition_for
from stream.app.settings import Settings
from stream.kafka import topics
from stream.kafka.topics import TopicSpec
from stream.timestamps import format_timestamp
from tests.api.conftest import base_url
from tests.api.helpers import check, check_answer, get, known_input, wait_ready
from tests.app.helpers import (
    publish_raw,
    publish_records,
    read_changes,
    wait_consumed,
)
from tests.app.replay_check import replay_of

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]


def input_partitions(config: dict[str, str], prefix: str) -> dict[str, set[int]]:
    """contact id -> the partitions its inputs were written to."""
    from confluent_kafka import Consumer

    names = [
        topics.topic_name(t, prefix)
        for t in (topics.PAGE_VISITS, topics.CONVERSIONS, topics.PROPERTY_CHANGES)
    ]
    consumer: Any = Consumer(
        {**config, "group.id": f"{prefix}probe", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(names)
    out: dict[str, set[int]] = {}
    idle = 0
    for _ in range(200):
        msgs = consumer.consume(500, timeout=0.5)
        idle = 0 if msgs else idle + 1
        for msg in msgs:
            if msg.error() is None and msg.key():
                out.setdefault(msg.key().decode(), set()).add(msg.partition())
        if idle >= 4 and out:
            break
    consumer.close()
    return out


def test_api_answers_match_the_replay_and_the_schema(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    api_settings: Callable[..., Settings],
    api_worker: Callable[[Settings], WorkerProcess],
) -> None:
    kafka_topics(4)
    settings = api_settings()
    prefix = settings.topic_prefix
    records = known_input()
    publish_records(kafka_config, prefix, records)
    bad = publish_raw(
        kafka_config,
        topics.topic_name(topics.PAGE_VISITS, prefix),
        [(b"c00", b"{not json")],
    )
    worker = api_worker(settings)
    base = base_url(settings)
    wait_consumed(kafka_config, worker)
    ready = wait_ready(base, worker)
    assert ready["partitions"] == [0, 1, 2, 3]

    replay, _ = replay_of([jsonutil.dumps(r) for r in records])
    clock = replay.processor.now
    assert clock is not None
    expected = {(r["contact_id"], r["model_id"]): r for r in replay.final_rows(clock)}
    emitted = read_changes(kafka_config, prefix)
    last = {(c["contact_id"], c["model_id"]): c for c in emitted}
    where = input_partitions(kafka_config, prefix)
    contacts = sorted({c for c, _ in expected})
    assert len(contacts) == 24

    for contact_id in contacts:
        body = check_answer(get(base, f"/contacts/{contact_id}"), "/contacts/{id}", 200)
        assert body["as_of"] == format_timestamp(clock)
        # The lookup uses the partition the producer wrote the inputs to.
        assert where[contact_id] == {body["partition"]}
        assert body["partition"] == partition_for(contact_id, 4)
        assert {m["model_id"] for m in body["models"]} == {
            m for c, m in expected if c == contact_id
        }
        for view in body["models"]:
            key = (contact_id, view["model_id"])
            row = expected[key]
            assert (view["fit_score"], view["activity_score"]) == (
                row["fit_score"],
                row["activity_score"],
            ), key
            change = last[key]
            assert view["last_emitted"] == {
                "grade": change["grade"],
                "seq": change["seq"],
                "model_version": change["model_version"],
                "cause": change["cause"],
            }
            assert view["grade"] == change["grade"]
            # The breakdown explains the scores now, not those of the last change.
            points = [c["points"] for c in view["breakdown"]["fit"]]
            assert round(sum(points), 4) == view["fit_score"]

    # The matrix counts the last emitted grades; upsell (no hysteresis, no
    # period boundary in the data) also equals the replay's final grades.
    for model_id in ("upsell", "churn_risk"):
        body = check_answer(get(base, f"/grades?model={model_id}"), "/grades", 200)
        want = Counter(c["grade"] for (_, m), c in last.items() if m == model_id)
        assert body["matrix"]["by_grade"] == {
            g: want.get(g, 0) for g in body["matrix"]["by_grade"]
        }
        assert body["matrix"]["total"] == 24
        assert body["complete"] and body["partitions"] == [0, 1, 2, 3]
    replay_upsell = Counter(
        r["grade"] for (_, m), r in expected.items() if m == "upsell"
    )
    body = get(base, "/grades?model=upsell").json()
    assert {g: n for g, n in body["matrix"]["by_grade"].items() if n} == dict(
        replay_upsell
    )

    # A cell lists exactly its contacts.
    grade, n = replay_upsell.most_common(1)[0]
    cell = check_answer(
        get(base, f"/grades/upsell/{grade}?limit=1000"), "/grades/{model}/{grade}", 200
    )
    assert cell["contacts"] == sorted(
        c for (c, m), r in expected.items() if m == "upsell" and r["grade"] == grade
    )
    assert not cell["truncated"]
    if n > 1:
        small = get(base, f"/grades/upsell/{grade}?limit=1").json()
        assert small["contacts"] == cell["contacts"][:1] and small["truncated"]

    models = check_answer(get(base, "/models"), "/models", 200)
    assert {m["id"]: m["status"] for m in models["models"]} == {
        "acquisition": "active",
        "churn_risk": "active",
        "cross_sell": "active",
        "upsell": "active",
    }
    check_answer(get(base, "/health"), "/health", 200)
    check_answer(get(base, "/ready"), "/ready", 200)

    metrics = get(base, "/metrics")
    assert metrics.status == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.body.decode())
        for s in family.samples
    }
    sent = Counter(r["type"] for r in records)
    for kind, short in (
        ("page_visit", topics.PAGE_VISITS),
        ("conversion", topics.CONVERSIONS),
        ("property_change", topics.PROPERTY_CHANGES),
    ):
        topic = topics.topic_name(short, prefix)
        extra = bad if kind == "page_visit" else 0
        got = samples[("scorestream_events_in_total", (("topic", topic),))]
        assert got == sent[kind] + extra
    assert samples[
        ("scorestream_dead_lettered_total", (("reason", "malformed_json"),))
    ] == float(bad)
    changes_out = sum(
        v for (name, _), v in samples.items() if name == "scorestream_changes_out_total"
    )
    assert changes_out == len(emitted)
    assert samples[("scorestream_ready", ())] == 1.0
    assert samples[("scorestream_partitions_assigned", ())] == 4.0


def test_bad_requests_name_the_parameter(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    api_settings: Callable[..., Settings],
    api_worker: Callable[[Settings], WorkerProcess],
) -> None:
    kafka_topics(4)
    settings = api_settings()
    publish_records(kafka_config, settings.topic_prefix, known_input(contacts=3))
    worker = api_worker(settings)
    base = base_url(settings)
    wait_consumed(kafka_config, worker)
    wait_ready(base, worker)

    cases = [
        ("/grades", "/grades", 400, "model"),
        ("/grades?model=", "/grades", 400, "model"),
        ("/grades?model=nope", "/grades", 404, "model"),
        ("/grades?model=upsell&scope=world", "/grades", 400, "scope"),
        ("/grades?model=upsell&modle=x", "/grades", 400, "modle"),
        ("/grades/upsell/E9", "/grades/{model}/{grade}", 400, "grade"),
        ("/grades/upsell/A1?limit=0", "/grades/{model}/{grade}", 400, "limit"),
        ("/grades/upsell/A1?limit=ten", "/grades/{model}/{grade}", 400, "limit"),
        ("/grades/upsell/A1?limit=1001", "/grades/{model}/{grade}", 400, "limit"),
        ("/grades/nope/A1", "/grades/{model}/{grade}", 404, "model"),
        ("/contacts/nobody", "/contacts/{id}", 404, "id"),
        ("/contacts/" + "x" * 257, "/contacts/{id}", 400, "id"),
        ("/contacts/c00?full=1", "/contacts/{id}", 400, "full"),
        ("/models?x=1", "/models", 400, "x"),
    ]
    for path, template, status, parameter in cases:
        body = check_answer(get(base, path), template, status)
        assert body["error"]["parameter"] == parameter, path
        assert body["error"]["status"] == status

    missing = get(base, "/no/such/path")
    assert missing.status == 404
    check("Error", missing.json())


def test_lookup_partition_equals_the_producers(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    topic_prefix: str,
) -> None:
    """confluent-kafka (murmur2_random, as `scorestream publish` uses) and the
    lookup agree for every kind of key, at several partition counts."""
    from aiokafka.partitioner import DefaultPartitioner
    from confluent_kafka import Producer

    counts = (1, 3, 4, 7)
    specs = tuple(TopicSpec(f"{topic_prefix}keys-{n}", n) for n in counts)
    kafka_topics(4, extra=specs)
    rng = random.Random(3)
    alphabet = string.ascii_letters + string.digits + "._-@ éü中😀"
    keys = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        for _ in range(400)
    ] + ["10.0.0.1", "a", "contact-000001"]
    landed: dict[tuple[str, str], int] = {}

    def delivered(err: Any, msg: Any) -> None:
        assert err is None, err
        landed[(msg.topic(), msg.key().decode())] = msg.partition()

    producer = Producer({**kafka_config, "partitioner": "murmur2_random"})
    for spec in specs:
        for key in keys:
            producer.produce(spec.name, b"{}", key.encode(), on_delivery=delivered)
    assert producer.flush(30) == 0

    aio = DefaultPartitioner()
    for spec, n in zip(specs, counts, strict=True):
        for key in keys:
            ours = partition_for(key, n)
            assert landed[(spec.name, key)] == ours, (key, n)
            assert aio(key.encode(), list(range(n)), list(range(n))) == ours
    assert quote("é") != "é"  # ids travel URL-encoded; see the two-worker test
