"""The real worker over SASL_SSL at DEBUG: it scores, and no secret leaks out.

The worker runs as a child process with a SCRAM-SHA-512 login, an API
token, and url_query=hash with its key. After it has scored a slice of
the real data plus a few malformed inputs, every place a secret could end
up is searched: the worker's own output, the score-change, dead-letter and
changelog topics, and the broker's log files.
"""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stream import jsonutil
from stream.app.app import faust_id
from stream.app.process import WorkerProcess, spawn_worker
from stream.app.settings import Settings
from stream.app.tail import read_all
from stream.kafka import topics
from stream.kafka.broker import LocalBroker
from stream.kafka.config import kafka_client_config
from stream.kafka.process import free_port
from stream.realdata import build_replay
from tests.app.helpers import REPO, publish_lines, publish_raw, wait_consumed
from tests.security.conftest import USER

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

API_TOKEN = "api-token-" + uuid.uuid4().hex
QUERY_KEY = "query-key-" + uuid.uuid4().hex
# A query string that must not survive decoding anywhere downstream.
PRIVATE_QUERY = "email=alice.private@example.com"
T = 1_431_857_103_000


def real_slice() -> list[bytes]:
    """Every record of one contact in four: whole histories, a quarter of it."""
    return [
        jsonutil.dumps(record)
        for record in build_replay()
        if zlib.crc32(record["contact_id"].encode()) % 4 == 0
    ]


def visit(contact: str, event: str, **fields: Any) -> bytes:
    body = {"event_id": event, "contact_id": contact, "timestamp": T, "url": "/"}
    body.update(fields)
    return jsonutil.dumps(body)


# (short topic, key, value, the dead-letter reason it must get)
MALFORMED: list[tuple[str, bytes | None, bytes, str]] = [
    (topics.PAGE_VISITS, b"m1", b"not json at all", "malformed_json"),
    (topics.PAGE_VISITS, b"someone-else", visit("m2", "x2"), "key_mismatch"),
    (topics.PAGE_VISITS, b"m3", visit("m3", "x3", timestamp="soon"), "bad_timestamp"),
    (topics.CONVERSIONS, b"i" * 65, visit("i" * 65, "x4", name="Demo"), "id_too_long"),
    (
        topics.PROPERTY_CHANGES,
        b"m5",
        jsonutil.dumps(
            {"contact_id": "m5", "timestamp": T, "properties": {"p" * 33: "x"}}
        ),
        "bad_property_name",
    ),
]


def secret_forms(secret: str) -> list[bytes]:
    """The secret, and how an encoder could have disguised it."""
    raw = secret.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw)]


def get(port: int, path: str, token: str | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for_web(worker: WorkerProcess, port: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.running(), worker.log_tail()
        try:
            if get(port, "/health") == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"no web server after {timeout} s:\n{worker.log_tail()}")


@pytest.fixture(params=["SCRAM-SHA-512", "PLAIN"])
def secret_env(
    request: pytest.FixtureRequest,
    secure_broker: LocalBroker,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """The child's secrets, set in this process's environment for the test."""
    env = secure_broker.client_env(USER, request.param)
    env["SCORESTREAM_API_TOKEN"] = API_TOKEN
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env


def test_worker_over_sasl_ssl_scores_and_leaks_no_secret(
    secure_broker: LocalBroker, secret_env: dict[str, str], tmp_path: Path
) -> None:
    config = kafka_client_config(env=secret_env)
    prefix = f"sec-{uuid.uuid4().hex[:8]}."
    topics.create_topics(config, prefix, 2)
    port = free_port()
    settings = Settings(
        bootstrap=secure_broker.secure_bootstrap,
        topic_prefix=prefix,
        models=REPO / "models",
        data_dir=tmp_path / "worker",
        partitions=2,
        clock="event",
        web_port=port,
        log_level="DEBUG",
        max_id_length=64,
        max_property_name_length=32,
        url_query="hash",
        url_query_key=QUERY_KEY,
    )
    lines = real_slice()
    private = [
        visit(f"q{i}", f"q{i}", type="page_visit", url=f"/blog/?{PRIVATE_QUERY}")
        for i in range(3)
    ]
    lines += private
    assert len(lines) > 3000

    worker = spawn_worker(settings, tmp_path / "worker.log")
    try:
        wait_for_web(worker, port)
        assert publish_lines(config, prefix, lines) == len(lines)
        for short, key, value, _ in MALFORMED:
            publish_raw(config, topics.topic_name(short, prefix), [(key, value)])
        wait_consumed(config, worker, timeout=180)
        statuses = (
            get(port, "/models"),
            get(port, "/models", "wrong-" + API_TOKEN),
            get(port, "/models", API_TOKEN),
            get(port, "/metrics", API_TOKEN),
        )
    finally:
        code = worker.stop()
    assert code == 0, worker.log_tail()

    # It really ran: every input read, the malformed ones rejected, changes out.
    totals = worker.totals()
    assert totals is not None, worker.log_tail()
    assert totals["events_in"] == len(lines) + len(MALFORMED)
    assert totals["dead_lettered"] == len(MALFORMED)
    assert totals["changes_out"] >= 1000
    assert statuses == (401, 401, 200, 200)

    changes_topic = topics.topic_name(topics.SCORE_CHANGES, prefix)
    dead_topic = topics.topic_name(topics.DEAD_LETTER, prefix)
    changelog = f"{faust_id(settings)}-contacts-changelog"
    records = {
        name: read_all(config, [name], idle_s=2.0)
        for name in (changes_topic, dead_topic, changelog)
    }
    read = {name: [value for *_, value in got] for name, got in records.items()}
    changes = [jsonutil.loads(value) for value in read[changes_topic]]
    assert len(changes) == totals["changes_out"]
    reasons = sorted(jsonutil.loads(v)["error"]["reason"] for v in read[dead_topic])
    assert reasons == sorted(reason for *_, reason in MALFORMED)
    stored = {key for _, key, _ in records[changelog]}
    assert stored >= {jsonutil.loads(v)["contact_id"].encode() for v in lines}

    outputs: dict[str, bytes] = {"worker log": worker.log.read_bytes()}
    for name, values in read.items():
        outputs[name] = b"\n".join(values)
    for log in sorted((secure_broker.data_dir / "logs").iterdir()):
        outputs[f"broker {log.name}"] = log.read_bytes()
    assert b"worker stopped; totals" in outputs["worker log"]
    assert b"DEBUG" in outputs["worker log"], "the worker must have logged at DEBUG"
    if secret_env["KAFKA_SASL_MECHANISM"] == "PLAIN":
        # aiokafka logs the login request at DEBUG; the mask must have hit it.
        masked_login = rb"sasl_auth_bytes=b'scorer\x00scorer\x00***'"
        assert masked_login in outputs["worker log"]

    secrets = {
        "password": secret_env["KAFKA_SASL_PASSWORD"],
        "API token": API_TOKEN,
        "url query key": QUERY_KEY,
        "private query": PRIVATE_QUERY,
    }
    for where, text in outputs.items():
        for what, secret in secrets.items():
            for form in secret_forms(secret):
                assert form not in text, f"{where} holds the {what} ({form!r})"
    assert b"alice.private" not in b"".join(outputs.values())
