"""Models published at run time: live re-scoring, shadow runs, drafts, restarts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from stream.app import modeltopic
from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from stream.kafka import topics
from stream.model.load import load_model_dir
from stream.model.types import Model
from tests.api.conftest import base_url
from tests.api.helpers import check_answer, get, known_input, wait_ready
from tests.app.helpers import REPO, publish_records, read_changes, wait_consumed

pytestmark = [pytest.mark.broker, pytest.mark.timeout(420)]


def upsell() -> Model:
    return next(m for m in load_model_dir(REPO / "models") if m.id == "upsell")


def marks(base: str, contacts: list[str], model_id: str) -> dict[str, Any]:
    """contact -> last_emitted under `model_id` (None if not graded by it)."""
    out = {}
    for contact_id in contacts:
        body = get(base, f"/contacts/{contact_id}").json()
        views = {m["model_id"]: m for m in body["models"]}
        out[contact_id] = views[model_id]["last_emitted"] if model_id in views else None
    return out


def wait_version(
    base: str, contacts: list[str], model_id: str, version: int, timeout: float = 60
) -> dict[str, Any]:
    """Until every contact's last emitted mark under `model_id` has `version`."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = marks(base, contacts, model_id)
        if all(m is not None and m["model_version"] == version for m in seen.values()):
            return seen
        time.sleep(0.5)
    raise AssertionError(f"{model_id} v{version} not applied everywhere: {seen}")


def cli(settings: Settings, *args: str) -> str:
    env = {
        **os.environ,
        "SCORESTREAM_BOOTSTRAP": settings.bootstrap,
        "SCORESTREAM_TOPIC_PREFIX": settings.topic_prefix,
    }
    done = subprocess.run(
        [sys.executable, "-m", "stream.cli.main", "model", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_models_change_grades_without_a_restart(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    api_settings: Callable[..., Settings],
    api_worker: Callable[[Settings], WorkerProcess],
) -> None:
    kafka_topics(4)
    settings = api_settings()
    prefix = settings.topic_prefix
    models_topic = topics.topic_name(topics.MODELS, prefix)
    publish_records(kafka_config, prefix, known_input())
    worker = api_worker(settings)
    base = base_url(settings)
    wait_consumed(kafka_config, worker)
    wait_ready(base, worker)
    contacts = [f"c{n:02d}" for n in range(24)]
    before = marks(base, contacts, "upsell")
    live_before = read_changes(kafka_config, prefix)

    # 1. A changed active model: lower cut points move grades up, live.
    v2 = replace(
        upsell(), version=2, fit_thresholds=(50, 25, 0), activity_thresholds=(50, 25, 5)
    )
    modeltopic.publish(kafka_config, models_topic, v2)
    after = wait_version(base, contacts, "upsell", 2)
    seen = {(c["contact_id"], c["model_id"], c["seq"]) for c in live_before}
    live = read_changes(kafka_config, prefix)
    by_model = [
        c
        for c in live
        if c["model_id"] == "upsell"
        and (c["contact_id"], c["model_id"], c["seq"]) not in seen
    ]
    assert by_model and all(c["cause"] == "model" for c in by_model)
    moved = {c["contact_id"]: c for c in by_model}
    assert len(moved) == len(by_model)  # one change per contact at most
    for contact_id in contacts:
        old, new = before[contact_id], after[contact_id]
        if old["grade"] == new["grade"]:
            assert contact_id not in moved and new["seq"] == old["seq"]
            continue
        change = moved[contact_id]
        assert change["previous_grade"] == old["grade"]
        assert change["grade"] == new["grade"]
        assert change["seq"] == old["seq"] + 1 == new["seq"]
        assert change["model_version"] == 2
    assert len(moved) >= 5, "the new cut points should move several grades"
    grades = get(base, "/grades?model=upsell").json()["matrix"]["by_grade"]
    want: dict[str, int] = {}
    for m in after.values():
        want[m["grade"]] = want.get(m["grade"], 0) + 1
    assert {g: n for g, n in grades.items() if n} == want

    # 2. A new model in testing: scored, but only into the shadow topic.
    trial = replace(upsell(), id="upsell_trial", name="Upsell trial", status="testing")
    modeltopic.publish(kafka_config, models_topic, trial)
    shadow_marks = wait_version(base, contacts, "upsell_trial", 1)
    shadow = read_changes(kafka_config, prefix, topics.SCORE_CHANGES_SHADOW)
    assert {c["contact_id"] for c in shadow} == set(contacts)
    assert all(
        c["cause"] == "model" and c["model_id"] == "upsell_trial" for c in shadow
    )
    live = read_changes(kafka_config, prefix)
    assert not [c for c in live if c["model_id"] == "upsell_trial"]
    listed = check_answer(get(base, "/models"), "/models", 200)["models"]
    assert {m["id"]: (m["status"], m["stream"]) for m in listed}["upsell_trial"] == (
        "testing",
        "shadow",
    )

    # 3. Activated: every contact's grade is announced on the live topic once.
    assert "testing v1 -> active v2" in cli(
        settings, "set-status", "upsell_trial", "active"
    )
    wait_version(base, contacts, "upsell_trial", 2)
    live = read_changes(kafka_config, prefix)
    announced = [c for c in live if c["model_id"] == "upsell_trial"]
    assert sorted(c["contact_id"] for c in announced) == contacts
    for change in announced:
        mark = shadow_marks[change["contact_id"]]
        assert change["cause"] == "model" and change["model_version"] == 2
        assert change["previous_grade"] == mark["grade"] == change["grade"]
        assert change["seq"] == mark["seq"] + 1

    # 4. A draft is listed but never scored.
    draft = replace(upsell(), id="upsell_draft", status="draft")
    modeltopic.publish(kafka_config, models_topic, draft)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listed = get(base, "/models").json()["models"]
        if any(m["id"] == "upsell_draft" for m in listed):
            break
        time.sleep(0.5)
    draft_view = next(m for m in listed if m["id"] == "upsell_draft")
    assert draft_view["running"] is False and draft_view["stream"] is None
    assert marks(base, contacts[:3], "upsell_draft") == dict.fromkeys(contacts[:3])

    # 5. A restart runs the topic's models, and re-scores nothing.
    live_count = len(read_changes(kafka_config, prefix))
    assert worker.stop() == 0, worker.log_tail()
    worker = api_worker(settings)
    wait_ready(base, worker)
    versions = {m["id"]: m["version"] for m in get(base, "/models").json()["models"]}
    assert versions["upsell"] == 2 and versions["upsell_trial"] == 2
    assert marks(base, contacts, "upsell") == after
    assert len(read_changes(kafka_config, prefix)) == live_count
