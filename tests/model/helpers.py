"""A small valid model and helpers to break it and write it to disk."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream.errors import ModelError, Problem
from stream.model.load import load_model

DELETE = object()


def base_model() -> dict[str, Any]:
    """A small valid model with 2 fit and 3 activity categories."""
    return {
        "id": "demo",
        "name": "Demo",
        "version": 2,
        "status": "active",
        "fit": [
            {
                "name": "NPS",
                "weight": 50,
                "mappings": ["Last NPS Score"],
                "ranges": [
                    {"min": 0, "max": 6, "score": -25},
                    {"min": 7, "max": 10, "score": 100},
                ],
            },
            {
                "name": "Plan",
                "weight": 50,
                "mappings": ["Plan"],
                "values": [{"values": ["Gold", 3], "score": 100}],
            },
        ],
        "activity": [
            {
                "name": "Docs",
                "weight": 40,
                "event": "page_visit",
                "decay_percent": 15,
                "interval_days": 45,
                "rules": [{"field": "url", "op": "glob", "values": ["*/docs/*"]}],
            },
            {
                "name": "Pricing",
                "weight": 30,
                "event": "page_visit",
                "decay_percent": 10,
                "interval_days": 30,
                "rules": [],
                "any": [[{"field": "url", "op": "contains", "values": ["pricing"]}]],
            },
            {
                "name": "Webinar",
                "weight": 30,
                "event": "conversion",
                "decay_percent": 10,
                "interval_days": 30,
                "rules": [{"field": "name", "op": "equals", "values": ["Webinar"]}],
            },
        ],
    }


def change(data: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with DELETE remove) the field at a path like `fit[1].weight`."""
    parts: list[str | int] = [
        int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)
    ]
    node: Any = data
    for part in parts[:-1]:
        node = node[part]
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value


def write(folder: Path, name: str, data: Any) -> Path:
    """Write `data` as JSON or YAML, chosen by the file name."""
    path = folder / name
    if name.endswith(".json"):
        path.write_text(json.dumps(data), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[Problem]:
    """The problems load_model reports for `path` (it must fail)."""
    with pytest.raises(ModelError) as caught:
        load_model(path)
    return caught.value.problems
