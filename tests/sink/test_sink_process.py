"""The sink as a process: killed mid-batch it re-sends; it never shows the token."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from stream.kafka.config import kafka_client_config
from stream.sink.fakecrm import Answer, FakeCrm
from stream.sink.settings import ENV
from tests.sink.helpers import change, expected_state, produce

pytestmark = [pytest.mark.broker, pytest.mark.reliability]

ROOT = Path(__file__).resolve().parents[2]


def _sink_command(bootstrap: str, prefix: str, base_url: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "stream.cli.main",
        "--log-level",
        "DEBUG",
        "sink",
        "crm",
        "--bootstrap",
        bootstrap,
        "--topic-prefix",
        prefix,
        "--base-url",
        base_url,
        "--coalesce-window-s",
        "0.2",
        "--backoff-base-s",
        "0.05",
        "--backoff-max-s",
        "0.3",
        "--session-timeout-ms",
        "6000",
        "--summary-every-s",
        "0.5",
        *extra,
    ]


def _env(token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORESTREAM_")}
    env.pop("KAFKA_BOOTSTRAP", None)
    env[ENV["token"]] = token
    env["PYTHONPATH"] = str(ROOT)
    return env


def _run(cmd: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    done = subprocess.run(
        cmd,
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout


def test_a_sink_killed_mid_batch_re_sends_after_restart(
    kafka_bootstrap: str,
    topic_prefix: str,
    changes_topic: Callable[[int], str],
) -> None:
    topic = changes_topic(2)
    config = kafka_client_config(kafka_bootstrap)
    events = [
        change(f"{c:03d}", model, seq, grade)
        for c in range(40)
        for model in ("upsell", "churn_risk")
        for seq, grade in ((1, "C3"), (2, "B2"))
    ]
    produce(config, topic, events)
    token = f"pat-{uuid.uuid4().hex}"
    cmd = _sink_command(kafka_bootstrap, topic_prefix, "", "--instance-id", "sink-1")

    with FakeCrm(token=token) as crm:
        cmd[cmd.index("--base-url") + 1] = crm.base_url
        crm.plan(Answer(delay=30.0))  # the first answer never comes in time
        first = subprocess.Popen(
            [*cmd, "--request-timeout-s", "60", "--max-seconds", "60"],
            env=_env(token),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert crm.wait_for(1, timeout=45), "the sink sent nothing"
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        assert crm.requests == []  # killed before any answer

        code, output = _run([*cmd, "--exit-when-idle", "1.5"], _env(token))
        assert code == 0, output

        # The killed run's request is still unanswered (its delay outlasts
        # the test), so every answered request here comes from the restart.
        received = crm.requests
        assert received, output
        resent = {c for r in received if r.status == 200 for c in r.contacts}
        assert resent == {f"{c:03d}" for c in range(40)}
        assert crm.state == expected_state(events)


def test_the_token_never_appears_in_the_output(
    kafka_bootstrap: str,
    topic_prefix: str,
    changes_topic: Callable[[int], str],
) -> None:
    topic = changes_topic(1)
    config = kafka_client_config(kafka_bootstrap)
    events = [change(f"{c}", "upsell", 1, "A1") for c in range(20)]
    produce(config, topic, [*events, b"not json"])
    token = f"pat-na1-{uuid.uuid4().hex}"

    with FakeCrm(token=token) as crm:
        crm.reject_ids.add("4")
        crm.plan(Answer(429, retry_after=0.2), Answer(500), Answer(401))
        cmd = _sink_command(
            kafka_bootstrap, topic_prefix, crm.base_url, "--batch-size", "5"
        )

        # A 401 stops the sink with an error that must not echo the token.
        code, refused = _run([*cmd, "--max-seconds", "30"], _env(token))
        assert code == 1
        assert "crm.objects.contacts.write" in refused

        code, output = _run([*cmd, "--exit-when-idle", "1.5"], _env(token))
        assert code == 0, output
        assert set(crm.state) == {str(c) for c in range(20)} - {"4"}

        code, dry = _run([*cmd, "--dry-run", "--exit-when-idle", "1.0"], _env(token))
        assert code == 0, dry
        _, helptext = _run([*cmd, "--help"], _env(token))

    assert "summary" in output or "CRM sink (hubspot)" in output
    for text in (refused, output, dry, helptext):
        assert token not in text
        assert token[-12:] not in text
