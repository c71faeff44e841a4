"""Coalescing by contact and model, the seq check, and reading change messages."""

from __future__ import annotations

import pytest

from stream import jsonutil
from stream.errors import InputError
from stream.sink.coalesce import (
    Change,
    Coalescer,
    Forgotten,
    LastSent,
    Outcome,
    parse_change,
    parse_message,
)
from tests.sink.helpers import change


def _c(contact: str, model: str, seq: int, grade: str = "B2") -> Change:
    return parse_change(jsonutil.dumps(change(contact, model, seq, grade)))


def test_a_flapping_grade_leaves_only_the_newest_change() -> None:
    coalescer = Coalescer(100)
    outcomes = [
        coalescer.add(_c("c1", "upsell", seq, grade))
        for seq, grade in enumerate(["B2", "B3", "B2", "B3", "B2"], start=1)
    ]
    assert outcomes == [Outcome.PENDING] + [Outcome.COALESCED] * 4

    [only] = coalescer.take()
    assert (only.seq, only.event["grade"]) == (5, "B2")
    assert len(coalescer) == 0


def test_older_or_equal_seq_never_replaces_a_newer_one() -> None:
    coalescer = Coalescer(100)
    coalescer.add(_c("c1", "upsell", 7, "A1"))
    assert coalescer.add(_c("c1", "upsell", 6, "D4")) is Outcome.STALE
    assert coalescer.add(_c("c1", "upsell", 7, "D4")) is Outcome.STALE
    sent = coalescer.take()
    assert [c.event["grade"] for c in sent] == ["A1"]

    coalescer.handled(sent)
    assert coalescer.add(_c("c1", "upsell", 7, "A1")) is Outcome.STALE
    assert coalescer.add(_c("c1", "upsell", 3, "C3")) is Outcome.STALE
    assert coalescer.add(_c("c1", "upsell", 8, "A2")) is Outcome.PENDING


def test_models_and_contacts_are_kept_apart_and_grouped_by_contact() -> None:
    coalescer = Coalescer(100)
    for key in [("c2", "upsell"), ("c1", "churn_risk"), ("c1", "upsell")]:
        coalescer.add(_c(*key, 1))
    assert [c.key for c in coalescer.take()] == [
        ("c1", "churn_risk"),
        ("c1", "upsell"),
        ("c2", "upsell"),
    ]


def test_last_sent_forgets_the_least_recently_used_beyond_capacity() -> None:
    seen = LastSent(2)
    seen.record(("a", "m"), 1)
    seen.record(("b", "m"), 1)
    seen.record(("a", "m"), 2)  # a is now the most recent
    seen.record(("c", "m"), 1)
    assert len(seen) == 2
    assert seen.get(("b", "m")) is None
    assert seen.get(("a", "m")) == 2

    seen.record(("a", "m"), 1)  # an older seq never lowers the mark
    assert seen.get(("a", "m")) == 2


def test_forgetting_partitions_drops_only_their_pending_changes() -> None:
    coalescer = Coalescer(100)
    body = jsonutil.dumps(change("c1", "upsell", 1, "B2"))
    coalescer.add(parse_change(body, partition=0))
    coalescer.add(parse_change(jsonutil.dumps(change("c2", "upsell", 1, "B2")), 1))
    assert coalescer.forget_partitions({0}) == 1
    assert [c.contact_id for c in coalescer.take()] == ["c2"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty_message"),
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (b'{"model_id": "m", "seq": 1}', "missing_field"),
    ],
)
def test_unreadable_messages_name_their_reason(
    value: bytes | None, reason: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse_change(value)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("field", "bad"),
    [("seq", "3"), ("seq", True), ("fit_score", "12"), ("grade", ""), ("as_of", 5)],
)
def test_fields_with_the_wrong_type_are_refused(field: str, bad: object) -> None:
    event = change("c1", "upsell", 1, "B2")
    event[field] = bad
    with pytest.raises(InputError, match=field):
        parse_change(jsonutil.dumps(event))


def test_an_erased_contact_drops_its_pending_changes_and_restarts_at_seq_1() -> None:
    coalescer = Coalescer(seen_capacity=100)
    coalescer.add(_c("c1", "upsell", 4, "B2"))
    coalescer.handled(coalescer.take())
    coalescer.add(_c("c1", "upsell", 5, "A1"))
    coalescer.add(_c("c1", "churn", 2, "C3"))
    coalescer.add(_c("c2", "upsell", 1, "D4"))
    erased = parse_message(
        jsonutil.dumps({"contact_id": "c1", "forgotten": True, "last_seq": {}})
    )
    assert erased == Forgotten("c1")

    assert coalescer.forget_contact("c1") == 2

    # Seq 1 of the contact seen again is new, not stale.
    assert coalescer.add(_c("c1", "upsell", 1, "D4")) is Outcome.PENDING
    assert [(c.contact_id, c.seq) for c in coalescer.take()] == [("c1", 1), ("c2", 1)]
