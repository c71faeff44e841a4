"""`scorestream validate`: check model files and report every problem."""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO

from stream.app.settings import ENV
from stream.model.load import check_models
from stream.urlprivacy import URL_QUERY_MODES, UrlQuery, query_rule_warnings

HELP = """\
Check model files (YAML or JSON) without running anything. Each MODEL is a
file or a folder; a folder stands for every *.yaml, *.yml and *.json file in
it. Every problem in every file is printed, each naming the file, the place
in it (e.g. activity[2].rules[0].op), the bad value and what would be valid.
Each good model prints "ok: FILE (id vN, status)". Two files that define the
same model id are an error.

With --url-query hash or drop (default: env SCORESTREAM_URL_QUERY, else
keep), a warning names each url or referrer rule that looks at the query
string or fragment: the worker hashes or removes those before rules run,
so such a rule cannot match as written. Warnings do not change the exit
status.

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
    parser.add_argument(
        "--url-query",
        choices=URL_QUERY_MODES,
        default=None,
        help="what the worker will do with url query strings "
        f"(env {ENV['url_query']}; default keep)",
    )
    parser.set_defaults(handler=run)


def run(
    args: argparse.Namespace, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr
) -> int:
    """Validate `args.models`; 0 when every model is valid, else 1."""
    results, problems = check_models(args.models)
    chosen = args.url_query or os.environ.get(ENV["url_query"], "").strip().lower()
    # An unknown value is the worker's to refuse; here it warns about nothing.
    mode: UrlQuery = next((m for m in URL_QUERY_MODES if m == chosen), "keep")

    for path, model in results:
        if model is not None:
            print(f"ok: {path} ({model.id} v{model.version}, {model.status})", file=out)
    models = [model for _, model in results if model is not None]
    for warning in query_rule_warnings(models, mode):
        print(f"warning: {warning}", file=err)
    for problem in problems:
        print(f"error: {problem}", file=err)

    if problems:
        n = len(problems)
        print(f"{n} problem{'s' if n != 1 else ''} found", file=err)
        return 1
    return 0
