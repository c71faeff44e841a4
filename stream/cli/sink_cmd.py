"""`scorestream sink ...`: send grades to a CRM, or run a fake CRM for demos."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import fields, replace
from typing import Any

from stream.app.settings import BOOTSTRAP_SOURCES, resolve_bootstrap
from stream.errors import ScoringError
from stream.kafka.config import kafka_client_config
from stream.sink.settings import ENV, HELP, SECRET_FIELDS, TARGETS, SinkSettings

PREFIX = "scorestream sink:"
# As long as the other tools wait: a missing broker is then one sentence
# instead of librdkafka retrying until creating a topic times out.
CONNECT_TIMEOUT_S = 10.0

CRM_HELP = """\
Reads the score-change topic in a consumer group of its own and writes each
contact's newest grade, scores, action and change time to the CRM: HubSpot's
contact batch update, a webhook, or stdout. Changes are gathered for the
coalescing window, so only the newest per contact and model is sent; requests
are paced by a token bucket and retried until the CRM answers. Offsets are
committed only after the CRM accepted a batch or refused it for good (then
the change and the CRM's answer go to the PREFIXcrm-rejected topic).

Secrets come from the environment only: SCORESTREAM_CRM_TOKEN (HubSpot
private-app token) and SCORESTREAM_CRM_WEBHOOK_SECRET (webhook signing key).
Every option below has the environment variable shown as its twin.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sink",
        help="send grades to a CRM (HubSpot, a webhook) or run a fake CRM",
        description="Route score changes back to a CRM.",
    )
    commands = parser.add_subparsers(dest="sink_command", metavar="ACTION")
    parser.set_defaults(handler=lambda _args: _usage(parser))

    crm = commands.add_parser(
        "crm",
        help="consume score changes and write the grades to the CRM",
        description=CRM_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for f in fields(SinkSettings):
        if f.name in SECRET_FIELDS:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{HELP[f.name]} (env {ENV[f.name]}; default: {f.default!r})"
        if f.name == "bootstrap":
            help_text = f"{HELP[f.name]} ({BOOTSTRAP_SOURCES})"
        if f.type == "bool":
            crm.add_argument(flag, action="store_const", const=True, help=help_text)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            choices = TARGETS if f.name == "target" else None
            crm.add_argument(
                flag, type=kind, choices=choices, default=None, help=help_text
            )
    crm.add_argument(
        "--max-seconds",
        type=float,
        help="stop after this many seconds (pending changes are sent first)",
    )
    crm.add_argument(
        "--exit-when-idle",
        type=float,
        metavar="SECONDS",
        help="stop once no change arrived for this long and nothing is pending",
    )
    crm.set_defaults(handler=_crm)

    fake = commands.add_parser(
        "fake-crm",
        help="run a local fake CRM (HubSpot batch update + webhook) for demos",
        description=(
            "Serves HubSpot's contact batch update and a webhook on 127.0.0.1, "
            "checks each request's shape and prints what it received, one JSON "
            "line per request. GET /_fake/state shows the stored properties; "
            'POST /_fake/plan with [{"status": 429, "retry_after": 2}, ...] '
            "makes the next requests fail. Point the sink at it with "
            "--base-url or --webhook-url."
        ),
    )
    fake.add_argument("--port", type=int, default=0, help="port (default: any free)")
    fake.add_argument(
        "--require-token",
        action="store_true",
        help=f"accept only the token in {ENV['token']}",
    )
    fake.add_argument(
        "--reject-id",
        action="append",
        default=[],
        metavar="CONTACT",
        help="refuse this contact id (a 207 per-contact error); repeatable",
    )
    fake.add_argument(
        "--delay", type=float, default=0.0, help="seconds to wait before answering"
    )
    fake.add_argument("--max-seconds", type=float, help="stop after this long")
    fake.set_defaults(handler=_fake_crm)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _crm(args: argparse.Namespace) -> int:
    from stream.sink.runner import CrmSink

    overrides = {
        f.name: getattr(args, f.name)
        for f in fields(SinkSettings)
        if f.name not in SECRET_FIELDS
    }
    try:
        settings = SinkSettings.from_env(**overrides)
        # Same order as every other tool; with none found, the error says how
        # to get a broker.
        bootstrap = resolve_bootstrap(settings.bootstrap or None)
        config = kafka_client_config(bootstrap)
        sink = CrmSink(replace(settings, bootstrap=bootstrap), config)
    except ScoringError as exc:
        print(f"{PREFIX} {exc}", file=sys.stderr)
        return 2
    try:
        _check_broker(config, bootstrap, args.bootstrap)
    except ScoringError as exc:
        print(f"{PREFIX} {exc}", file=sys.stderr)
        return 1

    def on_signal(signum: int, _frame: Any) -> None:
        sink.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sink.run(max_seconds=args.max_seconds, exit_when_idle=args.exit_when_idle)
    except ScoringError as exc:
        print(f"{PREFIX} {exc}", file=sys.stderr)
        return 1
    return 0


def _check_broker(config: dict[str, str], bootstrap: str, given: str | None) -> None:
    """BrokerError, naming the address and where it came from, if Kafka does
    not answer within CONNECT_TIMEOUT_S."""
    from stream.kafka.connection import bootstrap_source, check_connection

    source = bootstrap_source(bootstrap, given=given)
    check_connection(config, timeout=CONNECT_TIMEOUT_S, source=source)


def _fake_crm(args: argparse.Namespace) -> int:
    import os

    from stream.sink.fakecrm import FakeCrm

    token = os.environ.get(ENV["token"], "") if args.require_token else ""
    crm = FakeCrm(token=token, port=args.port, echo=sys.stdout)
    crm.reject_ids.update(args.reject_id)
    crm.delay = args.delay
    stop = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with crm:
        print(f"fake CRM at {crm.base_url} (webhook: {crm.webhook_url})", flush=True)
        started = time.monotonic()
        while not stop and (
            args.max_seconds is None or time.monotonic() - started < args.max_seconds
        ):
            time.sleep(0.2)
    return 0
