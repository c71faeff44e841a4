"""Malformed inputs go to the dead-letter topic with a reason; the rest is scored."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from stream import jsonutil
from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from stream.kafka import topics
from tests.app.helpers import (
    publish_raw,
    read_changes,
    read_dead_letters,
    wait_consumed,
)

pytestmark = [pytest.mark.broker, pytest.mark.timeout(180)]

T = 1_431_857_103_000


def body(**fields: object) -> bytes:
    return jsonutil.dumps(fields)


def visit(contact: str = "bad", **overrides: object) -> bytes:
    fields: dict[str, object] = {
        "event_id": "e1",
        "contact_id": contact,
        "timestamp": T,
        "url": "https://example.com/support/x",
    }
    fields.update(overrides)
    return body(**{k: v for k, v in fields.items() if v is not ...})


# (short topic, key, value, expected reason)
MALFORMED: list[tuple[str, bytes | None, bytes | None, str]] = [
    (topics.PAGE_VISITS, b"bad", b"this is not json", "malformed_json"),
    (topics.PAGE_VISITS, b"bad", b"", "malformed_json"),
    (topics.PAGE_VISITS, b"bad", None, "malformed_json"),
    (topics.PAGE_VISITS, b"bad", b"\xef\xbb\xbf" + visit(), "malformed_json"),
    (topics.PAGE_VISITS, b"bad", b'{"url": "\xff\xfe"}', "malformed_json"),
    (topics.PAGE_VISITS, b"bad", b"[" * 5000 + b"]" * 5000, "too_deeply_nested"),
    (topics.PAGE_VISITS, b"bad", b"[1, 2, 3]", "not_an_object"),
    (topics.PAGE_VISITS, b"bad", visit(contact_id=...), "missing_field"),
    (topics.PAGE_VISITS, b"bad", visit(event_id=42), "wrong_type"),
    (topics.PAGE_VISITS, b"bad", visit(contact="   "), "empty_id"),
    (topics.PAGE_VISITS, b"bad", visit(contact="x" * 300), "id_too_long"),
    (topics.PAGE_VISITS, b"bad", visit(contact="a\u0007b"), "bad_id_characters"),
    (topics.PAGE_VISITS, b"someone-else", visit(), "key_mismatch"),
    (topics.PAGE_VISITS, b"bad", visit(timestamp="yesterday"), "bad_timestamp"),
    (
        topics.PAGE_VISITS,
        b"bad",
        visit(timestamp="2015-05-17T10:00:00"),
        "timestamp_without_offset",
    ),
    (
        topics.PAGE_VISITS,
        b"bad",
        visit(timestamp="2999-01-01T00:00:00Z"),
        "timestamp_in_future",
    ),
    (topics.PAGE_VISITS, b"bad", visit(url="/" + "a" * 9000), "url_too_long"),
    (topics.PAGE_VISITS, b"bad", visit(url="   "), "empty_value"),
    (
        topics.CONVERSIONS,
        b"bad",
        body(event_id="c1", contact_id="bad", timestamp=T, name=""),
        "empty_value",
    ),
    (
        topics.PROPERTY_CHANGES,
        b"bad",
        body(contact_id="bad", timestamp=T, properties=["plan", "gold"]),
        "wrong_type",
    ),
    (
        topics.PROPERTY_CHANGES,
        b"bad",
        body(contact_id="bad", timestamp=T, properties={"plan": {"nested": 1}}),
        "bad_property_value",
    ),
    (
        topics.PROPERTY_CHANGES,
        b"bad",
        body(contact_id="bad", timestamp=T, properties={"": 1}),
        "bad_property_name",
    ),
]


def good_inputs() -> list[tuple[str, bytes, bytes]]:
    out = []
    for i in range(20):
        contact = f"good-{i}"
        out.append(
            (
                topics.PAGE_VISITS,
                contact.encode(),
                visit(contact, event_id=f"g{i}", timestamp=T + i * 1000),
            )
        )
        out.append(
            (
                topics.PROPERTY_CHANGES,
                contact.encode(),
                body(
                    contact_id=contact,
                    timestamp=T + i * 1000,
                    properties={"Last NPS Score": "9"},
                ),
            )
        )
    return out


def test_malformed_inputs_are_dead_lettered_and_the_rest_scored(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
) -> None:
    kafka_topics(4)
    settings = worker_settings()
    prefix = settings.topic_prefix
    good = good_inputs()
    # The bad ones first and in between: none may stop the good ones.
    for short, key, value, _ in MALFORMED:
        publish_raw(kafka_config, topics.topic_name(short, prefix), [(key, value)])
    for short, key, value in good:
        publish_raw(kafka_config, topics.topic_name(short, prefix), [(key, value)])

    worker = run_worker(settings)
    wait_consumed(kafka_config, worker)
    assert worker.stop() == 0, worker.log_tail()

    dead = read_dead_letters(kafka_config, prefix)
    assert len(dead) == len(MALFORMED)
    got = sorted(
        (d["topic"], base64.b64decode(d["value_base64"]), d["error"]["reason"])
        for d in dead
    )
    want = sorted(
        (topics.topic_name(short, prefix), value or b"", reason)
        for short, _, value, reason in MALFORMED
    )
    assert got == want
    assert len({reason for *_, reason in MALFORMED}) >= 10
    for record in dead:
        assert record["offset"] >= 0 and record["partition"] in range(4)
        assert record["error"]["detail"]
        assert record["value_truncated"] is False

    scored = {c["contact_id"] for c in read_changes(kafka_config, prefix)}
    assert scored == {f"good-{i}" for i in range(20)}
    assert "internal_error" not in worker.log.read_text()
