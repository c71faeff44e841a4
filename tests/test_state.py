"""The contact record: its layout, and records written by older layouts."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from stream.errors import StateError
from stream.scoring.engine import Engine
from stream.state import (
    ContactState,
    GradeMark,
    event_token,
    id_window_end,
)
from tests.factories import model, visit

T = 1_431_857_103_000  # 2015-05-17T10:05:03Z, in id window 1035
DAY = 86_400_000
SUPPORT = "https://x.org/support/a"

# Written before properties were grouped by time and event ids digested.
OLD_RECORD = (
    b'{"p":{"NPS":[9,1431857100000]},"c":{"abc":[16572,2]},'
    b'"e":{"A-1":1431857103000,"A-2":1431857104000},'
    b'"g":{"m":["B2",3,2]},"o":[4,[[0,{"seq":3}]]]}'
)


def test_event_token_is_the_first_8_bytes_of_blake2b_big_endian() -> None:
    digest = hashlib.blake2b(b"A-1", digest_size=8).digest()
    assert event_token("A-1") == int.from_bytes(digest, "big")
    assert event_token("A-1") == 0x49F5F9DD0C225F58
    assert event_token("A-1") != event_token("A-2")


def test_ids_are_stored_as_digests_grouped_by_window() -> None:
    state = ContactState(
        seen={
            event_token("A-1"): T,
            event_token("A-2"): T + 1000,
            event_token("B-9"): T - 17 * DAY,
        },
        grades={"m": GradeMark("B2", 3, 2, 37.5)},
    )

    assert state.to_bytes() == (
        b'{"i":[1431857104000,1034,[1,2],"bPdwhWy5hyRJ9fndDCJfWMI9j9RIhCE0"],'
        b'"g":{"m":["B2",3,2,37.5]}}'
    )
    again = ContactState.from_bytes(state.to_bytes())
    # The latest time is exact; the others read back as their window's end.
    assert again.seen == {
        event_token("A-1"): T + 1000,
        event_token("A-2"): T + 1000,
        event_token("B-9"): id_window_end(T - 17 * DAY),
    }
    assert id_window_end(T - 17 * DAY) == 1035 * 16 * DAY - 1
    assert again.grades == {"m": GradeMark("B2", 3, 2, 37.5)}


def test_properties_are_grouped_by_the_time_of_their_change() -> None:
    state = ContactState(
        properties={"a": (1, T), "b": (None, T + 5), "c": ("x", T)},
    )

    data = state.to_bytes()

    assert data == b'{"q":[1431857103000,{"a":1,"c":"x"},1431857103005,{"b":null}]}'
    assert ContactState.from_bytes(data) == state


def test_a_record_of_the_previous_layout_loads() -> None:
    state = ContactState.from_bytes(OLD_RECORD)

    assert state.properties == {"NPS": (9, 1431857100000)}
    assert state.counters == {"abc": {16572: 2}}
    assert state.seen == {event_token("A-1"): T, event_token("A-2"): T + 1000}
    assert state.grades == {"m": GradeMark("B2", 3, 2, None)}
    assert state.unsent == [(False, b'{"seq":3}')]
    assert state.unsent_batch == 4
    # Written back in the current layout, which loads to the same ids.
    data = state.to_bytes()
    assert data == (
        b'{"q":[1431857100000,{"NPS":9}],"c":{"abc":[16572,2]},'
        b'"i":[1431857104000,1035,[2],"SfX53QwiX1jCPY/USIQhNA"],'
        b'"g":{"m":["B2",3,2]},"o":[4,[[0,{"seq":3}]]]}'
    )
    assert set(ContactState.from_bytes(data).seen) == set(state.seen)


def test_an_event_counted_under_the_previous_layout_is_still_a_duplicate() -> None:
    engine = Engine([model()])
    state = ContactState()
    engine.apply(state, "c1", visit(SUPPORT, T, event_id="A-1"), T)
    record = state.to_bytes()
    old = record.replace(
        record[record.index(b'"i":') : record.index(b',"g"')],
        b'"e":{"A-1":1431857103000}',
    )
    assert b'"e":{"A-1"' in old

    loaded = ContactState.from_bytes(old)
    again = engine.apply(loaded, "c1", visit(SUPPORT, T, event_id="A-1"), T)
    fresh = engine.apply(loaded, "c1", visit(SUPPORT, T, event_id="A-3"), T)

    assert again.duplicate and not fresh.duplicate
    # The old id was not counted again; the new one was.
    assert [sum(c.values()) for c in loaded.counters.values()] == [2]


@pytest.mark.parametrize(
    "ids",
    [
        b'[1431857104000,1035,[2],"SfX53QwiX1jCPY"]',  # not two whole digests
        b'[1431857104000,1035,[1],"SfX53QwiX1jCPY/USIQhNA"]',  # one too many
        b'[1431857104000,1035,[2],"**not base64**"]',
        b"[1431857104000,1035,[2]]",
    ],
)
def test_unreadable_ids_are_a_state_error(ids: bytes) -> None:
    with pytest.raises(StateError, match="stored contact record is unreadable"):
        ContactState.from_bytes(b'{"i":' + ids + b"}")


def test_grade_marks_keep_their_cause_and_older_marks_still_load() -> None:
    state = ContactState(
        grades={
            "a": GradeMark("A1", 3, 2, 75.5, "property_change"),
            "b": GradeMark("D4", 1, 1, None, "model"),
            "c": GradeMark("B2", 2, 1, 40.0),
        }
    )
    record = orjson.loads(state.to_bytes())

    assert record["g"] == {
        "a": ["A1", 3, 2, 75.5, "p"],
        "b": ["D4", 1, 1, None, "m"],
        "c": ["B2", 2, 1, 40.0],
    }
    assert ContactState.from_bytes(state.to_bytes()).grades == state.grades
    old = ContactState.from_bytes(b'{"g":{"a":["C3",4,1]}}')
    assert old.grades == {"a": GradeMark("C3", 4, 1)}
