"""The model file's JSON Schema and its errors turned into readable problems."""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from stream.errors import Problem

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "model.schema.json"

# Patterns in the schema are for machines; these say the same to a person.
_PATTERN_HINTS = {
    "^[a-z0-9][a-z0-9_-]*$": (
        "lowercase letters, digits, '_' and '-', starting with a letter or digit"
    ),
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}$": "a date written YYYY-MM-DD",
    "^(url|name|title|referrer|properties\\..+)$": (
        "one of url, name, title, referrer, or properties.NAME"
    ),
    "\\S": "a non-empty name",
}

_TYPE_WORDS = {
    "number": "a number",
    "integer": "a whole number",
    "string": "text (a quoted string)",
    "array": "a list",
    "object": "a mapping of field: value",
    "boolean": "true or false",
    "null": "nothing",
}


@functools.cache
def model_schema() -> dict[str, Any]:
    """The parsed schema file (read once)."""
    with SCHEMA_PATH.open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(model_schema())


def show(value: Any, limit: int = 60) -> str:
    """A short, JSON-like rendering of a value for messages."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_path(parts: Iterable[str | int]) -> str:
    """`activity[2].rules[0].op` from ('activity', 2, 'rules', 0, 'op')."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else type(value).__name__


def _type_expected(expected: str | Sequence[str]) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    return " or ".join(_TYPE_WORDS.get(n, n) for n in names)


def _unknown_fields(err: ValidationError, path: list[str | int]) -> list[Problem]:
    schema: Any = err.schema
    instance: Any = err.instance
    known = sorted(schema.get("properties", {}))
    problems = []
    for key in instance:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(
            Problem(
                "",
                format_path([*path, str(key)]),
                f"unknown field {show(key)}{hint}; valid fields here: "
                + ", ".join(known),
            )
        )
    return problems


def _missing_fields(err: ValidationError, path: list[str | int]) -> list[Problem]:
    required: Any = err.validator_value
    present: Any = err.instance if isinstance(err.instance, dict) else {}
    return [
        Problem(
            "",
            format_path([*path, name]),
            f"required field is missing; this object needs {', '.join(required)}",
        )
        for name in required
        if name not in present
    ]


def _one_of(err: ValidationError) -> str:
    instance: Any = err.instance
    branches: Any = err.validator_value
    keys = set(instance) if isinstance(instance, dict) else set()
    choices = [s["required"][0] for s in branches if "required" in s]
    given = [c for c in choices if c in keys]
    options = " or ".join(choices)
    if given:
        return f"has both {' and '.join(given)}; give exactly one of {options}"
    return f"needs {options}"


def _message(err: ValidationError) -> str:
    """A readable sentence for one schema error: what was found, what is valid."""
    keyword = err.validator
    value: Any = err.instance
    expected: Any = err.validator_value
    schema: Any = err.schema
    if keyword == "type":
        return (
            f"expected {_type_expected(expected)}, got {_kind_of(value)} {show(value)}"
        )
    if keyword == "enum":
        close = difflib.get_close_matches(str(value), [str(e) for e in expected], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        valid = ", ".join(str(e) for e in expected)
        return f"{show(value)} is not allowed{hint}; valid: {valid}"
    if keyword == "pattern":
        hint = _PATTERN_HINTS.get(str(expected), f"text matching {expected}")
        return f"{show(value)} is not valid; expected {hint}"
    if keyword == "minimum":
        return f"{show(value)} is too small; must be at least {expected}"
    if keyword == "maximum":
        return f"{show(value)} is too large; must be at most {expected}"
    if keyword == "exclusiveMinimum":
        return f"{show(value)} is too small; must be above {expected}"
    if keyword == "exclusiveMaximum":
        return f"{show(value)} is too large; must be below {expected}"
    if keyword == "minLength":
        return f"{show(value)} is empty; give a non-empty text"
    if keyword in ("minItems", "maxItems"):
        count = len(value) if isinstance(value, list) else 0
        low = schema.get("minItems")
        high = schema.get("maxItems")
        if low is not None and low == high:
            want = f"exactly {low}"
        elif keyword == "minItems":
            want = f"at least {low}"
        else:
            want = f"at most {high}"
        return f"has {count} entries {show(value)}; needs {want}"
    if keyword == "anyOf":
        options = [s["required"][0] for s in expected if "required" in s]
        return f"needs {' or '.join(options)}"
    return err.message


def schema_problems(data: Any, source: str) -> list[Problem]:
    """Every way `data` breaks the schema, as problems naming `source`."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return [
            Problem(
                source,
                "",
                f"expected a mapping of field: value at the top level, "
                f"got {_kind_of(data)} {show(data)}",
            )
        ]
    errors = sorted(_validator().iter_errors(data), key=_path_key)
    for err in errors:
        path = list(err.absolute_path)
        if err.validator == "additionalProperties":
            found = _unknown_fields(err, path)
        elif err.validator == "required":
            found = _missing_fields(err, path)
        elif err.validator == "oneOf":
            found = [Problem("", format_path(path), _one_of(err))]
        else:
            found = [Problem("", format_path(path), _message(err))]
        for problem in found:
            problems.append(
                Problem(source, problem.path, with_category(data, path, problem))
            )
    return _unique(problems)


def _path_key(err: ValidationError) -> list[tuple[int, str | int]]:
    # Keys and indexes never share a position, but keep the sort total anyway.
    return [(0, p) if isinstance(p, int) else (1, p) for p in err.absolute_path]


def with_category(data: Any, path: Sequence[str | int], problem: Problem) -> str:
    """The message, naming the fit or activity category it sits in."""
    if len(path) < 2 or path[0] not in ("fit", "activity"):
        return problem.message
    side, index = path[0], path[1]
    try:
        name = data[side][index]["name"]
    except (KeyError, IndexError, TypeError):
        return problem.message
    if not isinstance(name, str):
        return problem.message
    return f"{problem.message} (in {side} category {show(name)})"


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    kept = []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            kept.append(problem)
    return kept
