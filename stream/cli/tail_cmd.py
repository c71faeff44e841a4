"""`scorestream tail`: print score changes (or dead letters) as they arrive."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stream.app.tail import describe, follow, parse_change
from stream.cli.publish_cmd import add_connection_options, connection
from stream.errors import ScoringError
from stream.kafka import topics


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tail",
        help="print score changes as the worker emits them",
        description=(
            "Follows the score-change topic and prints one line per change, e.g. "
            "`contact 245.57.13.67  upsell  D4 -> D3  ads_and_behavioral  (event: "
            "Viewed Support & Resource Centre)`. Stops on Ctrl-C."
        ),
    )
    parser.add_argument(
        "--json", action="store_true", help="print each message as JSON instead"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--shadow",
        action="store_true",
        help="follow the shadow topic (changes of models in `testing`)",
    )
    which.add_argument(
        "--dead-letter",
        action="store_true",
        help="follow the dead-letter topic (rejected inputs; implies --json)",
    )
    parser.add_argument(
        "--from-start",
        action="store_true",
        help="start at the beginning of the topic instead of at its end",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    add_reader_connection_options(parser)
    parser.set_defaults(handler=run)


# The shared connection options describe --partitions for commands that create
# topics. Commands that only read or write existing topics still accept it, so
# one set of options can be passed to every command, but it changes nothing.
READER_PARTITIONS_HELP = (
    "accepted like on the other commands, but unused here: this command "
    "creates no topics"
)


def add_reader_connection_options(parser: argparse.ArgumentParser) -> None:
    """The connection options, with --partitions described as unused."""
    add_connection_options(parser)
    for action in parser._actions:
        if action.dest == "partitions":
            action.help = READER_PARTITIONS_HELP


def run(args: argparse.Namespace) -> int:
    short = topics.SCORE_CHANGES
    if args.shadow:
        short = topics.SCORE_CHANGES_SHADOW
    elif args.dead_letter:
        short = topics.DEAD_LETTER
    raw = args.json or args.dead_letter
    try:
        settings, config = connection(args)
        topic = topics.topic_name(short, settings.topic_prefix)
        print(f"following {topic} (Ctrl-C stops)", file=sys.stderr)
        max_s = args.max_seconds if args.max_seconds is not None else float("inf")
        for _, _, value in follow(
            config, [topic], from_start=args.from_start, max_s=max_s
        ):
            if raw:
                sys.stdout.write(value.decode("utf-8", "replace") + "\n")
            else:
                change = parse_change(value)
                if change is not None:
                    sys.stdout.write(describe(change) + "\n")
            sys.stdout.flush()
    except ScoringError as exc:
        print(f"scorestream tail: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
