"""`scorestream publish`: send a replay file, or the real data set, to Kafka."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

from stream.app.publish import Line, PublishReport, parse_lines, publish
from stream.app.settings import BOOTSTRAP_SOURCES, ENV, Settings, resolve_bootstrap
from stream.errors import InputError, ScoringError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="send input messages (a replay file or the real data) to Kafka",
        description=(
            "Sends each line of a replay file (an input message with a `type` "
            "field) to the input topic for its type, keyed by contact_id, with "
            "the same partitioner as Kafka's Java client. --real-data sends the "
            "sample access log and CRM table instead. Creates the topics if "
            "they are missing. Progress goes to stderr; the last line says how "
            "many messages went to each topic."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="replay JSON-lines file, '-' = stdin")
    source.add_argument(
        "--real-data",
        action="store_true",
        help="publish the real data set (access log + telco table)",
    )
    parser.add_argument(
        "--stretch",
        type=float,
        default=1.0,
        help="with --real-data: multiply the time between events (default 1)",
    )
    parser.add_argument(
        "--shift-to-now",
        action="store_true",
        help=(
            "with --real-data: move timestamps so the data ends now (for a "
            "worker on the live clock; without it, use --clock event)"
        ),
    )
    add_connection_options(parser)
    parser.set_defaults(handler=run)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    parser.add_argument(
        "--bootstrap",
        default=None,
        help=f"Kafka bootstrap servers ({BOOTSTRAP_SOURCES})",
    )
    parser.add_argument(
        "--topic-prefix",
        default=None,
        help=(
            f"prefix of the topic names (env {ENV['topic_prefix']}; "
            f"default {defaults.topic_prefix})"
        ),
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help=(
            f"partitions of topics created here (env {ENV['partitions']}; "
            f"default {defaults.partitions})"
        ),
    )


CONNECT_TIMEOUT_S = 10.0


def connection(args: argparse.Namespace) -> tuple[Settings, dict[str, str]]:
    """Settings and confluent-kafka config of a broker that answered.

    Checked once up front so that a missing broker is one BrokerError
    sentence, not librdkafka retrying until a later step times out.
    """
    from stream.kafka.config import kafka_client_config
    from stream.kafka.connection import bootstrap_source, check_connection

    settings = Settings.from_env(
        bootstrap=resolve_bootstrap(args.bootstrap),
        topic_prefix=args.topic_prefix,
        partitions=getattr(args, "partitions", None),
    )
    config = kafka_client_config(settings.bootstrap)
    source = bootstrap_source(settings.bootstrap, given=args.bootstrap)
    check_connection(config, timeout=CONNECT_TIMEOUT_S, source=source)
    return settings, config


def records_of(
    args: argparse.Namespace,
) -> Iterable[Mapping[str, Any] | InputError | Line]:
    if args.real_data:
        from stream.realdata import build_replay

        shift_to = int(time.time() * 1000) if args.shift_to_now else None
        return build_replay(shift_to=shift_to, stretch=args.stretch)
    if args.stretch != 1.0 or args.shift_to_now:
        raise ValueError("--stretch and --shift-to-now apply to --real-data only")
    if args.file == "-":
        return parse_lines(sys.stdin.buffer)
    return parse_lines(_lines(args.file))


def _lines(path: str) -> Iterable[bytes]:
    with open(path, "rb") as handle:
        yield from handle


def run(args: argparse.Namespace) -> int:
    from stream.kafka.topics import create_topics

    progress_shown = False

    def progress(report: PublishReport) -> None:
        nonlocal progress_shown
        progress_shown = True
        _progress(report)

    try:
        settings, config = connection(args)
        records = records_of(args)
        create_topics(config, settings.topic_prefix, settings.partitions)
        report = publish(records, config, settings.topic_prefix, on_progress=progress)
    except (ScoringError, ValueError, OSError) as exc:
        print(f"\nscorestream publish: {_reason(exc)}", file=sys.stderr)
        return 1
    if report.examples:
        # The progress line has no newline of its own.
        end_progress = "\n" if progress_shown else ""
        print(end_progress + _skipped_lines(report), file=sys.stderr)
    print(_summary(report), file=sys.stderr)
    return 0 if report.total else 1


def _reason(exc: Exception) -> str:
    """The error's message; some Kafka errors carry none, so name the type."""
    text = str(exc).strip()
    if text:
        return text
    return (
        f"{type(exc).__name__} while talking to Kafka; check that the broker "
        "runs (`scorestream broker status`) and --bootstrap names it"
    )


def _progress(report: PublishReport) -> None:
    rate = report.total / max(report.seconds, 1e-9)
    sys.stderr.write(f"\r{report.total:,} sent ({rate:,.0f}/s)")
    sys.stderr.flush()


def _skipped_lines(report: PublishReport) -> str:
    """The first skipped lines of each reason, one per line, like `replay`."""
    lines = [str(skip) for skip in report.examples]
    for reason, count in sorted(report.skip_reasons.items()):
        shown = sum(1 for skip in report.examples if skip.reason == reason)
        if count > shown:
            lines.append(f"... and {count - shown:,} more {reason}")
    return "\n".join(lines)


def _summary(report: PublishReport) -> str:
    per_topic = ", ".join(f"{n:,} to {t}" for t, n in sorted(report.sent.items()))
    line = f"\rsent {report.total:,} messages in {report.seconds:.1f} s: {per_topic}"
    if report.skipped:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(report.skip_reasons.items()))
        line += f"; skipped {report.skipped:,} unroutable lines ({reasons})"
    return line
