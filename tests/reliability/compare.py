"""Checks that what the worker produced under faults equals the offline replay.

"Identical" here means what a consumer can rely on, whatever happened to the
worker on the way:

- after dropping repeats of a (contact, model, seq), every contact's seqs
  run 1..n with no gap, and every repeat is byte-identical to the first copy;
- each change's `previous_grade` is the grade of the change before it, so no
  event announces a move from a grade the contact never had;
- the final grade and both scores of every contact under every model equal
  the replay's, and so does the set of (contact, model) pairs that changed.

The intermediate grades may differ from the replay's: the worker reads three
topics at once, so it sees a contact's visits and property changes in an
order the replay file does not fix. The seed models compared here have no
hysteresis, which makes the final grade a function of the final state.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream import jsonutil
from stream.app.settings import Settings
from stream.app.tail import read_all
from stream.kafka import topics
from stream.model.load import load_model_dir
from stream.replay import run_replay
from stream.scoring.changes import ScoreChange
from stream.scoring.engine import Engine
from stream.state import ContactState
from tests.app.helpers import REPO, by_contact_model, read_states, seq_problems

# Seed models without hysteresis: their final grade does not depend on the
# order in which the three input topics were interleaved.
MODELS = ("upsell", "cross_sell")

Key = tuple[str, str, int]

# What a change recomputed after a crash may say differently. The refetched
# batch can hold other inputs, which moves the clock, and can hold a
# contact's inputs of different topics in another order, which changes which
# of them moved the grade. The move itself (previous grade, grade, action)
# must be the same.
RECOMPUTED_FIELDS = {
    "as_of",
    "activity_score",
    "fit_score",
    "breakdown",
    "trigger",
    "cause",
}


def seed_models(folder: Path) -> Path:
    """A model folder holding only the hysteresis-free seed models."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        shutil.copy(REPO / "models" / f"{name}.yaml", folder / f"{name}.yaml")
    return folder


@dataclass
class StreamOutput:
    """The score-change topic (raw values, topic order) and the final states."""

    raw: list[bytes]
    states: dict[str, ContactState]


@dataclass
class Comparison:
    """What a comparison looked at, for the test's own assertions."""

    pairs: int = 0
    changes: int = 0
    repeats: int = 0
    contacts: int = 0
    repeated_keys: list[Key] = field(default_factory=list)
    differing: set[str] = field(default_factory=set)
    differing_repeats: int = 0


def read_output(config: Mapping[str, str], settings: Settings) -> StreamOutput:
    topic = topics.topic_name(topics.SCORE_CHANGES, settings.topic_prefix)
    raw = [value for _, _, value in read_all(config, [topic], idle_s=2.0)]
    return StreamOutput(raw, read_states(config, settings))


def replay(
    lines: Sequence[bytes], models: Path
) -> tuple[Engine, int, list[dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    """(engine, final clock, changes, final rows by (contact, model))."""
    changes: list[ScoreChange] = []
    engine = Engine(load_model_dir(models))
    result = run_replay(lines, engine, on_change=changes.append)
    clock = result.processor.now
    assert clock is not None
    rows = {(r["contact_id"], r["model_id"]): r for r in result.final_rows(clock)}
    return engine, clock, [c.to_dict() for c in changes], rows


def dedupe(
    raw: Sequence[bytes],
) -> tuple[list[dict[str, Any]], list[Key], list[tuple[Key, bytes, bytes]]]:
    """First copy of every (contact, model, seq), the repeated keys, and the
    repeats whose bytes differ from their first copy."""
    first: dict[Key, bytes] = {}
    unique: list[dict[str, Any]] = []
    repeated: list[Key] = []
    differing: list[tuple[Key, bytes, bytes]] = []
    for value in raw:
        change = jsonutil.loads(value)
        key = (change["contact_id"], change["model_id"], change["seq"])
        if key in first:
            repeated.append(key)
            if first[key] != value:
                differing.append((key, first[key], value))
            continue
        first[key] = value
        unique.append(change)
    return unique, repeated, differing


def field_diff(first: bytes, second: bytes) -> dict[str, Any]:
    """The top-level fields in which two copies of a change differ."""
    a, b = jsonutil.loads(first), jsonutil.loads(second)
    return {
        k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)
    }


def chain_problems(
    grouped: Mapping[tuple[str, str], list[Mapping[str, Any]]],
) -> list[Any]:
    """Where a change's previous_grade is not the grade announced before it."""
    problems = []
    for key, changes in grouped.items():
        before = None
        for change in changes:
            if change["previous_grade"] != before:
                problems.append((key, change["seq"], change["previous_grade"], before))
                break
            before = change["grade"]
    return problems


def check_identical(
    lines: Sequence[bytes],
    output: StreamOutput,
    models: Path,
    *,
    identical_repeats: bool = True,
) -> Comparison:
    """Asserts everything the module docstring lists; returns what it saw."""
    engine, clock, replay_changes, rows = replay(lines, models)
    unique, repeated, differing = dedupe(output.raw)
    # Without identical repeats, a repeat must still announce the same move.
    checked = (
        differing
        if identical_repeats
        else [
            (key, a, b)
            for key, a, b in differing
            if set(field_diff(a, b)) - RECOMPUTED_FIELDS
        ]
    )
    assert not checked, (
        f"{len(checked)} repeated changes differ from their first copy, e.g. "
        + "; ".join(f"{key}: {field_diff(a, b)}" for key, a, b in checked[:5])
    )
    ours = by_contact_model(unique)
    theirs = by_contact_model(replay_changes)

    assert seq_problems(ours) == [], seq_problems(ours)[:5]
    assert chain_problems(ours) == [], chain_problems(ours)[:5]
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    assert not missing and not extra, (missing[:5], extra[:5])
    assert set(output.states) == {c for c, _ in rows}

    wrong = []
    for (contact_id, model_id), row in rows.items():
        state = output.states[contact_id]
        scorer = next(s for s in engine.models if s.model.id == model_id)
        evaluation = scorer.evaluate(state, clock)
        mark = state.grades[model_id]
        last = ours[(contact_id, model_id)][-1]
        got = (
            mark.grade,
            last["grade"],
            mark.seq,
            round(evaluation.fit_score, 4),
            round(evaluation.activity_score, 4),
        )
        want = (
            row["grade"],
            row["grade"],
            last["seq"],
            row["fit_score"],
            row["activity_score"],
        )
        if got != want:
            wrong.append(((contact_id, model_id), got, want))
    assert not wrong, f"{len(wrong)} final results differ, e.g. {wrong[:3]}"
    return Comparison(
        pairs=len(rows),
        changes=len(unique),
        repeats=len(repeated),
        contacts=len(output.states),
        repeated_keys=repeated,
        differing={name for _, a, b in differing for name in field_diff(a, b)},
        differing_repeats=len(differing),
    )
