"""The scoring job in-process: batches, rejects, internal errors and decay."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stream import jsonutil
from stream.app.agents import ScoringJob
from stream.app.app import create_app
from stream.app.settings import Settings
from stream.model.load import load_model_dir
from stream.state import ContactState
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


class Recorder:
    """Stands in for a topic's send_soon and keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []

    def __call__(self, *, key: bytes | None, value: bytes, **_: Any) -> None:
        self.sent.append((key, value))

    def values(self) -> list[dict[str, Any]]:
        return [jsonutil.loads(v) for _, v in self.sent]


@pytest.fixture
def job(tmp_path: Path) -> Iterator[ScoringJob]:
    models = tmp_path / "models"
    models.mkdir()
    (models / "daily.yaml").write_text(DAILY_MODEL)
    settings = Settings(
        # Never contacted: the job is driven by hand, the app is not started.
        bootstrap="127.0.0.1:9",
        topic_prefix="unit.",
        models=models,
        data_dir=tmp_path / "state",
        partitions=2,
        clock="event",
        web_port=0,
    )
    app = create_app(settings)
    scoring = ScoringJob(app, settings, load_model_dir(models), batched=False)
    scoring.partitions = {0, 1}
    scoring.changes_out.send_soon = Recorder()
    scoring.shadow_out.send_soon = Recorder()
    scoring.dead_letters.send_soon = Recorder()
    changelog = Recorder()
    scoring.table.send_changelog = lambda partition, key, value: changelog(
        key=key, value=value
    )
    yield scoring


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

    assert job.store.writes == 1
    record = job.store._db(0).get(b"A")
    state = ContactState.from_bytes(record)
    assert len(state.seen) == 50
    assert job.changes_out.send_soon.values()[0]["grade"] == "D1"


def test_an_unexpected_error_dead_letters_one_input_and_keeps_going(
    job: ScoringJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    job.handle_messages([visit("A", MIDNIGHT, 1, 0)])
    real_apply = job.processor.apply

    def failing(msg: Any, now: int) -> Any:
        if msg.contact_id == "A":
            # Half-way through: the contact's record is already changed.
            job.store.get("A").seen["half-applied"] = now  # type: ignore[union-attr]
            raise RuntimeError("boom")
        return real_apply(msg, now)

    monkeypatch.setattr(job.processor, "apply", failing)
    job.handle_messages(
        [visit("A", MIDNIGHT + 1, 2, 1), visit("B", MIDNIGHT + 2, 1, 2)]
    )

    dead = job.dead_letters.send_soon.values()
    assert [d["error"]["reason"] for d in dead] == ["internal_error"]
    assert dead[0]["error"]["detail"] == "RuntimeError: boom"
    assert dead[0]["offset"] == 1
    state = ContactState.from_bytes(job.store._db(0).get(b"A"))
    assert "half-applied" not in state.seen
    assert {c["contact_id"] for c in job.changes_out.send_soon.values()} == {"A", "B"}


def test_catch_up_emits_decay_changes_due_since_the_last_input(job: ScoringJob) -> None:
    job.handle_messages([visit("A", MIDNIGHT + 3600_000, 1)])

    job.catch_up(MIDNIGHT + 2 * DAY + 60_000)

    decay = [c for c in job.changes_out.send_soon.values() if c["cause"] == "decay"]
    assert [(c["grade"], c["as_of"]) for c in decay] == [
        ("D2", "2015-05-18T00:00:00.000Z"),
        ("D4", "2015-05-19T00:00:00.000Z"),
    ]
    assert job.store.read_clock(0) == MIDNIGHT + 2 * DAY + 60_000


def test_inputs_dated_beyond_the_present_are_rejected_on_the_event_clock(
    job: ScoringJob,
) -> None:
    far = 32_503_680_000_000  # year 3000
    job.handle_messages([visit("A", far, 1)])

    dead = job.dead_letters.send_soon.values()
    assert [d["error"]["reason"] for d in dead] == ["timestamp_in_future"]
    assert job.processor.now is None
