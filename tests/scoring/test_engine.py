"""The engine end to end on one contact: grades, changes, seq, properties."""

from __future__ import annotations

import pytest

from stream.processor import MemoryStore, Processor
from stream.scoring.engine import Engine
from stream.state import ContactState, event_token, id_window_end
from tests.factories import (
    DAY,
    T0,
    conversion,
    model,
    ms,
    props,
    upsell,
    visit,
    visits,
)

SUPPORT = "https://x.org/support/faq"


def test_upsell_hand_computed_grade() -> None:
    # Fit: NPS 8 -> 75% of 50 = 37.5; 4 cases -> 75% of 50 = 37.5; fit 75 (A).
    # Activity: 3 support visits now -> 3/5 * 40 = 24; one escalation "1"
    # now -> 1/5 * 30 = 6; two webinar registrations one 30-day period ago
    # (T0's period opened 2015-05-05) -> 2/5 * 0.9 * 30 = 10.8.
    # Total 40.8 -> digit 3: A3, automated_campaign.
    e, s = Engine([upsell()]), ContactState()
    e.apply(s, "c1", props(T0, **{"Last NPS Score": 8, "# Of Support Cases": "4"}), T0)
    for i in range(3):
        e.apply(s, "c1", visit(SUPPORT, T0 + i), T0 + 10)
    e.apply(s, "c1", conversion("1", T0), T0 + 10)
    webinar = ms("2015-05-01T12:00:00+00:00")
    e.apply(s, "c1", conversion("Webinar Registration", webinar), T0 + 10)
    e.apply(s, "c1", conversion("Webinar Registration", webinar + 1), T0 + 10)

    ev = e.evaluate(s, T0 + 10)["upsell"]
    assert ev.fit_score == 75.0
    assert ev.activity_score == pytest.approx(40.8)
    assert [round(a.points, 6) for a in ev.activity] == [24.0, 6.0, 10.8]
    assert s.grades["upsell"].grade == "A3"
    assert upsell().action_for("A3") == "automated_campaign"


def test_float_sum_exactly_on_a_cut_point() -> None:
    # 4 support visits at k=2: 40 * 0.8 * 0.7 = 22.4; 3 escalations at k=4:
    # 30 * 0.6 * 0.6 = 10.8; 4 webinars at k=3: 30 * 0.8 * 0.7 = 16.8.
    # 22.4 + 10.8 + 16.8 = 50 exactly, though floats sum to 49.99999999999999.
    e, s = Engine([upsell()]), ContactState()
    for i in range(4):
        e.apply(s, "c1", visit(SUPPORT, 16480 * DAY + i), T0)
        e.apply(s, "c1", conversion("Webinar Registration", 16480 * DAY + i), T0)
    for i in range(3):
        e.apply(s, "c1", conversion("0", 16400 * DAY + i), T0)
    ev = e.evaluate(s, T0)["upsell"]
    assert ev.activity_score < 50 and round(ev.activity_score, 9) == 50
    assert s.grades["upsell"].grade == "D2"


def test_first_input_grades_every_model_once() -> None:
    e = Engine([upsell(), model(id="other")])
    s = ContactState()
    out = e.apply(s, "c1", props(T0, unrelated="x"), T0)
    assert [(c.model_id, c.previous_grade, c.grade, c.seq) for c in out.changes] == [
        ("upsell", None, "D4", 1),
        ("other", None, "D4", 1),
    ]
    again = e.apply(s, "c1", props(T0 + 1, unrelated="y"), T0 + 1)
    assert again.changes == []


def test_seq_increases_by_one_per_change() -> None:
    e, s = Engine([model()]), ContactState()
    grades = []
    for i, nps in enumerate([9, 3, 9, 9, 7]):
        out = e.apply(s, "c1", props(T0 + i, NPS=nps), T0 + i)
        grades += [(c.seq, c.previous_grade, c.grade) for c in out.changes]
    # NPS 9 -> 100 fit (A); 3 -> -25 (D); 9 -> A; 9 unchanged; 7 -> 75 (A).
    assert grades == [(1, None, "A4"), (2, "A4", "D4"), (3, "D4", "A4")]


def test_change_event_fields() -> None:
    e, s = Engine([upsell()]), ContactState()
    e.apply(s, "c1", props(T0, **{"Last NPS Score": 9, "# Of Support Cases": 0}), T0)
    out = e.apply(s, "c1", visit(SUPPORT, T0 + 1000, event_id="v-1"), T0 + 1000)
    assert out.changes == []  # 8 activity points keep A4
    for i in range(3):
        out = e.apply(s, "c1", visit(SUPPORT, T0 + 2000 + i), T0 + 2000)
    (change,) = out.changes
    d = change.to_dict()
    assert d["grade"] == "A3" and d["previous_grade"] == "A4"
    assert (d["fit_score"], d["activity_score"], d["seq"]) == (100.0, 32.0, 2)
    assert d["cause"] == "event" and d["recommended_action"] == "automated_campaign"
    assert d["as_of"] == "2015-05-17T10:05:05.000Z"
    assert d["trigger"]["categories"] == ["Viewed Support & Resource Centre"]
    support = d["breakdown"]["activity"][0]
    assert support["periods"] == [{"k": 0, "count": 4, "credit": 0.8, "decay": 1.0}]


