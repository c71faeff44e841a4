"""Activity categories and periods, hand-computed against the spec."""

from __future__ import annotations

import datetime as dt

import pytest

from stream.errors import InputError
from stream.model.types import Rule
from stream.scoring.engine import Engine
from stream.scoring.periods import PeriodClock
from stream.state import ContactState
from tests.factories import DAY, T0, model, ms, visit, visits

# With anchor 1970-01-01 and 45-day periods, T0 (2015-05-17, day 16572)
# lies in bucket 368, which opened on day 16560 (2015-05-05).
BUCKET_START = 16560 * DAY


def activity(engine: Engine, state: ContactState, now: int) -> float:
    return engine.evaluate(state, now)["m"].activity_score


def feed(engine: Engine, state: ContactState, events: list[int], now: int) -> None:
    for ts in events:
        engine.apply(state, "c1", visit("https://x.org/support/a", ts), now)


def one_category(**kw: object) -> Engine:
    return Engine([model(activity_categories=(visits(**kw),))])  # type: ignore[arg-type]


def test_one_event_in_current_period() -> None:
    # credit 1/5, decay 1: 100 * 0.2 = 20.
    e, s = one_category(), ContactState()
    feed(e, s, [T0], T0)
    assert activity(e, s, T0) == 20.0


def test_max_frequency_reaches_full_weight() -> None:
    e, s = one_category(), ContactState()
    feed(e, s, [T0 - i for i in range(5)], T0)
    assert activity(e, s, T0) == 100.0


def test_above_max_frequency_is_capped() -> None:
    e, s = one_category(), ContactState()
    feed(e, s, [T0 - i for i in range(8)], T0)
    assert activity(e, s, T0) == 100.0  # min(8, 5) / 5 = 1


def test_min_frequency_not_reached_gives_nothing() -> None:
    e, s = one_category(min_frequency=3), ContactState()
    feed(e, s, [T0, T0 - 1], T0)
    assert activity(e, s, T0) == 0.0
    feed(e, s, [T0 - 2], T0)
    assert activity(e, s, T0) == pytest.approx(60.0)  # 3 / 5 * 100


@pytest.mark.parametrize(
    ("k", "points"),
    # 100 * 0.2 * (1 - 0.15 k)
    [(0, 20.0), (1, 17.0), (2, 14.0), (3, 11.0), (4, 8.0), (5, 0.0)],
)
def test_each_period_and_expiry(k: int, points: float) -> None:
    e, s = one_category(), ContactState()
    ts = BUCKET_START - k * 45 * DAY + DAY  # one day into bucket 368 - k
    feed(e, s, [ts], T0)
    assert activity(e, s, T0) == pytest.approx(points)


def test_expired_event_is_not_stored() -> None:
    e, s = one_category(), ContactState()
    feed(e, s, [BUCKET_START - 5 * 45 * DAY], T0)
    assert s.counters == {} and s.seen == {}


def test_decay_reaching_zero() -> None:
    # decay 30: k=3 keeps 1 - 0.9 = 0.1 -> 100 * 0.2 * 0.1 = 2; k=4 -> 0.
    e = one_category(decay=30)
    s3, s4 = ContactState(), ContactState()
    feed(e, s3, [BUCKET_START - 3 * 45 * DAY], T0)
    feed(e, s4, [BUCKET_START - 4 * 45 * DAY], T0)
    assert activity(e, s3, T0) == pytest.approx(2.0)
    assert activity(e, s4, T0) == 0.0


def test_best_period_wins_not_the_sum() -> None:
    # 5 events at k=2: 1.0 * 0.7 = 0.7; 1 event at k=0: 0.2. Best: 70.
    e, s = one_category(), ContactState()
    old = BUCKET_START - 2 * 45 * DAY + DAY
    feed(e, s, [old + i for i in range(5)] + [T0], T0)
    result = e.evaluate(s, T0)["m"].activity[0]
    assert result.points == pytest.approx(70.0) and result.best_k == 2


def test_duplicate_event_id_counts_once() -> None:
    e, s = one_category(), ContactState()
    first = visit("https://x.org/support/a", T0, event_id="same")
    assert e.apply(s, "c1", first, T0).duplicate is False
    before = s.to_bytes()
    again = visit("https://x.org/support/b", T0 + 5, event_id="same")
    assert e.apply(s, "c1", again, T0 + 5).duplicate is True
    assert s.to_bytes() == before
    assert activity(e, s, T0) == 20.0


def test_timezone_day_edge() -> None:
    # 22:00 in New York on 17 May is 02:00 UTC on 18 May. Scored at 08:00
    # New York time on 18 May with one-day periods, the event is one day old
    # in New York (k=1: 100 * 0.2 * 0.85 = 17) but same-day in UTC (20).
    event, now = ms("2015-05-18T02:00:00+00:00"), ms("2015-05-18T12:00:00+00:00")
    ny = Engine(
        [model(activity_categories=(visits(interval=1),), timezone="America/New_York")]
    )
    utc = Engine([model(activity_categories=(visits(interval=1),))])
    for engine, expected in ((ny, 17.0), (utc, 20.0)):
        s = ContactState()
        feed(engine, s, [event], now)
        assert activity(engine, s, now) == pytest.approx(expected)


