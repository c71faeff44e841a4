"""`scorestream broker ...`: run the local Kafka broker and create the topics."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from stream.errors import BrokerError
from stream.kafka import topics
from stream.kafka.broker import KAFKA_VERSION, LocalBroker, read_state, stop_broker
from stream.kafka.config import (
    BOOTSTRAP_ENV,
    LOCAL_BROKER_DIR_ENV,
    kafka_client_config,
    local_broker_dir,
    masked,
)

DATA_DIR_ENV = LOCAL_BROKER_DIR_ENV
PORT_ENV = "SCORESTREAM_BROKER_PORT"
PREFIX_ENV = "SCORESTREAM_TOPIC_PREFIX"
PARTITIONS_ENV = "SCORESTREAM_PARTITIONS"


def default_data_dir() -> Path:
    """var/broker in the source checkout, else in the current folder."""
    return local_broker_dir({})


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "broker",
        help="run a local Apache Kafka broker and create Scorestream's topics",
        description=(
            f"A single-node Apache Kafka {KAFKA_VERSION} broker (KRaft) on "
            "127.0.0.1, kept in one data folder. The first start downloads "
            "the broker jars with Maven (Java 17+ and Maven needed). Set "
            f"{BOOTSTRAP_ENV} to use another broker instead."
        ),
    )
    commands = parser.add_subparsers(dest="broker_command", metavar="ACTION")
    parser.set_defaults(handler=lambda _args: _usage(parser))

    start = commands.add_parser(
        "start",
        help="start the broker in the background and print its address",
        description=(
            "Starts the broker as a background process, waits until it answers, "
            "prints host:port on stdout and returns. It keeps running until "
            "`scorestream broker stop`. Its log is DATA_DIR/logs/server.log."
        ),
    )
    _data_dir_option(start)
    start.add_argument(
        "--port",
        type=int,
        default=_env_int(PORT_ENV),
        help=(
            "client port on 127.0.0.1 (default: the port of the last start "
            f"if free, else any free port; env {PORT_ENV})"
        ),
    )
    start.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the broker to answer (default: 60)",
    )
    start.set_defaults(handler=_start)

    stop = commands.add_parser(
        "stop",
        help="stop the broker started from DATA_DIR",
        description="Stops the broker (SIGTERM, then SIGKILL after --timeout).",
    )
    _data_dir_option(stop)
    stop.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for a clean shutdown before killing (default: 30)",
    )
    stop.set_defaults(handler=_stop)

    status = commands.add_parser(
        "status",
        help="say whether the broker runs (exit 0) or not (exit 1)",
        description="Prints the address, pid and version of the running broker.",
    )
    _data_dir_option(status)
    status.set_defaults(handler=_status)

    _register_topics(commands)


def _register_topics(commands: Any) -> None:
    parser = commands.add_parser(
        "topics",
        help="list or create Scorestream's topics",
        description="The input, output and model topics, all under one prefix.",
    )
    actions = parser.add_subparsers(dest="topics_command", metavar="ACTION")
    parser.set_defaults(handler=lambda _args: _usage(parser))

    listing = actions.add_parser("list", help="print the topic set (no broker needed)")
    create = actions.add_parser(
        "create",
        help="create the topic set; existing topics are left as they are",
        description=(
            "Creates every topic; a topic that exists is fine unless its "
            "partition count differs (then exit 1 with the topics named)."
        ),
    )
    for action in (listing, create):
        action.add_argument(
            "--prefix",
            default=os.environ.get(PREFIX_ENV, topics.DEFAULT_PREFIX),
            help=(
                f"topic name prefix (default: {topics.DEFAULT_PREFIX}; "
                f"env {PREFIX_ENV})"
            ),
        )
        action.add_argument(
            "--partitions",
            type=int,
            default=_env_int(PARTITIONS_ENV) or topics.DEFAULT_PARTITIONS,
            help=(
                f"partitions per topic (default: {topics.DEFAULT_PARTITIONS}; "
                f"env {PARTITIONS_ENV})"
            ),
        )
        action.add_argument(
            "--app-id",
            help="also the Faust changelog topics of this app id",
        )
    create.add_argument(
        "--bootstrap",
        default=os.environ.get(BOOTSTRAP_ENV),
        help=(
            f"host:port of the broker (env {BOOTSTRAP_ENV}; default: the local "
            "broker of --data-dir)"
        ),
    )
    _data_dir_option(create)
    listing.set_defaults(handler=_topics_list)
    create.set_defaults(handler=_topics_create)


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get(DATA_DIR_ENV) or default_data_dir()),
        help=(
            "folder with the broker's data, config, log and pid file "
            f"(default: <repo or cwd>/var/broker; env {DATA_DIR_ENV})"
        ),
    )


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else None


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _start(args: argparse.Namespace) -> int:
    running = read_state(args.data_dir)
    if running is not None:
        print(f"already running (pid {running.pid})", file=sys.stderr)
        print(running.bootstrap)
        return 0
    # The broker must outlive this command, so it is not tied to our exit.
    broker = LocalBroker(
        args.data_dir, args.port, start_timeout=args.timeout, stop_with_parent=False
    )
    try:
        bootstrap = broker.start()
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"Kafka {KAFKA_VERSION} running (pid {broker.pid}); log in "
        f"{broker.server_log}\nuse it with: export {BOOTSTRAP_ENV}={bootstrap}",
        file=sys.stderr,
    )
    print(bootstrap)
    return 0


def _stop(args: argparse.Namespace) -> int:
    try:
        stopped = stop_broker(args.data_dir, args.timeout)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("stopped" if stopped else f"no broker running from {args.data_dir}")
    return 0


def _status(args: argparse.Namespace) -> int:
    state = read_state(args.data_dir)
    if state is None:
        print(f"not running (data dir {args.data_dir})")
        return 1
    print(f"running at {state.bootstrap} (pid {state.pid}, Kafka {state.version})")
    return 0


def _specs(args: argparse.Namespace) -> list[topics.TopicSpec]:
    specs = topics.scorestream_topics(args.prefix, args.partitions)
    if args.app_id:
        specs += topics.changelog_topics(args.app_id, partitions=args.partitions)
    return specs


def _topics_list(args: argparse.Namespace) -> int:
    for spec in _specs(args):
        settings = ", ".join(f"{k}={v}" for k, v in spec.config.items())
        print(f"{spec.name}\t{spec.partitions}\t{settings}\t{spec.purpose}")
    return 0


def _topics_create(args: argparse.Namespace) -> int:
    bootstrap = args.bootstrap
    if not bootstrap:
        state = read_state(args.data_dir)
        if state is None:
            print(
                f"error: no broker: set {BOOTSTRAP_ENV} or --bootstrap, or run "
                "`scorestream broker start` first",
                file=sys.stderr,
            )
            return 1
        bootstrap = state.bootstrap
    try:
        config = kafka_client_config(bootstrap)
        print(f"creating topics on {masked(config)}", file=sys.stderr)
        extra = _specs(args)[len(topics.scorestream_topics()) :]
        outcome = topics.create_topics(
            config, args.prefix, args.partitions, extra=extra
        )
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, result in outcome.items():
        print(f"{name}\t{result}")
    return 0
