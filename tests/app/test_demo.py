"""The README's main command, `scorestream demo --crm`, end to end."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from stream import jsonutil
from stream.app.demo import _stop_as_interrupt
from stream.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def grade_tables(text: str) -> dict[str, Counter[str]]:
    """The 4x4 tables the demo prints, as grade counts per model."""
    tables: dict[str, Counter[str]] = {}
    for block in re.finditer(
        r"^(\w+): ([\d,]+) contacts\n +1 +2 +3 +4\n((?:[ABCD] .*\n){4})",
        text,
        re.MULTILINE,
    ):
        counts: Counter[str] = Counter()
        for row in block.group(3).splitlines():
            letter, *cells = row.split()
            for digit, cell in zip("1234", cells, strict=True):
                counts[letter + digit] = int(cell.replace(",", ""))
        tables[block.group(1)] = counts
    return tables


@pytest.mark.slow
def test_demo_scores_the_real_data_like_the_replay(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "stream.cli.main",
            "demo",
            "--crm",
            "--work-dir",
            str(tmp_path / "demo"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "events in: 19,440   dead-lettered: 0" in out
    assert "fake CRM:" in out and "updated 7,043 contacts" in out

    # Upsell and cross-sell have no hysteresis: the stream must end exactly
    # where the offline replay of the same (stretched) data ends.
    source, final = tmp_path / "real.jsonl", tmp_path / "final.jsonl"
    assert main(["data", "--out", str(source), "--stretch", "8"]) == 0
    assert (
        main(
            [
                "replay",
                str(source),
                "--model",
                str(ROOT / "models/upsell.yaml"),
                "--model",
                str(ROOT / "models/cross_sell.yaml"),
                "--out",
                str(tmp_path / "changes.jsonl"),
                "--final",
                str(final),
            ]
        )
        == 0
    )
    expected: dict[str, Counter[str]] = {"upsell": Counter(), "cross_sell": Counter()}
    for line in final.read_bytes().splitlines():
        row = jsonutil.loads(line)
        expected[row["model_id"]][row["grade"]] += 1
    tables = grade_tables(out)
    assert set(tables) == {"acquisition", "churn_risk", "cross_sell", "upsell"}
    for model_id, counts in expected.items():
        assert +tables[model_id] == +counts, model_id
    assert all(sum(t.values()) == 7043 for t in tables.values())

    # Everything the demo started is gone: its broker's pid file names a
    # process that no longer runs.
    pid_file = tmp_path / "demo" / "broker" / "broker.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().strip())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_unwinds_the_demo_like_ctrl_c(signum: int) -> None:
    cleaned = []
    with pytest.raises(KeyboardInterrupt), _stop_as_interrupt():
        try:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # interrupted long before this ends
        finally:
            cleaned.append(signum)
    assert cleaned == [signum]
    # Outside the demo the signal's own handling is back.
    assert signal.getsignal(signum) is signal.SIG_DFL
