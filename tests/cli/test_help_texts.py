"""Help texts of the worker, tail and model commands, as a new user reads them."""

from __future__ import annotations

import argparse

import pytest

from stream.cli.main import main
from stream.cli.tail_cmd import READER_PARTITIONS_HELP


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_worker_help_names_every_value_in_user_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = _help(capsys, "worker")

    # Without a metavar argparse prints the internal dest, SETTING_....
    assert "SETTING_" not in text
    assert "--max-message-bytes BYTES" in text
    assert "--max-properties N" in text
    assert "--max-url-length CHARS" in text
    assert "--regex-timeout-ms MS" in text


@pytest.mark.parametrize(
    "argv",
    [
        ("tail",),
        ("model", "push"),
        ("model", "list"),
        ("model", "show"),
        ("model", "set-status"),
    ],
)
def test_reading_commands_say_partitions_changes_nothing(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    text = _help(capsys, *argv)

    assert "partitions of topics created here" not in text
    assert " ".join(READER_PARTITIONS_HELP.split()) in text


@pytest.mark.parametrize("action", ["push", "list", "show", "set-status"])
def test_every_model_action_has_a_description(
    action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from stream.cli.model_cmd import register

    parser = argparse.ArgumentParser(prog="scorestream")
    register(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["model", action, "--help"])
    out = capsys.readouterr().out
    usage, _, rest = out.partition("\n\n")
    description = rest.split("\n\n", 1)[0]

    assert usage.startswith(f"usage: scorestream model {action}")
    # Without a description the first block after the usage is the arguments.
    assert not description.startswith(("positional arguments:", "options:"))
    assert len(description.split()) >= 10
