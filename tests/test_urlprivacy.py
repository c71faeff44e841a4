"""URL query strings hashed or dropped at decode time and in dead letters."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from stream.decode import Limits, dead_letter_record, decode
from stream.errors import InputError
from stream.messages import ActivityEvent
from stream.model.load import load_model_dir
from stream.model.types import Rule
from stream.urlprivacy import (
    query_rule_warnings,
    redact_message,
    redact_url,
    rule_reads_query,
)

REPO = Path(__file__).resolve().parents[1]
KEY = b"0123456789abcdef"
# Worked out with openssl, not with this code:
#   printf '%s' '?email=alice@example.com&utm=x' |
#       openssl dgst -sha256 -hmac 0123456789abcdef
QUERY_TOKEN = "hash=89c4bc82d38989aae16b774cd2866801"
#   printf '%s' '#top' | openssl dgst -sha256 -hmac 0123456789abcdef
FRAGMENT_TOKEN = "hash=4f469dd84d73c79912d261931a5d36ac"
#   printf '%s' '?plan=pro' | openssl dgst -sha256 -hmac 0123456789abcdef
PLAN_TOKEN = "hash=9428fddabdc2d9109ed176e66e895d15"

URL = "https://example.com/p?email=alice@example.com&utm=x#top"
HASHED = f"https://example.com/p?{QUERY_TOKEN}#{FRAGMENT_TOKEN}"

HASH = Limits(url_query="hash", url_query_key=KEY)
DROP = Limits(url_query="drop")


def visit(**fields: Any) -> bytes:
    body = {"event_id": "e1", "contact_id": "c1", "timestamp": 0, "url": URL}
    body.update(fields)
    return orjson.dumps(body)


@pytest.mark.parametrize(
    ("url", "mode", "expected"),
    [
        (URL, "hash", HASHED),
        (URL, "drop", "https://example.com/p"),
        (URL, "keep", URL),
        ("/pricing?plan=pro", "hash", f"/pricing?{PLAN_TOKEN}"),
        ("/pricing?plan=pro", "drop", "/pricing"),
        ("/p#top", "hash", f"/p#{FRAGMENT_TOKEN}"),
        ("/p#top", "drop", "/p"),
        # A `?` after the `#` is part of the fragment, not a query.
        ("/p#x?y", "drop", "/p"),
        # Empty parts hold nothing to hide.
        ("/p?", "hash", "/p?"),
        ("/p?#", "hash", "/p?#"),
        ("/p?", "drop", "/p"),
        ("/no/query/", "hash", "/no/query/"),
        ("/no/query/", "drop", "/no/query/"),
    ],
)
def test_redact_url(url: str, mode: Any, expected: str) -> None:
    assert redact_url(url, mode, KEY) == expected


def test_tokens_are_stable_and_depend_on_the_key_and_the_part() -> None:
    again = redact_url(
        "https://other.example/q?email=alice@example.com&utm=x", "hash", KEY
    )
    assert again == f"https://other.example/q?{QUERY_TOKEN}"
    other_key = redact_url("/p?email=alice@example.com&utm=x", "hash", b"k" * 16)
    assert QUERY_TOKEN not in other_key
    # The same text as a query and as a fragment gives different tokens.
    query, fragment = redact_url("/p?top#top", "hash", KEY)[3:].split("#")
    assert query != fragment


def test_decode_hashes_url_and_referrer_before_scoring() -> None:
    msg = decode("page_visit", visit(referrer="/pricing?plan=pro"), limits=HASH)

    assert isinstance(msg, ActivityEvent)
    assert msg.fields == {"url": HASHED, "referrer": f"/pricing?{PLAN_TOKEN}"}


def test_decode_drops_the_query_of_a_conversion_url() -> None:
    body = {"event_id": "e2", "contact_id": "c1", "timestamp": 0, "name": "Demo?x"}
    body["url"] = URL
    msg = decode("conversion", orjson.dumps(body), limits=DROP)

    assert isinstance(msg, ActivityEvent)
    # Only URLs are rewritten: a `?` in the conversion name stays.
    assert msg.fields == {"name": "Demo?x", "url": "https://example.com/p"}


def test_keep_leaves_urls_alone_and_limits_hide_the_key() -> None:
    msg = decode("page_visit", visit(), limits=Limits())
    assert isinstance(msg, ActivityEvent)
    assert msg.fields["url"] == URL
    assert "0123456789abcdef" not in repr(HASH)


def test_url_length_is_checked_before_the_query_goes() -> None:
    long_query = visit(url="/p?" + "a" * 9000)
    with pytest.raises(InputError) as caught:
        decode("page_visit", long_query, limits=DROP)
    assert caught.value.reason == "url_too_long"


def dead_letter(value: bytes, limits: Limits) -> dict[str, Any]:
    record = dead_letter_record(
        topic="page-visits",
        partition=1,
        offset=7,
        key=b"c1",
        value=value,
        reason="bad_timestamp",
        detail="timestamp: ...",
        limits=limits,
    )
    schema = json.loads((REPO / "schemas" / "dead_letter.schema.json").read_text())
    Draft202012Validator(schema).validate(orjson.loads(orjson.dumps(record)))
    return record


def kept(record: dict[str, Any]) -> bytes:
    return base64.b64decode(record["value_base64"])


def test_dead_letter_of_a_json_object_gets_the_decoders_treatment() -> None:
    value = visit(timestamp="yesterday", referrer="/pricing?plan=pro")

    hashed = dead_letter(value, HASH)
    dropped = dead_letter(value, DROP)

    assert orjson.loads(kept(hashed)) == {
        "event_id": "e1",
        "contact_id": "c1",
        "timestamp": "yesterday",
        "url": HASHED,
        "referrer": f"/pricing?{PLAN_TOKEN}",
    }
    assert orjson.loads(kept(dropped))["url"] == "https://example.com/p"
    assert orjson.loads(kept(dropped))["referrer"] == "/pricing"
    assert hashed["value_redacted"] is True
    assert hashed["value_size"] == len(value)


def test_dead_letter_of_unparseable_bytes_loses_every_query_run() -> None:
    # Trailing comma and a byte that is not UTF-8: not JSON.
    value = b'{"url": "/p?email=alice@example.com#top", "x": "\xff",}'

    record = dead_letter(value, HASH)

    assert kept(record) == b'{"url": "/p?redacted", "x": "\xff",}'
    assert record["value_redacted"] is True
    assert (
        kept(dead_letter(b"see /a?b=c d#e\n", DROP)) == b"see /a?redacted d#redacted\n"
    )


def test_dead_letter_unchanged_when_nothing_to_redact() -> None:
    value = visit(url="/blog/", timestamp="yesterday")

    record = dead_letter(value, HASH)

    assert kept(record) == value
    assert record["value_redacted"] is False
    assert "value_redacted" not in dead_letter(visit(), Limits())
    assert kept(dead_letter(visit(), Limits())) == visit()


def test_too_large_bodies_are_scrubbed_without_parsing() -> None:
    value = visit(title="x" * 100)
    out = redact_message(value, "drop", b"", parse_limit=10)
    assert b"alice" not in out
    assert b'"url":"https://example.com/p?redacted"' in out


@pytest.mark.parametrize(
    ("field", "op", "value", "reads"),
    [
        ("url", "contains", "?utm_source=", True),
        ("url", "equals", "/p#pricing", True),
        ("url", "prefix", "/search?q=", True),
        ("url", "glob", "*?plan=*", True),
        ("url", "regex", r"\?utm_source=", True),
        ("url", "regex", r"/p[?&]plan=", True),
        ("url", "regex", r"/p#top", True),
        ("referrer", "contains", "?q=", True),
        # Quantifiers, groups and negated classes are no literal `?`.
        ("url", "regex", r"^/projects/[^/?]+/?$", False),
        ("url", "regex", r"^/a(?:b|c)?$", False),
        ("url", "regex", r"^/a[\]?]", True),
        ("url", "contains", "/support/", False),
        ("title", "contains", "?", False),
        ("properties.page", "contains", "?x", False),
    ],
)
def test_rule_reads_query(field: str, op: Any, value: str, reads: bool) -> None:
    assert rule_reads_query(Rule(field, op, (value,))) is reads


def test_the_shipped_models_have_no_rule_on_the_query() -> None:
    models = load_model_dir(REPO / "models")
    assert len(models) == 4
    assert query_rule_warnings(models, "drop") == []
