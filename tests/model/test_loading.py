"""Loading model files and folders: templates, syntax errors, ids, formats."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from stream.errors import ModelError
from stream.model.load import load_model, load_model_dir, load_models, parse_model
from tests.model.helpers import base_model, change, problems_of, write

REPO = Path(__file__).resolve().parents[2]


def test_the_four_templates_load() -> None:
    models = {m.id: m for m in load_model_dir(REPO / "models")}

    assert set(models) == {"upsell", "cross_sell", "acquisition", "churn_risk"}
    assert all(m.status == "active" for m in models.values())
    upsell = models["upsell"]
    assert [(c.name, c.weight) for c in upsell.fit] == [
        ("Last NPS Score", 50),
        ("# Of Support Cases", 50),
    ]
    assert [
        (c.name, c.weight, c.decay_percent, c.interval_days) for c in upsell.activity
    ] == [
        ("Viewed Support & Resource Centre", 40, 15, 45),
        ("# Of Case Escalations", 30, 10, 45),
        ("Attended Customer Webinar", 30, 10, 30),
    ]
    assert upsell.activity[1].rules[0].values == ("0", "1")
    cross = models["cross_sell"]
    assert cross.fit[0].values is not None
    assert cross.fit[0].values[0].values == (1, 2, 3, 4, 5)
    assert [c.weight for c in cross.fit] == [50, 30, 20]
    assert cross.activity[2].name == "Downloaded Product Brief"
    # An unquoted No must stay text, or a TechSupport match would never hit.
    churn = models["churn_risk"]
    assert churn.fit[2].values is not None
    assert churn.fit[2].values[0].values == ("No",)


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("id: demo\nname: Demo\nfit: [\n  {name: x\n", encoding="utf-8")

    problems = problems_of(file)

    assert len(problems) == 1
    assert problems[0].path.startswith("line ")
    assert ", column " in problems[0].path
    assert "YAML syntax error" in problems[0].message


def test_json_syntax_error_gives_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.json"
    file.write_text('{\n  "id": "demo",\n  "name": }\n', encoding="utf-8")

    problems = problems_of(file)

    assert problems[0].path == "line 3, column 11"
    assert "JSON syntax error" in problems[0].message


def test_duplicate_ids_across_files_name_both(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", base_model())
    second = write(tmp_path, "b.json", base_model())

    with pytest.raises(ModelError) as caught:
        load_model_dir(tmp_path)

    [problem] = caught.value.problems
    assert problem.source == str(second)
    assert problem.path == "id"
    assert str(first) in problem.message


def test_load_models_collects_problems_of_every_file(tmp_path: Path) -> None:
    bad_a = base_model()
    change(bad_a, "status", "live")
    bad_b = base_model()
    change(bad_b, "id", "other")
    change(bad_b, "version", 0)
    files = [write(tmp_path, "a.yaml", bad_a), write(tmp_path, "b.yaml", bad_b)]

    with pytest.raises(ModelError) as caught:
        load_models(files)

    assert {(p.source, p.path) for p in caught.value.problems} == {
        (str(files[0]), "status"),
        (str(files[1]), "version"),
    }
    assert str(files[0]) in str(caught.value)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model", encoding="utf-8")
    with pytest.raises(ModelError, match="no model files"):
        load_model_dir(tmp_path)


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"\.yaml, \.yml, \.json"):
        load_model(tmp_path / "model.toml")
    with pytest.raises(ModelError, match="file not found"):
        load_model(tmp_path / "absent.yaml")


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    file = tmp_path / "empty.yml"
    file.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(ModelError, match="empty"):
        load_model(file)


@pytest.mark.parametrize("anchor", ["2015-05-17", "'2015-05-17'"])
def test_yaml_date_and_string_anchor_are_the_same(tmp_path: Path, anchor: str) -> None:
    file = write(tmp_path, "anchored.yaml", base_model())
    file.write_text(f"{file.read_text()}period_anchor: {anchor}\n", encoding="utf-8")

    assert load_model(file).period_anchor == dt.date(2015, 5, 17)


def test_json_and_yaml_of_one_model_load_identically(tmp_path: Path) -> None:
    data = base_model()
    data.update(
        timezone="Europe/Berlin",
        period_anchor="2015-05-11",
        thresholds={"fit": [80, 60, 40]},
        hysteresis=5,
        actions={"C1": "nurture"},
    )
    from_yaml = load_model(write(tmp_path, "m.yaml", data))
    from_json = load_model(write(tmp_path, "m.json", copy.deepcopy(data)))

    assert from_yaml.source != from_json.source
    assert dataclasses.replace(from_json, source=from_yaml.source) == from_yaml
    assert from_yaml.fit_thresholds == (80, 60, 40)
    assert from_yaml.activity_thresholds == (75, 50, 25)
    assert from_yaml.action_for("C1") == "nurture"
    assert from_yaml.action_for("A1") == "assign_sales_rep"


def test_defaults_fill_what_the_file_leaves_out() -> None:
    model = parse_model(base_model(), "inline")

    assert model.source == "inline"
    assert model.timezone == "UTC"
    assert model.period_anchor == dt.date(1970, 1, 1)
    assert model.future_tolerance_seconds == 300
    assert model.hysteresis == 0
    docs = model.activity[0]
    assert (docs.periods, docs.min_frequency, docs.max_frequency) == (5, 1, 5)
    assert model.activity[1].rules == ()
    assert model.activity[1].any is not None
    assert model.activity[1].any[0][0].values == ("pricing",)


def test_exists_needs_no_values() -> None:
    data = base_model()
    change(data, "activity[0].rules", [{"field": "properties.plan", "op": "exists"}])

    rule = parse_model(data, "inline").activity[0].rules[0]

    assert (rule.field, rule.op, rule.values) == ("properties.plan", "exists", ())


def test_not_a_mapping_at_top_level() -> None:
    with pytest.raises(ModelError, match="mapping of field: value"):
        parse_model(["id", "demo"], "list.json")
