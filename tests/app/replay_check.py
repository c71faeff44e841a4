"""Compares what the stream worker produced with an offline replay of its input.

The worker consumes three topics at once, so it sees one contact's inputs in
topic order, not file order, and its event clock (the latest event time seen
on any partition) can run ahead of the replay's. That changes *when* a grade
is computed, never *what state* the contact ends with. So:

- final states must score exactly the same at the final clock, every model;
- the last emitted grade must match for models without a period boundary
  inside the data (there, a grade cannot depend on when it was computed);
  with a boundary and hysteresis, the path can legitimately differ;
- contacts whose inputs all come through one topic see them in file order,
  so their change sequences must match too (as_of aside: it is the clock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stream import jsonutil
from stream.model.load import load_model_dir
from stream.replay import Replay, run_replay
from stream.scoring.changes import ScoreChange
from stream.scoring.engine import Engine
from stream.state import ContactState
from tests.app.helpers import REPO, by_contact_model, seq_problems

SEQUENCE_FIELDS = (
    "seq",
    "previous_grade",
    "grade",
    "cause",
    "fit_score",
    "activity_score",
    "recommended_action",
)


def replay_of(lines: Sequence[bytes]) -> tuple[Replay, list[dict[str, Any]]]:
    changes: list[ScoreChange] = []
    engine = Engine(load_model_dir(REPO / "models"))
    replay = run_replay(lines, engine, on_change=changes.append)
    return replay, [c.to_dict() for c in changes]


def boundary_free_models(engine: Engine, first: int, last: int) -> set[str]:
    """Models none of whose activity periods end between `first` and `last`."""
    return {
        scorer.model.id
        for scorer in engine.models
        if all(a.clock.bucket(first) == a.clock.bucket(last) for a in scorer.activity)
    }


def single_topic_contacts(lines: Sequence[bytes]) -> set[str]:
    kinds: dict[str, set[str]] = {}
    for line in lines:
        record = jsonutil.loads(line)
        kinds.setdefault(record["contact_id"], set()).add(record["type"])
    return {c for c, k in kinds.items() if len(k) == 1}


def check_against_replay(
    lines: Sequence[bytes],
    stream_changes: Sequence[Mapping[str, Any]],
    states: Mapping[str, ContactState],
) -> dict[str, int]:
    """Asserts the comparison described above; returns what it compared."""
    replay, replay_changes = replay_of(lines)
    engine = replay.engine
    times = [jsonutil.loads(line)["timestamp"] for line in lines]
    first, last = min(times), max(times)
    clock = replay.processor.now
    assert clock == last

    ours = by_contact_model(stream_changes)
    theirs = by_contact_model(replay_changes)
    assert seq_problems(ours) == []
    assert set(ours) == set(theirs), "contacts/models with changes differ"

    # Final states: every contact, every model, exact scores at the clock.
    expected = {(r["contact_id"], r["model_id"]): r for r in replay.final_rows(clock)}
    assert set(states) == {c for c, _ in expected}
    for (contact_id, model_id), row in expected.items():
        state = states[contact_id]
        scorer = next(s for s in engine.models if s.model.id == model_id)
        evaluation = scorer.evaluate(state, clock)
        got = (round(evaluation.fit_score, 4), round(evaluation.activity_score, 4))
        assert got == (row["fit_score"], row["activity_score"]), (contact_id, model_id)
        # The record and the topic agree on the last grade and its seq.
        mark = state.grades[model_id]
        last_change = ours[(contact_id, model_id)][-1]
        assert (mark.grade, mark.seq) == (last_change["grade"], last_change["seq"])

    stable = boundary_free_models(engine, first, last)
    assert stable, "no model is free of period boundaries in this data"
    grade_diffs = [
        key
        for key in theirs
        if key[1] in stable and ours[key][-1]["grade"] != theirs[key][-1]["grade"]
    ]
    assert grade_diffs == []

    single = single_topic_contacts(lines)
    compared = 0
    for key in theirs:
        if key[0] in single and key[1] in stable:
            want = [tuple(c[f] for f in SEQUENCE_FIELDS) for c in theirs[key]]
            got_seq = [tuple(c[f] for f in SEQUENCE_FIELDS) for c in ours[key]]
            assert got_seq == want, key
            compared += 1
    assert compared > 0
    return {
        "pairs": len(theirs),
        "stable_models": len(stable),
        "single_topic_sequences": compared,
        "changes": len(stream_changes),
    }
