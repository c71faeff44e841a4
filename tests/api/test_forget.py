"""`scorestream forget` against a running worker: erased everywhere, announced once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from stream.app.app import faust_id
from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from stream.app.tail import read_all
from stream.cli.main import main as scorestream
from tests.api.conftest import base_url
from tests.api.helpers import get, known_input, wait_ready
from tests.app.helpers import publish_records, read_changes, wait_consumed

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]


def grade_total(base: str, model: str) -> int:
    total: int = get(base, f"/grades?model={model}").json()["matrix"]["total"]
    return total


def wait_forgotten(config: dict[str, str], prefix: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [c for c in read_changes(config, prefix) if c.get("forgotten")]
        if found:
            return found
    raise AssertionError("no contact-forgotten event within 60 s")


def test_forget_erases_the_contact_and_announces_it(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    api_settings: Callable[..., Settings],
    api_worker: Callable[[Settings], WorkerProcess],
) -> None:
    kafka_topics(4)
    settings = api_settings()
    prefix = settings.topic_prefix
    publish_records(kafka_config, prefix, known_input())
    worker = api_worker(settings)
    base = base_url(settings)
    wait_consumed(kafka_config, worker)
    wait_ready(base, worker)
    before = {
        c["model_id"]: c["seq"]
        for c in read_changes(kafka_config, prefix)
        if c["contact_id"] == "c05"
    }
    assert get(base, "/contacts/c05").status == 200
    totals = {m: grade_total(base, m) for m in before}

    code = scorestream(
        [
            "forget",
            "c05",
            "nobody",
            "--request-id",
            "t-1",
            "--bootstrap",
            settings.bootstrap,
            "--topic-prefix",
            prefix,
        ]
    )

    assert code == 0
    [event] = wait_forgotten(kafka_config, prefix)
    assert event == {
        "contact_id": "c05",
        "forgotten": True,
        "as_of": event["as_of"],
        "last_seq": before,
        "request_id": "t-1",
    }
    wait_consumed(kafka_config, worker)
    assert get(base, "/contacts/c05").status == 404
    assert {m: grade_total(base, m) for m in before} == {
        m: n - 1 for m, n in totals.items()
    }
    # The changelog's last word on the contact is a tombstone.
    changelog = f"{faust_id(settings)}-contacts-changelog"
    last = {k: v for _, k, v in read_all(kafka_config, [changelog], idle_s=2.0)}
    assert last[b"c05"] == b""
    assert b"c06" in last and last[b"c06"] != b""
    assert worker.stop() == 0, worker.log_tail()
    assert '"forgotten":1' in worker.log.read_text()

    # A worker with no local state rebuilds from the changelog: still gone.
    again = api_worker(api_settings(data_dir=settings.data_dir.parent / "fresh"))
    wait_ready(base_url(again.settings), again)
    assert get(base_url(again.settings), "/contacts/c05").status == 404
    assert get(base_url(again.settings), "/contacts/c06").status == 200
    events = [c for c in read_changes(kafka_config, prefix) if c.get("forgotten")]
    assert len(events) == 1
