"""Backtest: a hand-checked comparison, the rank AUC, and the CLI on real data."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stream.backtest import Backtest, rank_auc, run_backtest
from stream.cli.main import main
from stream.errors import ScoringError
from stream.model.types import ActivityCategory, EventKind, Model, RangeScore, Rule
from stream.realdata import write_replay
from tests.factories import fit, model, values_fit

MODELS = Path(__file__).resolve().parents[1] / "models"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Both models share the id "alpha" (versions 1 and 2), as two versions of
# one model would, and still run side by side. Weeks start on Monday
# 2024-01-01 (the anchor); every event falls in that first week, and the
# backtest grades on Tuesday 2024-01-09, one period later, where the
# decay of 50% per period halves every activity score.
WEEK_ONE = dt.date(2024, 1, 1)
AS_OF = "2024-01-09T00:00:00Z"


def _activity(name: str, event: EventKind, rule: Rule) -> ActivityCategory:
    # Two events in a period give the full weight, one gives half.
    return ActivityCategory(
        name, 100, event, (rule,), 50, 7, periods=2, max_frequency=2
    )


def model_a() -> Model:
    """Fit from Plan (gold 100, silver 60, bronze 30); pricing-page visits."""
    return model(
        (
            values_fit(
                "Plan", 100, [(["gold"], 100), (["silver"], 60), (["bronze"], 30)]
            ),
        ),
        (_activity("Pricing", "page_visit", Rule("url", "glob", ("*/pricing*",))),),
        id="alpha",
        version=1,
        period_anchor=WEEK_ONE,
    )


def model_b() -> Model:
    """Fit from Seats (0-9: 20, 10-99: 60, 100+: 100); Demo conversions."""
    seats = (RangeScore(0, 9, 20), RangeScore(10, 99, 60), RangeScore(100, 1e9, 100))
    return model(
        (fit("Seats", 100, ranges=seats),),
        (_activity("Demo", "conversion", Rule("name", "equals", ("Demo",))),),
        id="alpha",
        version=2,
        period_anchor=WEEK_ONE,
    )


def props(contact: str, **values: Any) -> dict[str, Any]:
    return {
        "type": "property_change",
        "contact_id": contact,
        "timestamp": "2024-01-01T00:00:00Z",
        "properties": values,
    }


def visit(contact: str, day: int, n: int) -> dict[str, Any]:
    return {
        "type": "page_visit",
        "event_id": f"{contact}-v{n}",
        "contact_id": contact,
        "timestamp": f"2024-01-0{day}T10:0{n}:00Z",
        "url": "https://example.com/pricing",
    }


def demo(contact: str, day: int, n: int) -> dict[str, Any]:
    return {
        "type": "conversion",
        "event_id": f"{contact}-d{n}",
        "contact_id": contact,
        "timestamp": f"2024-01-0{day}T11:0{n}:00Z",
        "name": "Demo",
    }


# Grades under A / B, step by step (fit letter from the fit score, activity
# digit from 50 points per event, halved by decay on 2024-01-08):
#
# c1  gold, 150 seats, Churn Yes; 2 visits, 2 demos
#     A: A4 first, visits A2, A1, decay A2      -> A2   (1 pc, 2 event, 1 decay)
#     B: A4 first, demos A2, A1, decay A2       -> A2   (1 pc, 2 event, 1 decay)
# c2  silver, 5 seats, Churn No; 1 visit
#     A: B4 first, visit B2, decay 25 -> B3     -> B3   (1 pc, 1 event, 1 decay)
#     B: fit 20: D4 first, the visit is not B's -> D4   (1 pc)
# c3  bronze, 50 seats, Churn Yes; 1 demo
#     A: fit 30: C4 first, the demo is not A's  -> C4   (1 pc)
#     B: fit 60: B4 first, demo B2, decay B3    -> B3   (1 pc, 1 event, 1 decay)
# c4  gold, 150 seats, Churn No; nothing else
#     A: A4                                     -> A4   (1 pc)
#     B: A4                                     -> A4   (1 pc)
# c5  no properties (so no label); 2 visits, its first input is a visit
#     A: D2 first, D1, decay D2                 -> D2   (2 event, 1 decay)
#     B: D4 first (fit 0, no demo)              -> D4   (1 event)
# c6  silver, 500 seats, Churn Yes; 2 demos
#     A: fit 60: B4                             -> B4   (1 pc)
#     B: A4 first, demos A2, A1, decay A2       -> A2   (1 pc, 2 event, 1 decay)
LINES = [
    props("c1", Plan="gold", Seats=150, Churn="Yes"),
    props("c2", Plan="silver", Seats=5, Churn="No"),
    props("c3", Plan="bronze", Seats=50, Churn="Yes"),
    props("c4", Plan="Gold", Seats="150", Churn="No"),
    props("c6", Plan="silver", Seats=500, Churn=" yes "),
    visit("c1", 2, 1),
    visit("c1", 2, 2),
    demo("c6", 2, 1),
    demo("c6", 2, 2),
    demo("c1", 3, 1),
    demo("c1", 3, 2),
    visit("c2", 4, 1),
    demo("c3", 5, 1),
    visit("c5", 6, 1),
    visit("c5", 6, 2),
]


def hand_case() -> Backtest:
    lines = [json.dumps(line).encode() for line in LINES]
    return run_backtest(
        lines, model_a(), model_b(), as_of=ms(AS_OF), label="Churn", positive="Yes"
    )


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


def test_transition_matrix_and_distributions_by_hand() -> None:
    result = hand_case()

    assert result.transitions() == {
        ("A2", "A2"): 1,  # c1
        ("B3", "D4"): 1,  # c2
        ("C4", "B3"): 1,  # c3
        ("A4", "A4"): 1,  # c4
        ("D2", "D4"): 1,  # c5
        ("B4", "A2"): 1,  # c6
    }
    assert result.differing() == 4
    assert len(result.compared()) == len(result.contacts) == 6
    assert result.distribution(0) == {
        g: 1 for g in ("A2", "B3", "C4", "A4", "D2", "B4")
    }
    assert result.distribution(1) == {"A2": 2, "D4": 2, "B3": 1, "A4": 1}


def test_change_counts_by_cause_by_hand() -> None:
    a, b = hand_case().changes

    assert (a.total, a.first) == (13, 6)
    assert dict(a.by_cause) == {"property_change": 5, "event": 5, "decay": 3}
    assert (b.total, b.first) == (14, 6)
    assert dict(b.by_cause) == {"property_change": 5, "event": 6, "decay": 3}


def test_label_shares_spread_and_auc_by_hand() -> None:
    result = hand_case()
    assert result.label_totals() == (5, 3, 1)  # c5 has no Churn property
    report_a, report_b = result.label_report(0), result.label_report(1)
    assert report_a is not None and report_b is not None

    # A: letters A {c1 Yes, c4 No}, B {c2 No, c6 Yes}, C {c3 Yes}; no D
    # labelled (c5 has no label), so the worst letter present is C.
    shares_a = {k: (s.contacts, s.positives) for k, s in report_a.by_letter.items()}
    assert shares_a == {"A": (2, 1), "B": (2, 1), "C": (1, 1)}
    assert report_a.letter_spread == pytest.approx(0.5 - 1.0)
    grades_a = {g: (s.contacts, s.positives) for g, s in report_a.by_grade.items()}
    assert grades_a == {
        "A2": (1, 1),
        "A4": (1, 0),
        "B3": (1, 0),
        "B4": (1, 1),
        "C4": (1, 1),
    }
    # Fit scores: positives 100, 30, 60; negatives 60, 100. Of the 6 pairs,
    # 100>60 wins, 100=100 and 60=60 tie (half each), the rest lose: 2/6.
    assert report_a.fit_auc == pytest.approx(2 / 6)

    # B: A {c1 Yes, c4 No, c6 Yes}, B {c3 Yes}, D {c2 No}.
    shares_b = {k: (s.contacts, s.positives) for k, s in report_b.by_letter.items()}
    assert shares_b == {"A": (3, 2), "B": (1, 1), "D": (1, 0)}
    assert report_b.letter_spread == pytest.approx(2 / 3)
    grades_b = {g: (s.contacts, s.positives) for g, s in report_b.by_grade.items()}
    assert grades_b == {"A2": (2, 2), "A4": (1, 0), "B3": (1, 1), "D4": (1, 0)}
    # Positives 100, 60, 100; negatives 20, 100: wins 100>20 twice and
    # 60>20, ties 100=100 twice, loses 60<100: (3 + 1) / 6.
    assert report_b.fit_auc == pytest.approx(4 / 6)


def test_rank_auc_with_a_tie() -> None:
    # Positives 3 and 2, negatives 2 and 1: 3>2, 3>1, 2>1 win, 2=2 ties.
    scored = [(3.0, True), (2.0, True), (2.0, False), (1.0, False)]
    assert rank_auc(scored) == pytest.approx(3.5 / 4)
    # Float noise below the rounding of grades is still a tie.
    assert rank_auc([(0.1 + 0.2, True), (0.3, False)]) == pytest.approx(0.5)
    assert rank_auc([(1.0, True), (2.0, True)]) is None


def test_drafts_run_and_as_of_cannot_precede_the_input() -> None:
    draft = model(id="draft_one", status="draft")
    lines = [json.dumps(line).encode() for line in LINES]
    result = run_backtest(lines, draft, model_a())
    assert sum(result.distribution(0).values()) == 6

    with pytest.raises(ScoringError, match="before the input's last time"):
        run_backtest(lines, model_a(), model_b(), as_of=ms("2024-01-05T00:00:00Z"))


# -- the command on the real data ---------------------------------------------


@pytest.fixture(scope="module")
def real_replay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("backtest") / "replay.jsonl"
    write_replay(path)
    return path


def backtest_args(replay: Path, *extra: str) -> list[str]:
    return [
        "backtest",
        str(replay),
        "--model",
        str(MODELS / "churn_risk.yaml"),
        "--model",
        str(MODELS / "upsell.yaml"),
        "--label",
        "Churn",
        "--positive",
        "Yes",
        *extra,
    ]


def scorestream(args: list[str]) -> str:
    """Run the real command in its own process, as a user would; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "stream.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cli_on_real_data_totals_agree(real_replay: Path, tmp_path: Path) -> None:
    png = tmp_path / "grades.png"
    report = json.loads(
        scorestream(backtest_args(real_replay, "--json", "--plot", str(png)))
    )

    contacts = 7043  # one per telco row (docs/data.md)
    assert report["contacts"] == report["compared"] == contacts
    matrix = report["transitions"]
    assert sum(n for row in matrix.values() for n in row.values()) == contacts
    assert report["grade_differs"] == contacts - sum(
        row.get(grade, 0) for grade, row in matrix.items()
    )
    for side in report["models"]:
        assert sum(side["distribution"].values()) == contacts
        changes = side["changes"]
        assert sum(changes["by_cause"].values()) == changes["total"]
        assert changes["first_grades"] == contacts
        by_grade = side["label"]["by_grade"]
        assert sum(cell["contacts"] for cell in by_grade.values()) == contacts
        positives = sum(cell["positives"] for cell in by_grade.values())
        assert positives == report["label"]["positives"]
    assert report["label"]["labelled"] == contacts
    assert 0 < report["label"]["positives"] < contacts

    churn, upsell = report["models"]
    assert (churn["model_id"], upsell["model_id"]) == ("churn_risk", "upsell")
    # The churn-risk model is built to rank churners high; upsell's fit
    # reads an NPS that falls with churn, so it ranks them low.
    assert churn["label"]["fit_auc"] > 0.7
    assert upsell["label"]["fit_auc"] < 0.3

    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000


def test_cli_text_report(real_replay: Path) -> None:
    text = scorestream(backtest_args(real_replay))

    assert "7,043 contacts, 7,043 graded by both models" in text
    assert "A  churn_risk v1" in text and "B  upsell v1" in text
    assert "Grade transitions" in text and "AUC of fit score" in text


def test_cli_refuses_bad_options(
    real_replay: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one_model = ["backtest", str(real_replay), "--model", str(MODELS / "upsell.yaml")]
    assert main(one_model) == 2
    assert "exactly two models" in capsys.readouterr().err

    no_value = backtest_args(real_replay)[:-2]
    assert main(no_value) == 2
    assert "--label and --positive go together" in capsys.readouterr().err
