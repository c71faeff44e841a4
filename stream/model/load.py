"""Reading model files (YAML or JSON), validating them and building Models."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Any, cast

import yaml

from stream.errors import ModelError, Problem
from stream.model.checks import semantic_problems
from stream.model.schema import schema_problems, show
from stream.model.types import (
    DEFAULT_ACTIONS,
    ActivityCategory,
    EventKind,
    FitCategory,
    Model,
    Op,
    RangeScore,
    Rule,
    Status,
    ValueScore,
)

MODEL_SUFFIXES = (".yaml", ".yml", ".json")

_BOOL_TAG = "tag:yaml.org,2002:bool"


class _ModelLoader(yaml.SafeLoader):
    """Safe YAML loading that keeps yes/no/on/off as text and spots repeats.

    YAML 1.1 reads an unquoted `No` as false, which would silently turn a
    property value such as TechSupport "No" into a boolean; only true/false
    are booleans here. A key given twice in one mapping would otherwise let
    the last one win without a word.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated: list[tuple[str, int]] = []

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            if key_node.value in seen:
                self.repeated.append((key_node.value, key_node.start_mark.line + 1))
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)

    def construct_calendar(self, node: yaml.ScalarNode) -> Any:
        # An impossible date such as 2015-02-30 stays text, so it is reported
        # with its path like any other bad value instead of aborting the read.
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_ModelLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ModelLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _ModelLoader.construct_calendar
)
_ModelLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _read_yaml(text: str, source: str) -> tuple[Any, list[Problem]]:
    loader = _ModelLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        return None, [Problem(source, where, f"YAML syntax error: {what}")]
    except yaml.YAMLError as exc:
        return None, [Problem(source, "", f"YAML syntax error: {exc}")]
    finally:
        loader.dispose()
    return data, [
        Problem(source, f"line {line}", f"field {show(key)} is given twice")
        for key, line in loader.repeated
    ]


def _read_json(text: str, source: str) -> tuple[Any, list[Problem]]:
    # The standard library parser, not the message codec: it reports line
    # and column and lets us see keys given twice.
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                repeated.append(key)
            seen[key] = value
        return seen

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=str)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        return None, [Problem(source, where, f"JSON syntax error: {exc.msg}")]
    return data, [
        Problem(source, "", f"field {show(key)} is given twice in one object")
        for key in repeated
    ]


