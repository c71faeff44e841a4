"""`scorestream data`: turn the real sample data into a replay file."""

from __future__ import annotations

import argparse
import sys

from stream.cli.common import time_arg
from stream.realdata import write_replay

HELP = """\
Write the real sample data (a web access log and a telco customer table,
see docs/data.md) as a replay file: one JSON input message per line with
its `type`, in time order. Feed it to `replay`, `backtest` or `publish`.
The folder is SCORESTREAM_SAMPLE_DATA, else ../shared/data beside the
checkout.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "data",
        help="write the real sample data as a replay file",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, metavar="FILE", help="file to write")
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding access_log_2015.txt and telco_customers.csv "
        "(env SCORESTREAM_SAMPLE_DATA)",
    )
    p.add_argument(
        "--stretch",
        type=float,
        default=1.0,
        help="multiply the time between events; 8 spreads the log's 3.5 days "
        "over four weeks so periods end and grades decay (default 1)",
    )
    p.add_argument(
        "--shift-to",
        type=time_arg,
        metavar="TIME",
        help="move every timestamp so the data ends at TIME (RFC 3339 or epoch "
        "ms), keeping the spacing; default: the original 2015 times",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.stretch <= 0:
        print("scorestream data: --stretch must be above 0", file=sys.stderr)
        return 2
    stats = write_replay(
        args.out, args.data_dir, shift_to=args.shift_to, stretch=args.stretch
    )
    conversions = ", ".join(f"{n} {k!r}" for k, n in sorted(stats.conversions.items()))
    print(
        f"wrote {stats.records:,} inputs to {args.out}: {stats.page_visits:,} page "
        f"visits, {stats.property_changes:,} property changes, conversions: "
        f"{conversions}",
        file=sys.stderr,
    )
    return 0