def test_late_older_property_change_does_not_overwrite() -> None:
    e, s = Engine([model()]), ContactState()
    e.apply(s, "c1", props(T0, NPS=9), T0)
    out = e.apply(s, "c1", props(T0 - 60_000, NPS=2), T0)
    assert out.changes == [] and s.properties["NPS"] == (9, T0)


def test_clear_is_kept_against_an_older_value() -> None:
    e, s = Engine([model()]), ContactState()
    e.apply(s, "c1", props(T0, NPS=9), T0)
    out = e.apply(s, "c1", props(T0 + 10, NPS=None), T0 + 10)
    assert [c.grade for c in out.changes] == ["D4"]
    e.apply(s, "c1", props(T0 + 5, NPS=9), T0 + 10)
    assert s.properties["NPS"] == (None, T0 + 10)
    assert e.evaluate(s, T0 + 10)["m"].fit[0].reason == "missing"


def test_properties_are_last_writer_wins_per_property() -> None:
    e, s = Engine([model()]), ContactState()
    e.apply(s, "c1", props(T0 + 10, NPS=9, other="new"), T0 + 10)
    e.apply(s, "c1", props(T0, NPS=1, extra="kept"), T0 + 10)
    assert s.property_values() == {"NPS": 9, "other": "new", "extra": "kept"}


def test_decay_downgrade_at_the_period_boundary() -> None:
    # One-day periods, decay 50: 5 visits give 100 (A1); at the next
    # midnight they are one period old: 100 * 0.5 = 50 (A2); a day later
    # decay is 0 (A4). Each change is as of its midnight.
    m = model(activity_categories=(visits(interval=1, decay=50),))
    store = MemoryStore()
    proc = Processor(Engine([m]), store)
    proc.apply(props(T0, NPS=9), T0)
    for i in range(5):
        proc.apply(visit(SUPPORT, T0 + i), T0 + i)
    assert store.states["c1"].grades["m"].grade == "A1"
    changes = proc.advance(T0 + 10 * DAY)
    midnight = ms("2015-05-18T00:00:00+00:00")
    assert [(c.cause, c.previous_grade, c.grade, c.as_of) for c in changes] == [
        ("decay", "A1", "A2", midnight),
        ("decay", "A2", "A4", midnight + DAY),
    ]
    # Five one-day periods later the counts expire (5 sweeps); the event ids
    # are kept one period longer, and a sixth sweep forgets them.
    assert store.states["c1"].counters == {} and store.states["c1"].seen == {}
    assert len(proc.schedule) == 0 and proc.swept == 6


def test_decay_changes_come_before_the_input_that_moves_the_clock() -> None:
    m = model(activity_categories=(visits(interval=1, decay=50),))
    proc = Processor(Engine([m]), MemoryStore())
    for i in range(5):
        proc.apply(visit(SUPPORT, T0 + i), T0 + i)
    changes, _ = proc.apply(props(T0 + DAY, NPS=9), T0 + DAY)
    assert [(c.cause, c.grade) for c in changes] == [
        ("decay", "D2"),
        ("property_change", "A2"),
    ]


def test_seen_ids_are_pruned_after_the_longest_window() -> None:
    e, s = Engine([model()]), ContactState()
    e.apply(s, "c1", visit(SUPPORT, T0, event_id="old"), T0)
    # 45-day periods, 5 of them: ids are kept (5 + 1) * 45 days, counted from
    # the end of the storage window that holds the event's time.
    kept_until = id_window_end(T0) + 270 * DAY
    assert kept_until > T0 + 270 * DAY
    e.prune(s, kept_until)
    assert s.seen == {event_token("old"): T0}
    e.prune(s, kept_until + 1)
    assert s.seen == {} and s.counters == {}


def test_draft_models_are_not_run_and_testing_models_are_shadow() -> None:
    e = Engine([model(id="d", status="draft"), model(id="t", status="testing")])
    s = ContactState()
    out = e.apply(s, "c1", props(T0, NPS=9), T0)
    assert [(c.model_id, c.shadow) for c in out.changes] == [("t", True)]


def test_model_regrade_cause() -> None:
    e, s = Engine([model()]), ContactState()
    e.apply(s, "c1", props(T0, NPS=9), T0)
    stricter = Engine([model(version=2, fit_thresholds=(101.0, 100.0, 50.0))])
    (change,) = stricter.regrade(s, "c1", T0, "model")
    assert (change.cause, change.grade, change.seq, change.model_version) == (
        "model",
        "B4",
        2,
        2,
    )
