"""The `scorestream` entry point's last-resort error line is never empty."""

from __future__ import annotations

import argparse

import pytest

from stream.cli import sink_cmd
from stream.cli.main import main


def _raises(exc: OSError) -> object:
    def handler(_args: argparse.Namespace) -> int:
        raise exc

    return handler


def test_an_error_without_words_names_its_type_and_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sink_cmd, "_crm", _raises(TimeoutError()))

    code = main(["sink", "crm"])

    assert code == 1
    assert capsys.readouterr().err == (
        "scorestream sink: TimeoutError without a message; if it was waiting for "
        "Kafka, check that the broker runs (`scorestream broker status`) and "
        "--bootstrap names it; run again as `scorestream --log-level DEBUG ...` "
        "to see what led to it\n"
    )


def test_an_other_silent_error_gets_the_debug_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sink_cmd, "_crm", _raises(ConnectionResetError()))

    code = main(["sink", "crm"])

    assert code == 1
    assert capsys.readouterr().err == (
        "scorestream sink: ConnectionResetError without a message; run again as "
        "`scorestream --log-level DEBUG ...` to see what led to it\n"
    )


def test_an_error_with_words_keeps_them_and_the_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = FileNotFoundError(2, "No such file or directory", "in.jsonl")
    monkeypatch.setattr(sink_cmd, "_crm", _raises(missing))

    code = main(["sink", "crm"])

    assert code == 1
    assert capsys.readouterr().err == (
        "scorestream sink: No such file or directory: in.jsonl\n"
    )
