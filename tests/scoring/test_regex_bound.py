"""A user's regex cannot stall scoring: evaluation has a time limit."""

from __future__ import annotations

import pytest

from stream.errors import InputError
from stream.model.types import Rule
from stream.scoring.engine import Engine
from stream.state import ContactState
from tests.factories import T0, model, visit, visits


def engine_with(pattern: str) -> Engine:
    rule = Rule("url", "regex", (pattern,))
    return Engine([model(activity_categories=(visits(rules=(rule,)),))])


def test_exploding_pattern_is_cut_off_with_a_reason() -> None:
    # Nested repeats over a long URL take minutes with Python's own engine.
    engine, state = engine_with(r"(.*a){12}x"), ContactState()
    with pytest.raises(InputError) as info:
        engine.apply(state, "c1", visit("/" + "a" * 3000, T0), T0)
    assert info.value.reason == "regex_timeout"
    assert "url" in info.value.detail and "3001-character" in info.value.detail
    assert state == ContactState()  # nothing half-applied


def test_polynomial_pattern_on_a_long_url_finishes() -> None:
    engine, state = engine_with(r".*.*.*x"), ContactState()
    engine.apply(state, "c1", visit("/" + "a" * 8000, T0), T0)
    engine.apply(state, "c1", visit("/" + "a" * 8000 + "x", T0), T0)
    assert sum(sum(c.values()) for c in state.counters.values()) == 1


def test_ordinary_regex_still_matches() -> None:
    engine, state = engine_with(r"\.(pdf|zip)$"), ContactState()
    engine.apply(state, "c1", visit("/files/brief.PDF", T0), T0)
    engine.apply(state, "c1", visit("/files/brief.pdf", T0), T0)
    assert sum(sum(c.values()) for c in state.counters.values()) == 1
