"""`scorestream replay`: score a JSON-lines input file offline."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack

from stream import jsonutil
from stream.cli.common import load_model_args, open_output, read_lines, time_arg
from stream.errors import ScoringError
from stream.replay import Rejection, run_replay
from stream.scoring.changes import ScoreChange
from stream.scoring.engine import Engine

HELP = """\
Replay an input file through the models on the event clock and write the
score-change events as JSON lines. Each input line is one message plus a
`type` field (page_visit, conversion or property_change), in the order a
stream would deliver it. The scoring clock is the highest event time seen so
far, so the same file always gives the same output. Malformed lines are
reported on stderr with their line number and reason; they never stop the
run.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "replay",
        help="score a JSON-lines input file offline",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="input JSON-lines file, or - for stdin")
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="FILE",
        help="model file (YAML or JSON) or folder of them; repeat for more",
    )
    p.add_argument(
        "--as-of",
        type=time_arg,
        metavar="TIME",
        help="score the final state at this instant (RFC 3339 with offset or "
        "epoch ms); decay changes up to it are emitted too "
        "(default: the highest event time in the input)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="write score-change events here (default or -: stdout)",
    )
    p.add_argument(
        "--final",
        metavar="FILE",
        help="also write each contact's final grade and scores per model "
        "(- for stdout)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="do not list rejected lines on stderr (the summary still shows)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    engine = Engine(load_model_args(args.model))
    if not engine.models:
        print("no model to run: every model given is a draft", file=sys.stderr)
        return 1

    started = time.monotonic()
    with ExitStack() as stack:
        out = open_output(args.out, stack)

        def on_change(change: ScoreChange) -> None:
            out.write(jsonutil.dumps(change.to_dict()) + b"\n")

        def on_reject(rejection: Rejection) -> None:
            if not args.quiet:
                print(
                    f"line {rejection.line}: rejected ({rejection.reason}): "
                    f"{rejection.detail}",
                    file=sys.stderr,
                )

        try:
            replay = run_replay(
                read_lines(args.input),
                engine,
                on_change=on_change,
                on_reject=on_reject,
                as_of=args.as_of,
            )
        except ScoringError as exc:
            print(f"scorestream replay: {exc}", file=sys.stderr)
            return 1
        out.flush()

        as_of = args.as_of if args.as_of is not None else replay.processor.now
        if args.final and as_of is not None:
            final = open_output(args.final, stack)
            for row in replay.final_rows(as_of):
                final.write(jsonutil.dumps(row) + b"\n")
            final.flush()

    stats = replay.stats
    elapsed = time.monotonic() - started
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats.reasons.items()))
    print(
        f"replayed {stats.lines:,} lines in {elapsed:.1f} s: {stats.applied:,} "
        f"applied, {stats.duplicates:,} duplicates, {stats.rejected:,} rejected"
        f"{f' ({reasons})' if reasons else ''}; {stats.changes:,} score changes "
        f"({stats.decay_changes:,} from decay); "
        f"{len(replay.store.states):,} contacts",
        file=sys.stderr,
    )
    return 0
