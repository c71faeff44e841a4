"""`scorestream publish FILE`: unroutable lines are named, the rest still sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stream import jsonutil
from stream.app.publish import Skip, publish, route
from stream.app.tail import read_all
from stream.cli.main import main
from stream.errors import InputError
from stream.kafka import topics

AT = "2015-05-17T10:05:03Z"


def _visit(contact: object, url: str = "https://example.com/pricing") -> bytes:
    record = {"type": "page_visit", "contact_id": contact, "url": url, "at": AT}
    return jsonutil.dumps(record)


def _detail(line: bytes) -> str:
    """The parser's words for `line` as read from the file, newline included."""
    with pytest.raises(InputError) as caught:
        jsonutil.loads(line + b"\n")
    return caught.value.detail


def _lines(err: str) -> list[str]:
    """stderr as a person sees it: each \\r overwrites the line so far."""
    return [line.rsplit("\r", 1)[-1] for line in err.splitlines() if line.strip()]


def test_unroutable_lines_are_named_and_the_rest_is_sent(
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_config: dict[str, str],
    topic_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    huge = _visit("c-huge", "https://example.com/?" + "q" * 1_100_000)
    malformed = [b"{not json", b'{"type": ', b"nul", b"[1,", b"}"]
    conversion = {"type": "conversion", "contact_id": "c2", "name": "Demo", "at": AT}
    lines = [
        _visit("c1"),  # 1
        malformed[0],  # 2
        b"",  # 3
        _visit(123),  # 4
        *malformed[1:],  # 5..8
        huge,  # 9
        jsonutil.dumps(conversion),  # 10
    ]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    _, key, value = route(jsonutil.loads(huge))

    code = main(
        [
            *("publish", str(path), "--bootstrap", kafka_bootstrap),
            *("--topic-prefix", topic_prefix, "--partitions", "1"),
        ]
    )

    err = _lines(capsys.readouterr().err)
    assert code == 0
    assert err[-7:-1] == [
        f"line 2: rejected (malformed_json): {_detail(malformed[0])}",
        "line 4: rejected (wrong_type): contact_id: found a number; expected a string",
        f"line 5: rejected (malformed_json): {_detail(malformed[1])}",
        f"line 6: rejected (malformed_json): {_detail(malformed[2])}",
        f"line 9: rejected (message_too_large): {len(key) + len(value):,} bytes; "
        "the producer sends at most 1,000,000 (message.max.bytes)",
        "... and 2 more malformed_json",
    ]
    visits = topics.topic_name(topics.PAGE_VISITS, topic_prefix)
    conversions = topics.topic_name(topics.CONVERSIONS, topic_prefix)
    assert err[-1].startswith("sent 2 messages in ")
    assert err[-1].endswith(
        f": 1 to {conversions}, 1 to {visits}; skipped 7 unroutable lines "
        "(malformed_json 5, message_too_large 1, wrong_type 1)"
    )

    sent = read_all(kafka_config, [visits, conversions], idle_s=10.0, max_s=60.0)
    assert sorted((topic, key) for topic, key, _ in sent) == [
        (conversions, b"c2"),
        (visits, b"c1"),
    ]


def test_a_numeric_contact_id_is_a_wrong_type() -> None:
    with pytest.raises(InputError) as caught:
        route({"type": "page_visit", "contact_id": 123})

    assert caught.value.reason == "wrong_type"
    assert caught.value.detail == "contact_id: found a number; expected a string"


def test_records_without_lines_are_named_by_position(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    topic_prefix: str,
) -> None:
    kafka_topics(1)
    records = [
        jsonutil.loads(_visit("c1")),
        {"type": "click", "contact_id": "c1"},
        jsonutil.loads(_visit(None)),
    ]

    report = publish(records, kafka_config, topic_prefix)

    assert report.total == 1
    assert report.examples == [
        Skip("record 2", "unknown_type", "type: 'click' names no input topic"),
        Skip("record 3", "missing_field", "contact_id: needed as the message key"),
    ]
