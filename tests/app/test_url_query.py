"""The scoring job with url_query=hash: rules see hashed URLs, never the query."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from stream import jsonutil
from stream.app.agents import ScoringJob
from tests.app.test_job import FakeMessage, drain, make_job

KEY = "0123456789abcdef"
# printf '%s' '?plan=pro' | openssl dgst -sha256 -hmac 0123456789abcdef
HASHED_PRICING = "/pricing?hash=9428fddabdc2d9109ed176e66e895d15"

MODEL = f"""\
id: queries
name: Query rules
version: 1
status: active
fit:
  - name: Plan
    weight: 100
    mappings: [plan]
    values:
      - {{values: [gold], score: 100}}
activity:
  - name: Hashed
    weight: 50
    event: page_visit
    decay_percent: 50
    interval_days: 30
    max_frequency: 1
    rules:
      - {{field: url, op: equals, values: ["{HASHED_PRICING}"]}}
  - name: Raw
    weight: 50
    event: page_visit
    decay_percent: 50
    interval_days: 30
    max_frequency: 1
    rules:
      - {{field: url, op: contains, values: ["plan=pro"]}}
"""


@pytest.fixture
def job(tmp_path: Path) -> ScoringJob:
    return make_job(tmp_path, MODEL, url_query="hash", url_query_key=KEY)


def message(offset: int, **fields: Any) -> FakeMessage:
    body = {"event_id": f"e{offset}", "contact_id": "A", "timestamp": 1_000_000}
    body.update(fields)
    value = jsonutil.dumps(body)
    return FakeMessage("unit.page-visits", 0, offset, b"A", value)


def test_rules_match_the_hashed_url_and_not_the_query(job: ScoringJob) -> None:
    job.handle_messages([message(0, url="/pricing?plan=pro")])

    out = drain(job)

    [change] = out["score-changes"]
    assert change["trigger"]["categories"] == ["Hashed"]
    assert change["activity_score"] == 50.0
    assert "plan=pro" not in jsonutil.dumps(out).decode()


def test_dead_letters_of_the_job_hold_no_query(job: ScoringJob) -> None:
    job.handle_messages([message(1, url="/p?email=alice@example.com", timestamp="x")])

    [record] = drain(job)["dead-letter"]

    assert record["error"]["reason"] == "bad_timestamp"
    assert b"alice" not in base64.b64decode(record["value_base64"])
