"""Entry point of the `scorestream` command: one subcommand per module."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Each module exposes register(subparsers); the order is the --help order.
COMMAND_MODULES = (
    "stream.cli.broker_cmd",
    "stream.cli.demo_cmd",
    "stream.cli.worker_cmd",
    "stream.cli.publish_cmd",
    "stream.cli.forget_cmd",
    "stream.cli.tail_cmd",
    "stream.cli.validate_cmd",
    "stream.cli.data_cmd",
    "stream.cli.replay_cmd",
    "stream.cli.explain_cmd",
    "stream.cli.backtest_cmd",
    "stream.cli.sink_cmd",
    "stream.cli.model_cmd",
)

DESCRIPTION = """\
Scorestream scores contacts as events happen: a fit score from CRM
properties, a decaying activity score from page visits and conversions,
combined into a grade A1..D4 per model, with a score-change event each time
a grade moves.

Quick start:  ./run demo     (local Kafka broker + the real sample data)
Offline:      scorestream replay INPUT.jsonl --model models/upsell.yaml
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scorestream",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity on stderr (default: INFO)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `scorestream replay ... | head` closes stdout early; that is fine.
        return 0
    except OSError as exc:
        # A missing input file or an unwritable output folder is the user's
        # to fix; a traceback would hide the one line that matters.
        where = f": {exc.filename}" if exc.filename else ""
        print(f"scorestream {args.command}: {describe(exc)}{where}", file=sys.stderr)
        return 1
    return code


def describe(exc: OSError) -> str:
    """The error's own words; some errors (a timeout) carry none, and an empty
    line would leave the user nothing to go on."""
    text = (exc.strerror or str(exc)).strip()
    if text:
        return text
    hint = "run again as `scorestream --log-level DEBUG ...` to see what led to it"
    if isinstance(exc, TimeoutError):
        hint = (
            "if it was waiting for Kafka, check that the broker runs "
            "(`scorestream broker status`) and --bootstrap names it; " + hint
        )
    return f"{type(exc).__name__} without a message; {hint}"


if __name__ == "__main__":
    sys.exit(main())
