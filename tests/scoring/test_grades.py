"""Grades: thresholds, float-safe comparisons, hysteresis, playbook."""

from __future__ import annotations

import pytest

from stream.model.types import DEFAULT_ACTIONS, GRADES
from stream.scoring.grades import grade_of, level

CUTS = (75.0, 50.0, 25.0)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (100, 0),
        (75, 0),
        (74.9999, 1),
        (50, 1),
        (49.99, 2),
        (25, 2),
        (24.99, 3),
        (0, 3),
        (-100, 3),
    ],
)
def test_exact_threshold_boundaries(score: float, expected: int) -> None:
    assert level(score, CUTS) == expected


def test_float_noise_never_moves_a_grade() -> None:
    # 0.1 + 0.2 style noise: 49.99999999999999 is 50 at 9 decimals.
    assert 40 * (0.8 * 0.7) + 30 * (0.6 * 0.6) + 30 * (0.8 * 0.7) < 50
    assert level(40 * (0.8 * 0.7) + 30 * (0.6 * 0.6) + 30 * (0.8 * 0.7), CUTS) == 1


@pytest.mark.parametrize(
    ("fit", "activity", "grade"),
    [
        (f, a, letter + digit)
        for f, letter in ((80, "A"), (60, "B"), (30, "C"), (-5, "D"))
        for a, digit in ((90, "1"), (55, "2"), (26, "3"), (0, "4"))
    ],
)
def test_all_sixteen_grades(fit: float, activity: float, grade: str) -> None:
    assert grade_of(fit, activity, CUTS, CUTS) == grade


def test_custom_thresholds() -> None:
    assert grade_of(61, 31, (90, 60, 30), (90, 60, 30)) == "B3"


def test_hysteresis_spec_example() -> None:
    # Last A1, activity drops to 48 with 5 points of hysteresis: 48 < 75-5
    # moves past the first cut point, 48 >= 50-5 stops at the second: A2.
    assert grade_of(80, 48, CUTS, CUTS, 5, previous="A1") == "A2"


def test_hysteresis_holds_inside_the_band() -> None:
    assert grade_of(80, 46, CUTS, CUTS, 5, previous="A2") == "A2"
    assert grade_of(80, 44.9, CUTS, CUTS, 5, previous="A2") == "A3"


def test_hysteresis_band_edge_is_inclusive() -> None:
    # 20 is not below 25 - 5, so A1 -> A3, not A4.
    assert grade_of(80, 20, CUTS, CUTS, 5, previous="A1") == "A3"
    assert grade_of(80, 19.99, CUTS, CUTS, 5, previous="A1") == "A4"


def test_hysteresis_moves_up_at_the_plain_cut_point() -> None:
    assert grade_of(80, 50, CUTS, CUTS, 5, previous="A3") == "A2"
    assert grade_of(75, 0, CUTS, CUTS, 5, previous="B4") == "A4"


def test_hysteresis_applies_to_fit_too() -> None:
    assert grade_of(72, 90, CUTS, CUTS, 5, previous="A1") == "A1"
    assert grade_of(69, 90, CUTS, CUTS, 5, previous="A1") == "B1"


def test_first_grade_uses_plain_cut_points() -> None:
    assert grade_of(72, 72, CUTS, CUTS, 5, previous=None) == "B2"


@pytest.mark.parametrize(
    ("grade", "action"),
    [
        ("A1", "assign_sales_rep"),
        ("A2", "assign_sales_rep"),
        ("B1", "in_product_offer"),
        ("B2", "in_product_offer"),
        ("A3", "automated_campaign"),
        ("A4", "automated_campaign"),
        ("B3", "quarterly_education"),
        ("B4", "quarterly_education"),
    ]
    + [(f"{x}{d}", "ads_and_behavioral") for x in "CD" for d in "1234"],
)
def test_every_playbook_action(grade: str, action: str) -> None:
    assert DEFAULT_ACTIONS[grade] == action


def test_playbook_covers_sixteen_grades() -> None:
    assert sorted(DEFAULT_ACTIONS) == sorted(GRADES) and len(GRADES) == 16
