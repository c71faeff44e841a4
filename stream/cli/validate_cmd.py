"""`scorestream validate`: check model files and report every problem."""

from __future__ import annotations

import argparse
import sys
from typing import IO

from stream.model.load import check_models

HELP = """\
Check model files (YAML or JSON) without running anything. Each MODEL is a
file or a folder; a folder stands for every *.yaml, *.yml and *.json file in
it. Every problem in every file is printed, each naming the file, the place
in it (e.g. activity[2].rules[0].op), the bad value and what would be valid.
Each good model prints "ok: FILE (id vN, status)". Two files that define the
same model id are an error.

Exit status: 0 when all models are valid, 1 otherwise.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `validate` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="check model files and report every problem",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="model file (.yaml, .yml, .json) or folder of them",
    )
    parser.set_defaults(handler=run)


def run(
    args: argparse.Namespace, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr
) -> int:
    """Validate `args.models`; 0 when every model is valid, else 1."""
    results, problems = check_models(args.models)

    for path, model in results:
        if model is not None:
            print(f"ok: {path} ({model.id} v{model.version}, {model.status})", file=out)
    for problem in problems:
        print(f"error: {problem}", file=err)

    if problems:
        n = len(problems)
        print(f"{n} problem{'s' if n != 1 else ''} found", file=err)
        return 1
    return 0
