"""Start-up failures of worker, publish, tail and demo: one clear line, fast."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from stream.app.demo import check_sample_data, order_note
from stream.app.settings import resolve_bootstrap
from stream.cli.main import main
from stream.errors import BrokerError, ScoringError

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture
def no_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An environment that names no broker and has no local one running."""
    for var in ("KAFKA_BOOTSTRAP", "SCORESTREAM_BOOTSTRAP"):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "broker"
    monkeypatch.setenv("SCORESTREAM_BROKER_DIR", str(folder))
    return folder


def test_bootstrap_comes_from_option_then_env_then_local_broker(
    no_broker: Path,
) -> None:
    env = {"SCORESTREAM_BROKER_DIR": str(no_broker)}
    assert resolve_bootstrap("a:1", {**env, "SCORESTREAM_BOOTSTRAP": "b:2"}) == "a:1"
    assert resolve_bootstrap(None, {**env, "SCORESTREAM_BOOTSTRAP": "b:2"}) == "b:2"
    assert resolve_bootstrap(None, {**env, "KAFKA_BOOTSTRAP": "c:3"}) == "c:3"
    with pytest.raises(BrokerError, match="scorestream broker start"):
        resolve_bootstrap(None, env)


@pytest.mark.parametrize(
    "argv",
    [
        ["worker", "--models", str(MODELS), "--web-port", "0"],
        ["publish", "--real-data"],
        ["tail", "--max-seconds", "1"],
    ],
)
def test_no_broker_named_or_running_is_one_line(
    argv: list[str], no_broker: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert time.monotonic() - started < 5
    assert len(err.splitlines()) == 1
    assert f"scorestream {argv[0]}: " in err and "scorestream broker start" in err
    assert "9092" not in err


def test_help_says_where_the_broker_comes_from(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("worker", "publish", "tail"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "scorestream broker start" in text
        assert "127.0.0.1:9092" not in text


def test_unreachable_broker_fails_within_the_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on `port` now; publish checks once and says so.
    code = main(["publish", "--real-data", "--bootstrap", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert f"127.0.0.1:{port}" in err and "did not answer" in err
    assert err.splitlines()[-1].startswith("scorestream publish: ")


def test_worker_web_port_in_use_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = main(
            [
                "worker",
                "--models",
                str(MODELS),
                "--bootstrap",
                "127.0.0.1:9",
                "--web-port",
                str(port),
            ]
        )
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("scorestream worker: cannot start: ")
    assert len(err.splitlines()) == 1
    assert "--web-port" in err and "SCORESTREAM_WEB_PORT" in err
    assert "already in use" in err


def test_demo_without_sample_data_fails_before_the_broker(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SCORESTREAM_SAMPLE_DATA", str(tmp_path / "nowhere"))
    work = tmp_path / "work"
    started = time.monotonic()
    code = main(["demo", "--models", str(MODELS), "--work-dir", str(work)])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert time.monotonic() - started < 1
    assert len(err.splitlines()) == 1 and "SCORESTREAM_SAMPLE_DATA" in err
    assert not (work / "broker").exists()


def test_sample_data_needs_both_files(tmp_path: Path) -> None:
    (tmp_path / "access_log_2015.txt").write_text("")
    with pytest.raises(ScoringError, match=r"telco_customers\.csv"):
        check_sample_data(tmp_path)
    (tmp_path / "telco_customers.csv").write_text("")
    assert check_sample_data(tmp_path) == tmp_path


def test_order_note_names_the_models_with_hysteresis() -> None:
    note = order_note({"acquisition": 5, "churn_risk": 5, "upsell": 0, "cross_sell": 0})
    assert note is not None
    assert "acquisition (hysteresis 5), churn_risk (hysteresis 5)" in note
    assert "cross_sell, upsell (hysteresis 0) end exactly as the replay" in note
    assert order_note({"upsell": 0}) is None
