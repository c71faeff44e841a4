"""Fit categories, hand-computed: ranges, values, blanks and reasons."""

from __future__ import annotations

import math

import pytest

from stream.scoring.fit import FitScorer
from tests.factories import CASES_RANGES, NPS_RANGES, fit, values_fit

NPS = FitScorer(fit("Last NPS Score", 50, ranges=NPS_RANGES))
CASES = FitScorer(fit("# Of Support Cases", 50, ranges=CASES_RANGES))
MONTHS = FitScorer(
    values_fit("Months Since Start Date", 50, [([1, 2, 3, 4, 5], 25), ([6, 7], 100)])
)


def test_overlapping_ranges_first_match_wins() -> None:
    # 1 is in both 0-1 (100%) and 1-5 (75%): the first listed wins.
    r = CASES.score({"# Of Support Cases": 1})
    assert (r.reason, r.points, r.matched) == (
        "matched",
        50 * 100 / 100,
        {"min": 0, "max": 1, "score": 100},
    )


def test_second_range_when_first_misses() -> None:
    r = CASES.score({"# Of Support Cases": "3"})
    assert r.points == 50 * 75 / 100 == 37.5


def test_negative_fit_points() -> None:
    # NPS 3 is a detractor: 50 * -25 / 100 = -12.5.
    assert NPS.score({"Last NPS Score": 3}).points == -12.5


def test_range_bounds_are_inclusive() -> None:
    assert NPS.score({"Last NPS Score": 6}).points == -12.5
    assert NPS.score({"Last NPS Score": 7}).points == 37.5
    assert NPS.score({"Last NPS Score": 10}).points == 50.0


def test_gap_between_ranges_is_no_match() -> None:
    # 6.5 lies between 0-6 and 7-8.
    r = NPS.score({"Last NPS Score": 6.5})
    assert (r.reason, r.points, r.value) == ("no_match", 0.0, 6.5)


@pytest.mark.parametrize(
    "props", [{}, {"Last NPS Score": None}, {"Last NPS Score": "  "}]
)
def test_blank_or_absent_is_missing(props: dict[str, object]) -> None:
    r = NPS.score(props)
    assert (r.reason, r.points, r.property) == ("missing", 0.0, None)


@pytest.mark.parametrize("value", ["abc", "1,000", True, math.nan, "nan", "0x10"])
def test_non_numeric_value_is_not_a_number(value: object) -> None:
    r = NPS.score({"Last NPS Score": value})
    assert (r.reason, r.points) == ("not_a_number", 0.0)


@pytest.mark.parametrize("value", ["7", "7.0", " 7 ", 7, 7.0, "0.7e1"])
def test_numbers_as_strings_parse(value: object) -> None:
    assert NPS.score({"Last NPS Score": value}).points == 37.5


def test_minus_exponent_string_is_a_number_below_every_range() -> None:
    r = NPS.score({"Last NPS Score": "-1e2"})
    assert (r.reason, r.value) == ("no_match", "-1e2")


@pytest.mark.parametrize("value", ["6", 6, 6.0, " 6.0 ", "7"])
def test_values_compare_numerically(value: object) -> None:
    # "6", 6 and 6.0 are the same value: 50 * 100 / 100 = 50.
    r = MONTHS.score({"Months Since Start Date": value})
    assert (r.reason, r.points) == ("matched", 50.0)


def test_values_first_group() -> None:
    assert MONTHS.score({"Months Since Start Date": "3"}).points == 12.5


def test_values_no_match() -> None:
    r = MONTHS.score({"Months Since Start Date": 12})
    assert (r.reason, r.points) == ("no_match", 0.0)


def test_values_match_trimmed_and_case_insensitive() -> None:
    contract = FitScorer(values_fit("Contract", 100, [(["Month-to-month"], 80)]))
    assert contract.score({"Contract": "  MONTH-TO-MONTH "}).points == 80.0
    assert contract.score({"Contract": "Two year"}).reason == "no_match"


def test_first_non_blank_mapping_is_used() -> None:
    cat = FitScorer(fit("NPS", 40, mappings=["nps_a", "nps_b"], ranges=NPS_RANGES))
    r = cat.score({"nps_a": " ", "nps_b": 9})
    assert (r.property, r.points) == ("nps_b", 40.0)


def test_no_fall_through_after_a_non_matching_mapping() -> None:
    # nps_a holds a value that matches nothing; nps_b would match, but the
    # first non-blank mapping is the one used.
    cat = FitScorer(fit("NPS", 40, mappings=["nps_a", "nps_b"], ranges=NPS_RANGES))
    r = cat.score({"nps_a": "11", "nps_b": 9})
    assert (r.property, r.reason, r.points) == ("nps_a", "no_match", 0.0)


def test_breakdown_dict_keeps_reason_and_value() -> None:
    d = NPS.score({"Last NPS Score": "8"}).to_dict()
    assert d == {
        "category": "Last NPS Score",
        "weight": 50,
        "points": 37.5,
        "reason": "matched",
        "property": "Last NPS Score",
        "value": "8",
        "matched": {"min": 7, "max": 8, "score": 75},
    }
