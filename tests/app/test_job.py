"""The scoring job in-process: batches, rejects, internal errors and decay."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from stream import jsonutil
from stream.app.agents import ScoringJob
from stream.app.app import create_app
from stream.app.settings import Settings
from stream.errors import BrokerError
from stream.model.load import load_model_dir
from stream.state import ContactState, event_token
from tests.app.test_decay_and_restart import DAILY_MODEL, MIDNIGHT

DAY = 86_400_000


@dataclass
class FakeMessage:
    """The fields of a Faust message the job reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def drain(job: ScoringJob) -> dict[str, list[dict[str, Any]]]:
    """Does what `publish` does, minus Kafka: messages by short topic name."""
    batch = job.store.take_records()
    job.store.write_local(batch.local)
    job.store.delete_local(batch.erased)
    out: dict[str, list[dict[str, Any]]] = {}
    for topic, _, value in job.outbox.take():
        out.setdefault(topic.removeprefix("unit."), []).append(jsonutil.loads(value))
    return out


def make_job(tmp_path: Path, model: str, **settings: Any) -> ScoringJob:
    """A job over one model file, driven by hand: the app is never started."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "model.yaml").write_text(model)
    options: dict[str, Any] = {
        # Never contacted.
        "bootstrap": "127.0.0.1:9",
        "topic_prefix": "unit.",
        "models": models,
        "data_dir": tmp_path / "state",
        "partitions": 2,
        "clock": "event",
        "web_port": 0,
        **settings,
    }
    settings = Settings(**options)
    scoring = ScoringJob(
        create_app(settings), settings, load_model_dir(models), batched=False
    )
    scoring.partitions = {0, 1}
    return scoring


@pytest.fixture
def job(tmp_path: Path) -> Iterator[ScoringJob]:
    yield make_job(tmp_path, DAILY_MODEL)


def reassign(
    job: ScoringJob,
    monkeypatch: pytest.MonkeyPatch,
    partitions: set[int],
    changelog: list[tuple[int, bytes, bytes]],
) -> None:
    """As after a crash: memory gone, the local store brought up to the
    `changelog` (as Faust's recovery does), `partitions` assigned."""
    job.store.put_local(changelog)
    job.store.discard()
    job.store.forget([0, 1])
    job.partitions = set()
    monkeypatch.setattr(
        job.app.assignor,
        "assigned_actives",
        lambda: {TP("unit.page-visits", p) for p in partitions},
    )
    asyncio.run(job._on_recovered())


def visit(contact: str, at: int, n: int, offset: int = 0) -> FakeMessage:
    value = jsonutil.dumps(
        {
            "event_id": f"{contact}-{n}",
            "contact_id": contact,
            "timestamp": at,
            "url": "https://example.com/",
        }
    )
    return FakeMessage("unit.page-visits", 0, offset, contact.encode(), value)


def test_one_write_per_contact_per_batch(job: ScoringJob) -> None:
    messages = [visit("A", MIDNIGHT + i, i, i) for i in range(50)]
    job.handle_messages(messages)
    sent = drain(job)

    assert job.store.writes == 1
    record = job.store._db(0).get(b"A")
    state = ContactState.from_bytes(record)
    assert len(state.seen) == 50
    assert [c["grade"] for c in sent["score-changes"]] == ["D1"]


def test_an_unexpected_error_dead_letters_one_input_and_keeps_going(
    job: ScoringJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    job.handle_messages([visit("A", MIDNIGHT, 1, 0)])
    first = drain(job)
    real_apply = job.processor.apply

    def failing(msg: Any, now: int) -> Any:
        if msg.contact_id == "A":
            # Half-way through: the contact's record is already changed.
            job.store.get("A").seen[event_token("half-applied")] = now  # type: ignore[union-attr]
            raise RuntimeError("boom")
        return real_apply(msg, now)

    monkeypatch.setattr(job.processor, "apply", failing)
    job.handle_messages(
        [visit("A", MIDNIGHT + 1, 2, 1), visit("B", MIDNIGHT + 2, 1, 2)]
    )

    sent = drain(job)

    dead = sent["dead-letter"]
    assert [d["error"]["reason"] for d in dead] == ["internal_error"]
    assert dead[0]["error"]["detail"] == "RuntimeError: boom"
    assert dead[0]["offset"] == 1
    state = ContactState.from_bytes(job.store._db(0).get(b"A"))
    assert set(state.seen) == {event_token("A-1")}
    assert [c["contact_id"] for c in first["score-changes"]] == ["A"]
    assert [c["contact_id"] for c in sent["score-changes"]] == ["B"]


def test_catch_up_emits_decay_changes_due_since_the_last_input(job: ScoringJob) -> None:
    job.handle_messages([visit("A", MIDNIGHT + 3600_000, 1)])
    drain(job)

    job.catch_up(MIDNIGHT + 2 * DAY + 60_000)
    sent = drain(job)

    assert [(c["grade"], c["cause"], c["as_of"]) for c in sent["score-changes"]] == [
        ("D2", "decay", "2015-05-18T00:00:00.000Z"),
        ("D4", "decay", "2015-05-19T00:00:00.000Z"),
    ]
    state = ContactState.from_bytes(job.store._db(0).get(b"A"))
    assert state.grades["daily"].seq == 3


def test_inputs_dated_beyond_the_present_are_rejected_on_the_event_clock(
    job: ScoringJob,
) -> None:
    far = 32_503_680_000_000  # year 3000
    job.handle_messages([visit("A", far, 1)])

    dead = drain(job)["dead-letter"]
    assert [d["error"]["reason"] for d in dead] == ["timestamp_in_future"]
    assert job.processor.now is None


def test_the_undo_copy_covers_every_field_of_a_contact_record() -> None:
    # A new ContactState field must be copied too, or an undo would lose it.
    assert set(ContactState.__dataclass_fields__) == {
        "properties",
        "counters",
        "seen",
        "grades",
        "unsent",
        "unsent_batch",
        "forgotten",
    }


class FakeProducer:
    """Records the order of sends and flushes; can fail sends to one topic."""

    def __init__(self, fail_topic: str | None = None) -> None:
        self.calls: list[str] = []
        self.fail_topic = fail_topic
        self.offsets: dict[tuple[str, int], int] = {}
        # Last value sent per key, to score-change topics (also failed ones).
        self.values: dict[str, bytes] = {}
        # Every changelog record sent, in order: what a restart replays.
        self.changelog: list[tuple[int, bytes, bytes]] = []

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> asyncio.Future[Any]:
        self.calls.append(f"send {topic.removeprefix('unit.')}")
        if topic.endswith("score-changes") and key is not None and value is not None:
            self.values[key.decode()] = value
        if topic.endswith("changelog") and key is not None and value is not None:
            self.changelog.append((partition or 0, key, value))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if topic == self.fail_topic:
            future.set_exception(RuntimeError("broker said no"))
            return future
        tp = TP(topic, partition or 0)
        offset = self.offsets.get(tp, -1) + 1
        self.offsets[tp] = offset
        future.set_result(SimpleNamespace(topic_partition=tp, offset=offset))
        return future

    async def flush(self) -> None:
        self.calls.append("flush")


def test_publish_stores_records_with_their_changes_before_sending_them(
    job: ScoringJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    producer = FakeProducer()
    monkeypatch.setattr(job.app, "_producer", producer)
    job.handle_messages([visit("A", MIDNIGHT, 1), visit("B", MIDNIGHT + 1, 1, 1)])

    asyncio.run(job.publish())

    changelog = job.store.changelog_topic().removeprefix("unit.")
    assert producer.calls == [
        *[f"send {changelog}"] * 4,  # A and B, and the clock of both partitions
        "flush",
        "send score-changes",
        "send score-changes",
        "flush",
        f"send {changelog}",
    ]
    assert job.store.read_clock(1) == MIDNIGHT + 1
    assert job.table.data.persisted_offset(TP(job.store.changelog_topic(), 0)) == 2
    # The changelog record holds the very bytes that were sent, tagged with
    # batch 1; the local copy, written once they are confirmed, does not.
    [sent] = [v for _, k, v in producer.changelog if k == b"A"]
    state = ContactState.from_bytes(sent)
    assert state.unsent_batch == 1
    assert [value for _, value in state.unsent] == [producer.values["A"]]
    assert jsonutil.loads(state.unsent[0][1])["grade"] == "D1"
    local = ContactState.from_bytes(job.store._db(0).get(b"A"))
    assert (local.unsent, local.unsent_batch) == ([], 0)
    assert local.seen == state.seen

    # A marker says batch 1 went out (both contacts are in partition 0);
    # the next batch's flush takes it along.
    assert producer.calls[-1] == f"send {changelog}"
    assert job.store.read_sent(0) == 1
    assert job.store.read_sent(1) == 0

    # A record written again drops the changes it held.
    job.handle_messages([visit("A", MIDNIGHT + 2, 2, 2)])
    producer.calls.clear()
    asyncio.run(job.publish())

    assert producer.calls == [*[f"send {changelog}"] * 3, "flush"]
    again = ContactState.from_bytes(job.store._db(0).get(b"A"))
    assert (again.unsent, again.unsent_batch) == ([], 0)


def test_a_failed_changelog_write_sends_nothing_and_stores_nothing(
    job: ScoringJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    producer = FakeProducer(fail_topic=job.store.changelog_topic())
    monkeypatch.setattr(job.app, "_producer", producer)
    job.handle_messages([visit("A", MIDNIGHT, 1)])

    with pytest.raises(BrokerError, match="broker said no"):
        asyncio.run(job.publish())

    assert "send score-changes" not in producer.calls
    assert job.store._db(0).get(b"A") is None


def test_changes_stored_but_not_confirmed_are_sent_again_byte_for_byte(
    job: ScoringJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker dies between storing the records and sending the changes.
    lost = FakeProducer(fail_topic="unit.score-changes")
    monkeypatch.setattr(job.app, "_producer", lost)
    job.handle_messages([visit("A", MIDNIGHT, 1), visit("B", MIDNIGHT + 1, 1, 1)])
    with pytest.raises(BrokerError):
        asyncio.run(job.publish())
    first = dict(lost.values)

    # The next owner of the partitions finds them in the records.
    restarted = FakeProducer()
    monkeypatch.setattr(job.app, "_producer", restarted)
    reassign(job, monkeypatch, {0, 1}, lost.changelog)

    assert restarted.values == first
    assert job.stats.resent == 2
    # Redelivered inputs are duplicates: nothing new to send.
    job.handle_messages([visit("A", MIDNIGHT, 1), visit("B", MIDNIGHT + 1, 1, 1)])
    restarted.calls.clear()
    asyncio.run(job.publish())
    assert "send score-changes" not in restarted.calls
    assert job.store.read_sent(0) == 1
    # Batches after the recovery are numbered above every stored one.
    assert job.store.batch > 1


def test_an_error_after_the_clock_moved_keeps_the_decay_changes_of_others(
    job: ScoringJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    job.handle_messages([visit("A", MIDNIGHT + 3600_000, 1)])
    drain(job)

    def failing(*_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(job.engine, "apply", failing)
    job.handle_messages([visit("B", MIDNIGHT + DAY + 3600_000, 1, 1)])
    sent = drain(job)

    assert [(c["contact_id"], c["cause"]) for c in sent["score-changes"]] == [
        ("A", "decay")
    ]
    assert [d["error"]["reason"] for d in sent["dead-letter"]] == ["internal_error"]
    state = ContactState.from_bytes(job.store._db(0).get(b"A"))
    assert state.grades["daily"].seq == 2


def forget(contact: str, at: int, offset: int = 0, **extra: Any) -> FakeMessage:
    value = jsonutil.dumps({"contact_id": contact, "requested_at": at, **extra})
    return FakeMessage("unit.forget-requests", 0, offset, contact.encode(), value)


def test_forget_erases_the_record_and_announces_it_once(
    job: ScoringJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    producer = FakeProducer()
    monkeypatch.setattr(job.app, "_producer", producer)
    job.handle_messages([visit("A", MIDNIGHT, 1), visit("B", MIDNIGHT, 1, 1)])
    asyncio.run(job.publish())
    producer.calls.clear()

    job.handle_messages([forget("A", MIDNIGHT + 5, 2, request_id="r-1")])
    asyncio.run(job.publish())

    changelog = job.store.changelog_topic().removeprefix("unit.")
    assert producer.calls == [
        # The erased record holding the event; a request moves no clock.
        f"send {changelog}",
        "flush",
        "send score-changes",
        "send score-changes-shadow",
        "flush",
        f"send {changelog}",  # the sent marker
        f"send {changelog}",  # the tombstone
    ]
    assert jsonutil.loads(producer.values["A"]) == {
        "contact_id": "A",
        "forgotten": True,
        "as_of": "2015-05-17T00:00:00.005Z",
        "last_seq": {"daily": 1},
        "request_id": "r-1",
    }
    assert job.store._db(0).get(b"A") is None
    assert job.store.get("A") is None
    assert "A" not in job.processor.schedule
    assert job.store._db(0).get(b"B") is not None
    assert job.stats.forgotten == 1

    # Asked again (or delivered again after a crash): nothing to announce.
    producer.calls.clear()
    job.handle_messages([forget("A", MIDNIGHT + 6, 3)])
    asyncio.run(job.publish())
    assert "send score-changes" not in producer.calls
    assert job.stats.forget_unknown == 1


def test_a_contact_seen_again_after_forget_starts_from_nothing(
    job: ScoringJob,
) -> None:
    job.handle_messages([visit("A", MIDNIGHT, 1), visit("A", MIDNIGHT + 1, 2, 1)])
    drain(job)

    # Erased and back within one batch: the old event ids are gone too.
    job.handle_messages([forget("A", MIDNIGHT + 2, 2), visit("A", MIDNIGHT, 1, 3)])
    sent = drain(job)

    assert [c.get("forgotten", c.get("grade")) for c in sent["score-changes"]] == [
        True,
        "D1",
    ]
    assert sent["score-changes"][1]["seq"] == 1
    state = ContactState.from_bytes(job.store._db(0).get(b"A"))
    assert (state.forgotten, set(state.seen)) == (False, {event_token("A-1")})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "malformed_json"),
        (b'{"contact_id": "A"}', "missing_field"),
        (b'{"contact_id": "A", "requested_at": "soon"}', "bad_timestamp"),
        (b'{"contact_id": "A", "requested_at": 1, "why": "x"}', "unknown_field"),
        (b'{"contact_id": "B", "requested_at": 1}', "key_mismatch"),
    ],
)
def test_bad_forget_requests_are_dead_lettered(
    job: ScoringJob, body: bytes, reason: str
) -> None:
    job.handle_messages([visit("A", MIDNIGHT, 1)])
    drain(job)

    job.handle_messages([FakeMessage("unit.forget-requests", 0, 5, b"A", body)])
    sent = drain(job)

    assert [d["error"]["reason"] for d in sent["dead-letter"]] == [reason]
    assert job.store.get("A") is not None


def test_an_erased_record_left_by_a_crash_is_announced_and_deleted_on_recovery(
    job: ScoringJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    job.handle_messages([visit("A", MIDNIGHT, 1)])
    drain(job)
    # The worker dies after storing the erased record, before sending.
    lost = FakeProducer(fail_topic="unit.score-changes")
    monkeypatch.setattr(job.app, "_producer", lost)
    job.handle_messages([forget("A", MIDNIGHT + 5, 1)])
    with pytest.raises(BrokerError):
        asyncio.run(job.publish())
    [erased] = [v for _, k, v in lost.changelog if k == b"A"]
    assert ContactState.from_bytes(erased).forgotten

    restarted = FakeProducer()
    monkeypatch.setattr(job.app, "_producer", restarted)
    reassign(job, monkeypatch, {0}, lost.changelog)

    assert restarted.values["A"] == lost.values["A"]
    assert job.store._db(0).get(b"A") is None


def test_an_error_after_a_forget_in_the_same_batch_keeps_the_erasure(
    job: ScoringJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    job.handle_messages([visit("A", MIDNIGHT, 1)])
    drain(job)

    def failing(*_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(job.engine, "apply", failing)
    job.handle_messages([forget("A", MIDNIGHT + 5, 1), visit("A", MIDNIGHT + 6, 2, 2)])
    sent = drain(job)

    assert [c.get("forgotten") for c in sent["score-changes"]] == [True]
    assert [d["error"]["reason"] for d in sent["dead-letter"]] == ["internal_error"]
    assert job.store._db(0).get(b"A") is None
