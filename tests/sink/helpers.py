"""Helpers for the CRM sink tests: change messages, producing, a sink thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer, Producer

from stream import jsonutil
from stream.scoring.changes import ScoreChange
from stream.sink.metrics import SinkMetrics
from stream.sink.runner import CrmSink
from stream.sink.settings import SinkSettings

TOKEN = "pat-na1-test-0000-not-a-real-token"
AS_OF = 1_431_857_103_000


def change(
    contact: str,
    model: str,
    seq: int,
    grade: str,
    *,
    fit: float = 60.0,
    activity: float = 30.5,
    action: str = "in_product_offer",
    as_of: int = AS_OF,
) -> dict[str, Any]:
    """A score-change message exactly as the worker writes it."""
    return ScoreChange(
        contact_id=contact,
        model_id=model,
        model_version=1,
        previous_grade=None,
        grade=grade,
        fit_score=fit,
        activity_score=activity,
        breakdown={"fit": {}, "activity": {}},
        cause="event",
        recommended_action=action,
        seq=seq,
        as_of=as_of,
    ).to_dict()


def produce(config: Mapping[str, str], topic: str, events: Iterable[Any]) -> int:
    """Writes events keyed by contact id (raw bytes pass through unchanged)."""
    producer = Producer({**config, "linger.ms": 5})
    count = 0
    for event in events:
        if isinstance(event, bytes):
            producer.produce(topic, key=b"broken", value=event)
        else:
            producer.produce(
                topic, key=event["contact_id"].encode(), value=jsonutil.dumps(event)
            )
        count += 1
    assert producer.flush(30) == 0
    return count


def last_per_key(events: Iterable[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """The change with the highest seq per (contact, model): what must win."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        key = (event["contact_id"], event["model_id"])
        if key not in out or event["seq"] > out[key]["seq"]:
            out[key] = event
    return out


def expected_state(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The HubSpot properties each contact must end with, by the default names."""
    state: dict[str, dict[str, str]] = {}
    for (contact, model), event in last_per_key(events).items():
        props = state.setdefault(contact, {})
        props[f"{model}_grade"] = event["grade"]
        props[f"{model}_fit_score"] = _text(event["fit_score"])
        props[f"{model}_activity_score"] = _text(event["activity_score"])
        props[f"{model}_action"] = event["recommended_action"]
        props[f"{model}_changed_at"] = event["as_of"]
    return state


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def settings(bootstrap: str, prefix: str, **overrides: Any) -> SinkSettings:
    """Settings for a test: fast windows and retries, the fake CRM's token."""
    values: dict[str, Any] = {
        "bootstrap": bootstrap,
        "topic_prefix": prefix,
        "token": TOKEN,
        "coalesce_window_s": 0.3,
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.4,
        "summary_every_s": 5.0,
        "session_timeout_ms": 6000,
        "request_timeout_s": 2.0,
    }
    values.update(overrides)
    return SinkSettings(**values)


class SinkThread:
    """A CrmSink running in a thread for the length of a `with` block."""

    def __init__(self, sink: CrmSink, max_seconds: float = 60.0) -> None:
        self.sink = sink
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(max_seconds,))

    @property
    def metrics(self) -> SinkMetrics:
        return self.sink.metrics

    def _run(self, max_seconds: float) -> None:
        try:
            self.sink.run(max_seconds=max_seconds)
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> SinkThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sink.stop()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the sink did not stop"
        if self.error is not None and exc[0] is None:
            raise self.error


def wait_until(
    condition: Callable[[], bool], timeout: float, step: float = 0.1
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def read_topic(
    config: Mapping[str, str], topic: str, count: int, timeout: float = 20.0
) -> list[Any]:
    """The first `count` message values of a topic, decoded from JSON."""
    consumer = Consumer(
        {
            **config,
            "group.id": f"{topic}-check",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < count and time.monotonic() < deadline:
            for message in consumer.consume(100, timeout=0.5):
                if message.error() is None:
                    values.append(jsonutil.loads(message.value()))
    finally:
        consumer.close()
    return values
