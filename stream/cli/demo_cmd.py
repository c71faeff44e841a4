"""`scorestream demo`: the whole job on the real data, from broker to grades."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from stream.errors import ModelError, ScoringError
from stream.kafka.jars import repo_root


def _default_work_dir() -> Path:
    root = repo_root()
    base = root if (root / "pyproject.toml").is_file() else Path.cwd()
    return base / "var" / "demo"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the worker on the real sample data and show grades as they move",
        description=(
            "Starts a local Kafka broker (or uses KAFKA_BOOTSTRAP), creates a "
            "fresh set of topics, starts the stream worker with the models "
            "folder on the event clock, publishes the real access log and CRM "
            "table, and prints a sample of the grade changes each second. At "
            "the end: a 4x4 grade table per model and the counts. Everything it "
            "started is stopped when it ends, also on Ctrl-C."
        ),
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=Path("models"),
        help="folder of model files to run (default: models/)",
    )
    parser.add_argument(
        "--stretch",
        type=float,
        default=8.0,
        help=(
            "multiply the time between events; 8 spreads the log's 3.5 days "
            "over four weeks so periods end and grades decay (default 8)"
        ),
    )
    parser.add_argument(
        "--serve",
        type=int,
        nargs="?",
        const=6066,
        default=0,
        metavar="PORT",
        help="after scoring, keep the worker serving the grade page and API "
        "on 127.0.0.1:PORT (default 6066) until Ctrl-C",
    )
    parser.add_argument(
        "--crm",
        action="store_true",
        help="afterwards, run the CRM sink into a local fake HubSpot on "
        "127.0.0.1 and show what it would have written",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=_default_work_dir(),
        help="folder for the broker's and the worker's files (default var/demo)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from stream.app.demo import DemoOptions, run_demo
    from stream.model.load import load_model_dir

    try:
        models = load_model_dir(args.models)
    except ModelError as exc:
        print(f"scorestream demo: {exc}", file=sys.stderr)
        return 1
    running = [m for m in models if m.status != "draft"]
    say(f"models: {', '.join(f'{m.id} ({m.status})' for m in running)}")

    options = DemoOptions(
        models=args.models.resolve(),
        work_dir=args.work_dir,
        stretch=args.stretch,
        crm=args.crm,
        serve_port=args.serve,
    )
    try:
        result = run_demo(
            options,
            say,
            on_scored=(lambda r: report(r, running)) if options.serve_port else None,
        )
    except ScoringError as exc:
        print(f"scorestream demo: {exc}", file=sys.stderr)
        return 1
    if not options.serve_port:
        report(result, running)
    return 0


def report(result: Any, models: list[Any]) -> None:
    """The grade tables and the counts; the CRM summary with --crm."""
    from stream.app.demo import grade_table, order_note

    print()
    for model in models:
        for line in grade_table(result, model.id):
            print(line)
        print()
    note = order_note({m.id: m.hysteresis for m in models})
    if note:
        print(note)
        print()
    published = result.published.total if result.published else 0
    totals = result.totals or {}
    rate = totals.get("events_per_s")
    print(
        f"events in: {published:,}   dead-lettered: {result.dead_letters:,}   "
        f"changes out: {result.changes:,}   "
        + (f"worker: {rate:,} events/s" if rate is not None else "")
    )
    if rate is not None:
        print(
            "(the worker's rate runs from its first batch to its last, while the "
            "inputs were still being published; `./run bench` measures it properly)"
        )
    if result.crm_contacts:
        print_crm(result)


def print_crm(result: Any) -> None:
    """What the CRM sink would have written to HubSpot."""
    contacts = result.crm_contacts
    print(
        f"\nfake CRM: {result.crm_requests:,} batch requests updated "
        f"{len(contacts):,} contacts; for example:"
    )
    for contact_id in sorted(contacts)[:3]:
        props = contacts[contact_id]
        shown = ", ".join(f"{k}={v}" for k, v in sorted(props.items()) if "grade" in k)
        print(f"  {contact_id}: {shown}")


def say(text: str) -> None:
    print(text, flush=True)
