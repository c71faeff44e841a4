"""The CRM sink against the real broker and the fake CRM on 127.0.0.1."""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import pytest

from stream import jsonutil
from stream.kafka.config import kafka_client_config
from stream.sink.fakecrm import Answer, FakeCrm
from stream.sink.rejected import CRM_REJECTED
from stream.sink.runner import CrmSink
from stream.sink.targets import HUBSPOT_BATCH_PATH
from tests.sink.helpers import (
    SinkThread,
    change,
    expected_state,
    last_per_key,
    produce,
    read_topic,
    settings,
    wait_until,
)

pytestmark = pytest.mark.broker

GRADES = [f"{f}{a}" for f in "ABCD" for a in "1234"]


def _random_changes(rng: random.Random, contacts: int, models: list[str], n: int):
    seqs: dict[tuple[str, str], int] = {}
    out = []
    for _ in range(n):
        key = (f"{rng.randrange(contacts):05d}", rng.choice(models))
        seqs[key] = seqs.get(key, 0) + 1
        out.append(
            change(
                *key,
                seqs[key],
                rng.choice(GRADES),
                fit=round(rng.uniform(-100, 100), 4),
                activity=round(rng.uniform(0, 100), 4),
                as_of=1_431_857_103_000 + rng.randrange(10**9),
            )
        )
    return out


def test_every_final_grade_arrives_as_the_topic_says(
    kafka_bootstrap: str,
    topic_prefix: str,
    changes_topic: Callable[[int], str],
    fake_crm: FakeCrm,
) -> None:
    topic = changes_topic(3)
    config = kafka_client_config(kafka_bootstrap)
    rng = random.Random(8)
    first = _random_changes(rng, 80, ["upsell", "churn_risk"], 600)
    produce(config, topic, first)

    sink = CrmSink(
        settings(
            kafka_bootstrap, topic_prefix, base_url=fake_crm.base_url, batch_size=7
        ),
        config,
    )
    with SinkThread(sink) as running:
        assert wait_until(lambda: fake_crm.state == expected_state(first), 30)

        # More changes while it runs, continuing each contact's seq.
        second = []
        for event in last_per_key(first).values():
            if rng.random() < 0.5:
                second.append(
                    change(
                        event["contact_id"], event["model_id"], event["seq"] + 1, "A1"
                    )
                )
        produce(config, topic, second)
        everything = first + second
        assert wait_until(lambda: fake_crm.state == expected_state(everything), 30)

    assert running.metrics.tally.received == len(everything)
    assert all(r.status == 200 for r in fake_crm.requests)
    assert all(len(r.contacts) <= 7 for r in fake_crm.requests)


def test_coalescing_sends_one_request_per_hundred_contacts_on_flapping_input(
    kafka_bootstrap: str,
    topic_prefix: str,
    changes_topic: Callable[[int], str],
    fake_crm: FakeCrm,
) -> None:
    topic = changes_topic(1)
    config = kafka_client_config(kafka_bootstrap)
    flapping = [
        change(f"{c:04d}", model, seq, "B2" if seq % 2 else "B3")
        for seq in range(1, 6)
        for c in range(150)
        for model in ("upsell", "cross_sell")
    ]
    stale = [change("0000", "upsell", 2, "D4")]  # older than its seq 5
    produce(config, topic, flapping + stale)

    sink = CrmSink(
        settings(
            kafka_bootstrap,
            topic_prefix,
            base_url=fake_crm.base_url,
            coalesce_window_s=3.0,
        ),
        config,
    )
    with SinkThread(sink) as running:
        assert wait_until(lambda: len(fake_crm.requests) >= 2, 30)

        # 1500 changes of 150 contacts: two requests (100 + 50 contacts).
        assert [len(r.contacts) for r in fake_crm.requests] == [100, 50]
        assert fake_crm.state == expected_state(flapping)
        tally = running.metrics.tally
        assert (tally.coalesced, tally.stale, tally.sent) == (1200, 1, 300)

        # After sending, an old seq is dropped and a new one goes alone.
        produce(
            config,
            topic,
            [change("0001", "upsell", 3, "D4"), change("0002", "upsell", 6, "A1")],
        )
        assert wait_until(lambda: len(fake_crm.requests) >= 3, 30)
        assert wait_until(lambda: running.metrics.tally.stale == 2, 10)

    assert [r.contacts for r in fake_crm.requests[2:]] == [("0002",)]
    assert fake_crm.state["0001"]["upsell_grade"] == "B2"
    assert fake_crm.state["0002"]["upsell_grade"] == "A1"


