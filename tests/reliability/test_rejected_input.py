"""An input the engine rejects changes nothing: no state, no clock, no lost change."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream import jsonutil
from stream.model.load import load_model_dir
from stream.replay import Rejection, run_replay
from stream.scoring.changes import ScoreChange
from stream.scoring.engine import Engine

pytestmark = pytest.mark.reliability

DAY = 86_400_000
MIDNIGHT = 1_431_820_800_000  # 2015-05-17T00:00:00Z
HOUR = 3_600_000

# Daily periods, so the clock passing a midnight re-grades. The second
# category's pattern passes the model check (no nested repeat) but takes
# polynomial time of high degree on a long run of "a" with no "x" after it.
PAYLOAD_MODEL = """\
id: payload
name: Payload
version: 1
status: active
hysteresis: 0
fit:
  - name: Plan
    weight: 100
    mappings: [plan]
    values: [{values: [gold], score: 100}]
activity:
  - name: Visits
    weight: 50
    event: page_visit
    decay_percent: 50
    interval_days: 1
    periods: 3
    max_frequency: 2
    rules: [{field: url, op: glob, values: ["*"]}]
  - name: Payload
    weight: 50
    event: page_visit
    decay_percent: 50
    interval_days: 1
    periods: 3
    rules:
      - field: properties.payload
        op: regex
        values: [".*a.*a.*a.*a.*a.*a.*a.*a.*x"]
"""

EXPLODING = "a" * 3000


@pytest.fixture
def payload_models(tmp_path: Path) -> Path:
    folder = tmp_path / "payload-models"
    folder.mkdir()
    (folder / "payload.yaml").write_text(PAYLOAD_MODEL)
    return folder


def visit(event_id: str, at: int, **properties: str) -> bytes:
    record = {
        "type": "page_visit",
        "event_id": event_id,
        "contact_id": "A",
        "timestamp": at,
        "url": "/pricing",
        "properties": properties,
    }
    return jsonutil.dumps(record)


def replay(models: Path, lines: list[bytes]) -> tuple[list[dict], list[str], dict]:
    changes: list[ScoreChange] = []
    rejections: list[Rejection] = []
    result = run_replay(
        lines,
        Engine(load_model_dir(models)),
        on_change=changes.append,
        on_reject=rejections.append,
    )
    clock = result.processor.now
    assert clock is not None
    rows = {(r["contact_id"], r["model_id"]): r for r in result.final_rows(clock)}
    return [c.to_dict() for c in changes], [r.reason for r in rejections], rows


@pytest.mark.parametrize("when", [11 * HOUR, DAY + HOUR], ids=["same-day", "next-day"])
def test_a_regex_timeout_leaves_no_trace(payload_models: Path, when: int) -> None:
    valid = [visit("e1", MIDNIGHT + 10 * HOUR), visit("e2", MIDNIGHT + DAY + 2 * HOUR)]
    hostile = visit("h1", MIDNIGHT + when, payload=EXPLODING)

    clean_changes, clean_rejects, clean_rows = replay(payload_models, valid)
    changes, rejects, rows = replay(payload_models, [valid[0], hostile, valid[1]])

    assert clean_rejects == [] and rejects == ["regex_timeout"]
    # The clean history: a grade, a decay at the midnight, the second visit.
    assert [(c["seq"], c["cause"]) for c in clean_changes] == [
        (1, "event"),
        (2, "decay"),
        (3, "event"),
    ]
    assert changes == clean_changes
    assert rows == clean_rows
