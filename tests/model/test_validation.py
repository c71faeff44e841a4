"""Broken model files: each mistake is reported with file, path and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stream.model.load import load_model
from tests.model.helpers import DELETE, base_model, change, problems_of, write

R0 = "activity[0].rules[0]"
SLOW = {"field": "url", "op": "regex", "values": ["^/(a+)+$"]}
UNCLOSED = {"field": "url", "op": "regex", "values": ["ok", "(unclosed"]}

# case: (file name, field to change, new value, path reported (None: the
# changed one), the bad value as shown, a piece of what would be valid)
# fmt: off
BROKEN: dict[str, tuple[str, str, Any, str | None, str, str]] = {
    "typo top": ("a.yaml", "wieght", 3, None, '"wieght"',
                 "valid fields here: actions, activity"),
    "typo in rule": ("a.json", f"{R0}.vals", ["x"], None, '"vals"',
                     "did you mean 'values'"),
    "unknown op": ("a.yaml", "activity[2].rules[0].op", "regx", None, '"regx"',
                   "valid: glob, equals, prefix"),
    "fit sum": ("a.yaml", "fit[1].weight", 40, "fit", "90",
                'model "demo": the fit weights add up to 90'),
    "activity sum": ("a.json", "activity[0].weight", 50, "activity", "110",
                     "must add up to exactly 100"),
    "min above max": ("a.yaml", "fit[0].ranges[1].min", 11, "fit[0].ranges[1]",
                      "min 11", "min <= max"),
    "score range": ("a.yaml", "fit[0].ranges[0].score", 150, None, "150",
                    "at most 100"),
    "zero weight": ("a.yaml", "fit[1].weight", 0, None, "0", "must be above 0"),
    "thresholds order": ("a.yaml", "thresholds", {"fit": [25, 50, 75]},
                         "thresholds.fit", "[25, 50, 75]", "strictly descending"),
    "activity cut": ("a.json", "thresholds", {"activity": [75, 50, -5]},
                     "thresholds.activity[2]", "-5", "at least 0"),
    "hysteresis": ("a.yaml", "hysteresis", -1, None, "-1", "at least 0"),
    "bad regex": ("a.yaml", R0, UNCLOSED, f"{R0}.values[1]", '"(unclosed"',
                  "not a valid regular expression"),
    "slow regex": ("a.yaml", R0, SLOW, f"{R0}.values[0]", '"^/(a+)+$"',
                   "exponential time"),
    "exists with values": ("a.yaml", f"{R0}.op", "exists", f"{R0}.values",
                           '["*/docs/*"]', "takes no values"),
    "no values": ("a.json", f"{R0}.values", DELETE, None, "glob",
                  "needs at least one value"),
    "empty values": ("a.yaml", f"{R0}.values", [], None, "[]",
                     "needs at least one value"),
    "name on a visit": ("a.yaml", f"{R0}.field", "name", None, '"name"',
                        "valid: url, title, referrer"),
    "title on a conversion": ("a.yaml", "activity[2].rules[0].field", "title",
                              None, '"title"', "valid: name, url"),
    "unknown event field": ("a.yaml", f"{R0}.field", "path", None, '"path"',
                            "properties.NAME"),
    "timezone": ("a.yaml", "timezone", "Mars/Base", None, '"Mars/Base"',
                 "IANA time zone"),
    "impossible date": ("a.yaml", "period_anchor", "2015-02-30", None,
                        '"2015-02-30"', "real date YYYY-MM-DD"),
    "date format": ("a.json", "period_anchor", "17/05/2015", None,
                    '"17/05/2015"', "YYYY-MM-DD"),
    "interval": ("a.yaml", "activity[1].interval_days", 0, None, "0",
                 "at least 1"),
    "periods": ("a.yaml", "activity[1].periods", 0, None, "0", "at least 1"),
    "frequencies": ("a.yaml", "activity[1].min_frequency", 6,
                    "activity[1].max_frequency", "5", "at least min_frequency"),
    "decay": ("a.yaml", "activity[2].decay_percent", 101, None, "101",
              "at most 100"),
    "action grade": ("a.yaml", "actions", {"E5": "call"}, "actions.E5", '"E5"',
                     "A1, A2"),
    "action blank": ("a.json", "actions", {"A1": " "}, "actions.A1", '" "',
                     "non-empty"),
    "ranges and values": ("a.yaml", "fit[0].values",
                          [{"values": ["x"], "score": 1}], "fit[0]",
                          "ranges and values", "exactly one of ranges or values"),
    "neither": ("a.yaml", "fit[1].values", DELETE, "fit[1]", '"Plan"',
                "needs ranges or values"),
    "no mappings": ("a.yaml", "fit[0].mappings", [], None, "[]", "at least 1"),
    "same name": ("a.yaml", "activity[2].name", "docs", None, '"docs"',
                  "already the name of activity[0]"),
    "id": ("a.yaml", "id", "Demo Model", None, '"Demo Model"',
           "lowercase letters, digits"),
    "version": ("a.json", "version", 1.5, None, "1.5", "whole number"),
    "status": ("a.yaml", "status", "live", None, '"live"',
               "valid: draft, testing, active"),
    "unquoted rule value": ("a.json", "activity[2].rules[0].values", [0, 1],
                            "activity[2].rules[0].values[0]", "0",
                            "quoted string"),
    "missing event": ("a.yaml", "activity[1].event", DELETE, None, "missing",
                      "name, weight, event"),
    "op inside any": ("a.yaml", "activity[1].any[0][0].op", "like", None,
                      '"like"', "valid: glob"),
    "weight as text": ("a.yaml", "fit[0].weight", "50", None, '"50"',
                       "expected a number"),
}
# fmt: on


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_model_names_file_path_and_value(tmp_path: Path, case: str) -> None:
    name, field, value, reported, shown, hint = BROKEN[case]
    path = reported or field
    data = base_model()
    change(data, field, value)
    file = write(tmp_path, name, data)

    problems = problems_of(file)

    matching = [p for p in problems if p.path == path]
    assert matching, f"no problem at {path}: {[str(p) for p in problems]}"
    problem = matching[0]
    assert problem.source == str(file)
    assert str(problem).startswith(f"{file}: {path}: ")
    assert shown in problem.message
    assert hint in problem.message


def test_enough_kinds_of_broken_file() -> None:
    assert len(BROKEN) >= 20


def test_the_base_model_is_valid(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, "demo.yaml", base_model()))

    assert model.id == "demo"
    assert model.fit[1].values is not None
    assert model.fit[1].values[0].values == ("Gold", 3)


def test_three_errors_in_one_file_are_all_reported(tmp_path: Path) -> None:
    data = base_model()
    change(data, "status", "on")
    change(data, "fit[0].ranges[0].score", -300)
    change(data, "activity[2].rules[0].op", "starts_with")
    file = write(tmp_path, "three.yaml", data)

    problems = problems_of(file)

    assert [p.path for p in problems] == [
        "status",
        "fit[0].ranges[0].score",
        "activity[2].rules[0].op",
    ]
    assert all(p.source == str(file) for p in problems)


def test_infinite_number_is_reported_where_it_is(tmp_path: Path) -> None:
    file = write(tmp_path, "inf.yaml", base_model())
    file.write_text(file.read_text() + "hysteresis: .inf\n", encoding="utf-8")

    [problem] = problems_of(file)

    assert problem.path == "hysteresis"
    assert "expected a number" in problem.message


def test_yaml_key_given_twice_is_an_error(tmp_path: Path) -> None:
    file = write(tmp_path, "twice.yaml", base_model())
    file.write_text(file.read_text() + "version: 3\n", encoding="utf-8")

    problems = problems_of(file)

    assert [p.message for p in problems] == ['field "version" is given twice']
    assert problems[0].path.startswith("line ")