def test_daylight_saving_change_inside_a_period() -> None:
    # Weekly periods from Monday 2015-03-02 in New York; clocks jump an hour
    # forward on Sunday 8 March, so this period is 7 days less one hour.
    clock = PeriodClock("America/New_York", dt.date(2015, 3, 2), 7)
    assert clock.bucket_start(0) == ms("2015-03-02T05:00:00+00:00")  # EST
    assert clock.bucket_start(1) == ms("2015-03-09T04:00:00+00:00")  # EDT
    first = ms("2015-03-02T00:30:00-05:00")
    last = ms("2015-03-08T23:59:00-04:00")
    assert clock.bucket(first) == clock.bucket(last) == 0
    assert clock.bucket(last + 60_000) == 1
    engine = Engine(
        [
            model(
                activity_categories=(visits(interval=7),),
                timezone="America/New_York",
                period_anchor=dt.date(2015, 3, 2),
            )
        ]
    )
    s = ContactState()
    feed(engine, s, [first], last)
    assert activity(engine, s, last) == 20.0  # same period: k = 0
    assert activity(engine, s, last + 60_000) == 17.0  # next period: k = 1


def test_period_anchor_shifts_boundaries() -> None:
    clock = PeriodClock("UTC", dt.date(2015, 5, 15), 10)
    assert clock.bucket(ms("2015-05-14T23:59:59+00:00")) == -1
    assert clock.bucket(ms("2015-05-15T00:00:00+00:00")) == 0
    assert clock.bucket(ms("2015-05-24T23:59:59+00:00")) == 0
    assert clock.next_boundary(T0) == ms("2015-05-25T00:00:00+00:00")


def test_future_event_beyond_tolerance_is_rejected() -> None:
    e, s = one_category(), ContactState()
    with pytest.raises(InputError) as info:
        e.apply(s, "c1", visit("https://x.org/support/a", T0 + 301_000), T0)
    assert info.value.reason == "timestamp_in_future"
    assert s == ContactState()


def test_future_event_within_tolerance_counts_in_current_period() -> None:
    # 23:58 now, event at 00:02 the next day: with one-day periods it would
    # be in the next period; within tolerance it counts as period 0.
    now = ms("2015-05-17T23:58:00+00:00")
    e, s = one_category(interval=1), ContactState()
    feed(e, s, [now + 240_000], now)
    assert s.counters[next(iter(s.counters))] == {16572: 1}
    assert activity(e, s, now) == 20.0


@pytest.mark.parametrize(
    ("rule", "url", "hit"),
    [
        (Rule("url", "glob", ("*/support/*",)), "https://x.org/SUPPORT/faq", True),
        (Rule("url", "glob", ("*/support/*",)), "https://x.org/support", False),
        (Rule("url", "glob", ("/blog/?",)), "/blog/a", True),
        (Rule("url", "equals", ("/pricing",)), "  /PRICING ", True),
        (Rule("url", "equals", ("/pricing",)), "/pricing/x", False),
        (Rule("url", "prefix", ("/files/",)), "/Files/x.pdf", True),
        (Rule("url", "prefix", ("/files/",)), "/x/files/", False),
        (Rule("url", "contains", ("logstash",)), "/p/LogStash-1", True),
        (Rule("url", "regex", (r"\.(pdf|zip)$",)), "/files/a.pdf", True),
        (Rule("url", "regex", (r"^\.pdf",)), "/files/a.pdf", False),
        (Rule("title", "exists", ()), "/a", False),
        (Rule("properties.status", "equals", ("404",)), "/a", True),
        (Rule("properties.status", "equals", ("200",)), "/a", False),
    ],
)
def test_rule_operators(rule: Rule, url: str, hit: bool) -> None:
    e = Engine([model(activity_categories=(visits(rules=(rule,)),))])
    s = ContactState()
    e.apply(s, "c1", visit(url, T0, status=404), T0)
    assert bool(s.counters) is hit


def test_rules_and_any_groups() -> None:
    # url must be a blog post AND (title mentions kafka OR came from a search).
    cat = visits(
        rules=(Rule("url", "prefix", ("/blog/",)),),
        any=(
            (Rule("title", "contains", ("kafka",)),),
            (Rule("referrer", "prefix", ("https://www.google.",)),),
        ),
    )
    e = Engine([model(activity_categories=(cat,))])

    def hit(fields: dict[str, str]) -> bool:
        from stream.messages import ActivityEvent

        s = ContactState()
        e.apply(s, "c", ActivityEvent("page_visit", "x", "c", T0, fields, {}), T0)
        return bool(s.counters)

    assert hit({"url": "/blog/1", "title": "Kafka tips"})
    assert hit({"url": "/blog/1", "referrer": "https://www.google.com/q"})
    assert not hit({"url": "/blog/1", "title": "Other"})
    assert not hit({"url": "/news/1", "title": "Kafka tips"})