def test_a_429_storm_slows_the_sink_and_loses_nothing(
    kafka_bootstrap: str,
    topic_prefix: str,
    changes_topic: Callable[[int], str],
    fake_crm: FakeCrm,
) -> None:
    topic = changes_topic(3)
    config = kafka_client_config(kafka_bootstrap)
    events = _random_changes(random.Random(429), 60, ["upsell"], 300)
    produce(config, topic, events)
    fake_crm.plan_repeat(Answer(429, retry_after=0.3), 8)
    fake_crm.plan(Answer(503), Answer(delay=3.0), Answer(500))  # 3 s > timeout

    sink = CrmSink(
        settings(
            kafka_bootstrap,
            topic_prefix,
            base_url=fake_crm.base_url,
            batch_size=10,
            request_timeout_s=1.0,
        ),
        config,
    )
    with SinkThread(sink) as running:
        assert wait_until(lambda: fake_crm.state == expected_state(events), 45)

    requests = fake_crm.requests
    storm = [r for r in requests if r.status == 429]
    assert len(storm) == 8
    # After each 429 nothing is sent before its Retry-After has passed.
    for i, request in enumerate(requests[:-1]):
        if request.status == 429:
            assert requests[i + 1].at - request.at >= 0.3 - 0.02
    assert running.metrics.tally.retried >= 11
    assert running.metrics.tally.rejected == 0


def test_refusals_and_unreadable_messages_go_to_the_rejected_topic(
    kafka_bootstrap: str,
    topic_prefix: str,
    changes_topic: Callable[[int], str],
    fake_crm: FakeCrm,
) -> None:
    topic = changes_topic(1)
    config = kafka_client_config(kafka_bootstrap)
    events = [change(f"{c}", "upsell", 1, "A2") for c in range(5)]
    fake_crm.reject_ids.add("3")
    produce(config, topic, [*events, b"{not json"])

    sink = CrmSink(
        settings(kafka_bootstrap, topic_prefix, base_url=fake_crm.base_url), config
    )
    with SinkThread(sink) as running:
        assert wait_until(lambda: running.metrics.tally.rejected == 2, 30)

    assert set(fake_crm.state) == {"0", "1", "2", "4"}
    records = read_topic(config, f"{topic_prefix}{CRM_REJECTED}", 2)
    by_reason = {r["reason"]: r for r in records}
    refused = by_reason["refused_by_crm"]
    assert refused["contact_id"] == "3"
    assert refused["status"] == 207
    assert refused["answer"]["category"] == "OBJECT_NOT_FOUND"
    assert refused["change"] == events[3]
    assert by_reason["malformed_json"]["value"] == "{not json"


def test_the_webhook_gets_signed_batches_of_the_newest_events(
    kafka_bootstrap: str,
    topic_prefix: str,
    changes_topic: Callable[[int], str],
) -> None:
    topic = changes_topic(1)
    config = kafka_client_config(kafka_bootstrap)
    events = [change("7", "upsell", s, g) for s, g in enumerate(["B2", "B3", "B2"], 1)]
    events.append(change("8", "upsell", 1, "C1"))
    produce(config, topic, events)

    with FakeCrm(webhook_secret="hook-key") as crm:
        sink = CrmSink(
            settings(
                kafka_bootstrap,
                topic_prefix,
                target="webhook",
                webhook_url=crm.webhook_url,
                webhook_secret="hook-key",
                coalesce_window_s=2.0,
            ),
            config,
        )
        with SinkThread(sink):
            assert wait_until(lambda: len(crm.events) == 2, 30)
        assert [r.status for r in crm.requests] == [200]
        assert crm.events == [events[2], events[3]]


def test_dry_run_prints_the_requests_and_commits_nothing(
    kafka_bootstrap: str,
    topic_prefix: str,
    changes_topic: Callable[[int], str],
    fake_crm: FakeCrm,
) -> None:
    topic = changes_topic(1)
    config = kafka_client_config(kafka_bootstrap)
    events = [change("5", "upsell", 1, "B1"), change("5", "upsell", 2, "A1")]
    produce(config, topic, events)

    out = io.StringIO()
    dry = settings(
        kafka_bootstrap,
        topic_prefix,
        base_url=fake_crm.base_url,
        dry_run=True,
        token="",
    )
    CrmSink(dry, config, out=out).run(max_seconds=30, exit_when_idle=1.0)

    [line] = [jsonutil.loads(x) for x in out.getvalue().splitlines()]
    assert line["url"] == fake_crm.base_url + HUBSPOT_BATCH_PATH
    assert line["body"]["inputs"][0]["properties"]["upsell_grade"] == "A1"
    assert fake_crm.requests == []

    # Nothing was committed: a real run in the same group sends it.
    real = settings(kafka_bootstrap, topic_prefix, base_url=fake_crm.base_url)
    CrmSink(real, config).run(max_seconds=30, exit_when_idle=1.0)
    assert fake_crm.state == expected_state(events)