def _plain(value: Any) -> Any:
    """The value with only JSON types: YAML dates become YYYY-MM-DD text.

    Infinite or NaN floats become text, so the schema reports them where a
    number is expected.
    """
    if isinstance(value, dict):
        return {
            str(k) if not isinstance(k, str) else k: _plain(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def parse_model(data: object, source: str) -> Model:
    """Validate already-parsed model data and build the Model.

    Raises ModelError listing every problem found.
    """
    plain = _plain(data)
    problems = schema_problems(plain, source) + semantic_problems(plain, source)
    if problems:
        raise ModelError(sorted(problems, key=lambda p: _file_order(plain, p.path)))
    return _build(cast(dict[str, Any], plain), source)


def _file_order(data: Any, path: str) -> list[int]:
    """Where `path` sits in the file, so problems are listed top to bottom."""
    order = []
    node = data
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(node, list) and part.isdigit():
            index = int(part)
            node = node[index] if index < len(node) else None
        elif isinstance(node, dict):
            keys = list(node)
            index = keys.index(part) if part in keys else len(keys)
            node = node.get(part)
        else:
            index = 0
        order.append(index)
    return order


def _build(data: dict[str, Any], source: str) -> Model:
    thresholds = data.get("thresholds", {})
    return Model(
        id=data["id"],
        name=data["name"],
        version=int(data["version"]),
        status=cast(Status, data["status"]),
        fit=tuple(_fit(c) for c in data["fit"]),
        activity=tuple(_activity(c) for c in data["activity"]),
        timezone=data.get("timezone", "UTC"),
        period_anchor=dt.date.fromisoformat(data.get("period_anchor", "1970-01-01")),
        future_tolerance_seconds=float(data.get("future_tolerance_seconds", 300)),
        fit_thresholds=_axis(thresholds.get("fit", (75, 50, 25))),
        activity_thresholds=_axis(thresholds.get("activity", (75, 50, 25))),
        hysteresis=float(data.get("hysteresis", 0)),
        actions={**DEFAULT_ACTIONS, **data.get("actions", {})},
        source=source,
    )


def _axis(points: Iterable[float]) -> tuple[float, float, float]:
    high, middle, low = (float(p) for p in points)
    return high, middle, low


def _fit(raw: dict[str, Any]) -> FitCategory:
    ranges = raw.get("ranges")
    values = raw.get("values")
    return FitCategory(
        name=raw["name"],
        weight=float(raw["weight"]),
        mappings=tuple(raw["mappings"]),
        ranges=None
        if ranges is None
        else tuple(
            RangeScore(float(r["min"]), float(r["max"]), float(r["score"]))
            for r in ranges
        ),
        values=None
        if values is None
        else tuple(ValueScore(tuple(v["values"]), float(v["score"])) for v in values),
    )


def _rule(raw: dict[str, Any]) -> Rule:
    return Rule(
        field=raw["field"], op=cast(Op, raw["op"]), values=tuple(raw.get("values", ()))
    )


def _activity(raw: dict[str, Any]) -> ActivityCategory:
    alternatives = raw.get("any")
    return ActivityCategory(
        name=raw["name"],
        weight=float(raw["weight"]),
        event=cast(EventKind, raw["event"]),
        rules=tuple(_rule(r) for r in raw.get("rules", [])),
        decay_percent=float(raw["decay_percent"]),
        interval_days=int(raw["interval_days"]),
        periods=int(raw.get("periods", 5)),
        min_frequency=int(raw.get("min_frequency", 1)),
        max_frequency=int(raw.get("max_frequency", 5)),
        any=None
        if alternatives is None
        else tuple(tuple(_rule(r) for r in group) for group in alternatives),
    )


def _check_file(path: Path) -> tuple[Model | None, list[Problem]]:
    source = str(path)
    if path.suffix.lower() not in MODEL_SUFFIXES:
        return None, [
            Problem(
                source,
                "",
                f"unknown file type {show(path.suffix)}; model files end in "
                + ", ".join(MODEL_SUFFIXES),
            )
        ]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(source, "", "file not found")]
    except UnicodeDecodeError:
        return None, [Problem(source, "", "not UTF-8 text; save the file as UTF-8")]
    except OSError as exc:
        return None, [Problem(source, "", f"cannot be read ({exc.strerror})")]

    if path.suffix.lower() == ".json":
        data, problems = _read_json(text, source)
    else:
        data, problems = _read_yaml(text, source)
    if problems and data is None:
        return None, problems
    if data is None:
        return None, [Problem(source, "", "the file is empty; it must hold a model")]

    try:
        model = parse_model(data, source)
    except ModelError as exc:
        return None, problems + exc.problems
    return (None, problems) if problems else (model, [])


def _expand(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    files: list[Path] = []
    problems: list[Problem] = []
    for entry in paths:
        path = Path(entry)
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in MODEL_SUFFIXES)
        if not found:
            problems.append(
                Problem(
                    str(path),
                    "",
                    "no model files here; expected *.yaml, *.yml or *.json",
                )
            )
        files.extend(found)
    return files, problems


def check_models(
    paths: Iterable[str | Path],
) -> tuple[list[tuple[Path, Model | None]], list[Problem]]:
    """Every file (folders expanded) with its Model or None, and all problems.

    Two files that define the same model id are a problem naming both.
    """
    files, problems = _expand(paths)
    results: list[tuple[Path, Model | None]] = []
    owners: dict[str, Path] = {}
    done: set[Path] = set()
    for path in files:
        if path.resolve() in done:
            continue
        done.add(path.resolve())
        model, found = _check_file(path)
        problems.extend(found)
        if model is not None and model.id in owners:
            problems.append(
                Problem(
                    str(path),
                    "id",
                    f"model id {show(model.id)} is already used by "
                    f"{owners[model.id]}; every model needs its own id",
                )
            )
            model = None
        elif model is not None:
            owners[model.id] = path
        results.append((path, model))
    return results, problems


def load_model(path: str | Path) -> Model:
    """One model file, YAML or JSON by its extension."""
    model, problems = _check_file(Path(path))
    if problems or model is None:
        raise ModelError(problems)
    return model


def load_models(paths: Iterable[str | Path]) -> list[Model]:
    """Several model files (or folders); all their problems in one ModelError."""
    results, problems = check_models(paths)
    if problems:
        raise ModelError(problems)
    return [model for _, model in results if model is not None]


def load_model_dir(folder: str | Path) -> list[Model]:
    """Every *.yaml, *.yml and *.json model in `folder` (not its subfolders)."""
    path = Path(folder)
    if not path.is_dir():
        raise ModelError([Problem(str(path), "", "not a folder")])
    return load_models([path])
