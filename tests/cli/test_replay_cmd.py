"""`scorestream replay` and `explain` on real and hand-made input."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from stream import jsonutil
from stream.cli.main import main
from stream.realdata import write_replay

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "score_change.schema.json").read_text())
SEED = [
    "--model",
    str(ROOT / "models/upsell.yaml"),
    "--model",
    str(ROOT / "models/cross_sell.yaml"),
]


@pytest.fixture(scope="module")
def real_replay(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("replay")
    source = folder / "real.jsonl"
    write_replay(source)
    changes, final = folder / "changes.jsonl", folder / "final.jsonl"
    assert (
        main(
            ["replay", str(source), *SEED, "--out", str(changes), "--final", str(final)]
        )
        == 0
    )
    return {
        "source": source,
        "changes_bytes": changes.read_bytes(),
        "changes": [jsonutil.loads(x) for x in changes.read_bytes().splitlines()],
        "final": [jsonutil.loads(x) for x in final.read_bytes().splitlines()],
    }


def test_real_data_changes_are_valid_events(real_replay: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for change in real_replay["changes"][::7]:
        validator.validate(change)


def test_real_data_seq_is_gap_free_and_chained(real_replay: dict[str, Any]) -> None:
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for change in real_replay["changes"]:
        key = (change["contact_id"], change["model_id"])
        before = last.get(key)
        assert change["seq"] == (before["seq"] + 1 if before else 1)
        assert change["previous_grade"] == (before["grade"] if before else None)
        assert change["grade"] != change["previous_grade"]
        last[key] = change
    # Every contact of the data set (1,753 visitors + 5,290 CRM-only) is
    # graded under both models, and the final file agrees with the stream.
    assert len(last) == 7043 * 2
    final = {(r["contact_id"], r["model_id"]): r for r in real_replay["final"]}
    assert final.keys() == last.keys()
    for key, row in final.items():
        assert row["grade"] == last[key]["grade"]


def test_real_data_grade_distribution_is_not_trivial(
    real_replay: dict[str, Any],
) -> None:
    grades: dict[str, Counter[str]] = defaultdict(Counter)
    for row in real_replay["final"]:
        grades[row["model_id"]][row["grade"]] += 1
    for model_id in ("upsell", "cross_sell"):
        counts = grades[model_id]
        assert sum(counts.values()) == 7043
        assert {g[0] for g in counts} == set("ABCD")
        assert len({g[1] for g in counts}) >= 2  # some contacts are active
        assert max(counts.values()) < 0.6 * 7043


def test_replay_is_deterministic(real_replay: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "again.jsonl"
    assert main(["replay", str(real_replay["source"]), *SEED, "--out", str(out)]) == 0
    assert out.read_bytes() == real_replay["changes_bytes"]


def test_malformed_lines_are_reported_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"type":"property_change","contact_id":"a","timestamp":'
        '"2015-05-17T10:00:00Z","properties":{"Last NPS Score":9}}\n'
        "not json\n"
        '{"type":"page_visit","contact_id":"a","timestamp":"2015-05-17T10:00:00",'
        '"event_id":"e","url":"/x"}\n'
        '{"type":"conversion","contact_id":"a","event_id":"w1",'
        '"timestamp":"2015-05-17T11:00:00Z","name":"Webinar Registration"}\n'
    )
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(source), *SEED, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "line 2: rejected (malformed_json)" in err
    assert "line 3: rejected (timestamp_without_offset)" in err
    assert "4 lines" in err and "2 rejected" in err
    changes = [jsonutil.loads(x) for x in out.read_bytes().splitlines()]
    # NPS 9 scores 100%: upsell's NPS weight 50 gives fit 50 (B, the cut
    # point itself), cross-sell's weight 30 gives 30 (C). The webinar counts
    # only in upsell: 1/5 * 30 = 6 activity points, still digit 4, so it
    # announces nothing.
    assert [
        (c["model_id"], c["grade"], c["fit_score"], c["activity_score"])
        for c in changes
    ] == [
        ("upsell", "B4", 50.0, 0.0),
        ("cross_sell", "C4", 30.0, 0.0),
    ]


def test_as_of_catches_up_decay(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    lines = [
        {
            "type": "conversion",
            "contact_id": "a",
            "event_id": f"w{i}",
            "timestamp": "2015-05-17T11:00:00Z",
            "name": "Webinar Registration",
        }
        for i in range(5)
    ]
    source.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "out.jsonl"
    args = [
        "replay",
        str(source),
        "--model",
        str(ROOT / "models/upsell.yaml"),
        "--out",
        str(out),
        "--as-of",
        "2016-01-01T00:00:00Z",
    ]
    assert main(args) == 0
    changes = [jsonutil.loads(x) for x in out.read_bytes().splitlines()]
    # The first webinar grades the contact: 1/5 * 30 = 6 points, D4. Five
    # give 30 points (D3). Webinar periods are 30 days from 1970-01-01; the
    # current one opened 2015-05-05, so at 2015-06-04 they are one period
    # old (30 * 0.9 = 27, still D3), and at 2015-07-04 two (24: D4).
    assert [(c["cause"], c["grade"], c["as_of"]) for c in changes] == [
        ("event", "D4", "2015-05-17T11:00:00.000Z"),
        ("event", "D3", "2015-05-17T11:00:00.000Z"),
        ("decay", "D4", "2015-07-04T00:00:00.000Z"),
    ]


def test_explain_json_hand_computed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(
            json.dumps(
                {
                    "type": "conversion",
                    "contact_id": "x",
                    "event_id": f"c{i}",
                    "timestamp": "2015-05-17T11:00:00Z",
                    "name": "1",
                }
            )
            for i in range(2)
        )
    )
    args = [
        "explain",
        "--model",
        str(ROOT / "models/upsell.yaml"),
        "--properties",
        '{"Last NPS Score": "8", "# Of Support Cases": 1}',
        "--events",
        str(events),
        "--json",
    ]
    assert main(args) == 0
    (report,) = jsonutil.loads(capsys.readouterr().out)
    # Fit: NPS 8 -> 75% of 50 = 37.5; 1 case -> first range 0-1, 100% of 50.
    # Activity: two escalations now -> 2/5 * 30 = 12. Grade A4.
    assert (report["fit_score"], report["activity_score"], report["grade"]) == (
        87.5,
        12.0,
        "A4",
    )
    assert report["recommended_action"] == "automated_campaign"
    escalations = report["breakdown"]["activity"][1]
    assert escalations["periods"] == [{"k": 0, "count": 2, "credit": 0.4, "decay": 1.0}]


def test_explain_text_names_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "explain",
        "--model",
        str(ROOT / "models/upsell.yaml"),
        "--properties",
        '{"Last NPS Score": "n/a"}',
        "--as-of",
        "2015-05-17T00:00:00Z",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "grade D4" in out
    assert "Last NPS Score = 'n/a': not_a_number" in out
    assert "# Of Support Cases" in out and "missing" in out


def test_explain_leaves_out_inputs_after_as_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    rows = [
        {
            "type": "conversion",
            "contact_id": "x",
            "event_id": f"c{i}",
            "timestamp": f"2015-05-1{i}T11:00:00Z",
            "name": "1",
        }
        for i in (5, 6, 7)
    ]
    events.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    args = [
        "explain",
        "--model",
        str(ROOT / "models/upsell.yaml"),
        "--events",
        str(events),
        "--as-of",
        "2015-05-16T12:00:00Z",
        "--json",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    (report,) = jsonutil.loads(captured.out)
    # Two escalations before the as-of time: 2/5 * 30 = 12.
    assert report["activity_score"] == 12.0
    assert "1 input(s) dated after --as-of left out" in captured.err
    assert ":4: skipped: malformed_json" in captured.err


def test_replay_refuses_as_of_before_the_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"type":"conversion","contact_id":"a","event_id":"w",'
        '"timestamp":"2015-05-17T11:00:00Z","name":"1"}\n'
    )
    args = [
        "replay",
        str(source),
        *SEED,
        "--as-of",
        "2015-05-01T00:00:00Z",
        "--out",
        str(tmp_path / "o.jsonl"),
    ]
    assert main(args) == 1
    assert "is before the input's latest event time" in capsys.readouterr().err


def test_missing_files_give_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl"), *SEED]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scorestream replay: No such file or directory")
    assert "Traceback" not in err


def test_dash_writes_final_rows_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"type":"property_change","contact_id":"a","timestamp":0,'
        '"properties":{"Last NPS Score":9}}\n'
    )
    args = [
        "replay",
        str(source),
        "--model",
        str(ROOT / "models/upsell.yaml"),
        "--out",
        str(tmp_path / "o.jsonl"),
        "--final",
        "-",
    ]
    assert main(args) == 0
    rows = [jsonutil.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rows == [
        {
            "model_id": "upsell",
            "contact_id": "a",
            "grade": "B4",
            "fit_score": 50.0,
            "activity_score": 0.0,
        }
    ]
