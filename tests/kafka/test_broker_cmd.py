"""`scorestream broker start/status/topics/stop`, each run as its own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stream.kafka.broker import read_state, stop_broker

pytestmark = pytest.mark.broker

# The command module alone, so this test does not depend on which commands
# the main entry point lists.
RUN_COMMAND = """
import argparse, sys
from stream.cli import broker_cmd
parser = argparse.ArgumentParser(prog="scorestream")
broker_cmd.register(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.handler(args))
"""


def scorestream(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN_COMMAND, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_start_status_topics_stop(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "broker")
    try:
        started = scorestream("broker", "start", "--data-dir", data_dir)
        assert started.returncode == 0, started.stderr
        bootstrap = started.stdout.strip()
        assert bootstrap.startswith("127.0.0.1:")

        state = read_state(data_dir)
        assert state is not None and state.bootstrap == bootstrap, "outlives start"

        status = scorestream("broker", "status", "--data-dir", data_dir)
        assert status.returncode == 0
        assert bootstrap in status.stdout

        again = scorestream("broker", "start", "--data-dir", data_dir)
        assert again.returncode == 0 and again.stdout.strip() == bootstrap

        created = scorestream(
            "broker", "topics", "create", "--data-dir", data_dir, "--prefix", "cli."
        )
        assert created.returncode == 0, created.stderr
        assert "cli.page-visits\tcreated" in created.stdout

        stopped = scorestream("broker", "stop", "--data-dir", data_dir)
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert read_state(data_dir) is None

        status = scorestream("broker", "status", "--data-dir", data_dir)
        assert status.returncode == 1 and "not running" in status.stdout
    finally:
        stop_broker(data_dir)


def test_help_names_every_env_var_twin() -> None:
    shown = scorestream("broker", "start", "--help").stdout
    assert "SCORESTREAM_BROKER_DIR" in shown
    assert "SCORESTREAM_BROKER_PORT" in shown

    shown = scorestream("broker", "topics", "create", "--help").stdout
    for name in (
        "SCORESTREAM_TOPIC_PREFIX",
        "SCORESTREAM_PARTITIONS",
        "KAFKA_BOOTSTRAP",
    ):
        assert name in shown
