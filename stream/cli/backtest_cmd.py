"""`scorestream backtest`: compare two models' grades on the same history."""

from __future__ import annotations

import argparse
import sys
import time

from stream import jsonutil
from stream.backtest import CAUSES, DIGITS, LETTERS, Backtest, Share, run_backtest
from stream.cli.common import load_model_args, read_lines, time_arg
from stream.errors import ScoringError
from stream.model.types import GRADES, Model
from stream.replay import Rejection
from stream.timestamps import format_timestamp

HELP = """\
Replay an input file (the same JSON lines as `replay`) through two models,
each in its own engine, and compare them: how contacts move from their
grade under A to their grade under B, how many score changes each model
would have emitted and why, and each model's grade distribution. With
--label and --positive, a contact property that records the real outcome
(e.g. Churn = Yes) is read from each contact's final properties, and the
report shows the positive share per grade and per fit letter, the spread
between the best and worst letters, and the AUC of the fit score. Draft
models are run too: trying one before activating it is the point.
"""

# A file with thousands of bad lines would bury the report; the first few
# show the pattern, and `replay` lists them all.
_REJECTIONS_SHOWN = 20


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "backtest",
        help="compare two models' grades on past input",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="input JSON-lines file, or - for stdin")
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="FILE",
        help="model file (YAML or JSON); give exactly two: A, then B",
    )
    p.add_argument(
        "--as-of",
        type=time_arg,
        metavar="TIME",
        help="grade at this instant, catching decay up to it (RFC 3339 with "
        "offset or epoch ms; default: the highest event time in the input)",
    )
    p.add_argument(
        "--label",
        metavar="PROPERTY",
        help="contact property holding the real outcome, e.g. Churn",
    )
    p.add_argument(
        "--positive",
        metavar="VALUE",
        help="the label value that counts as positive, e.g. Yes (compared "
        "trimmed and case-insensitively)",
    )
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw the two grade heatmaps side by side into this PNG",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if len(args.model) != 2:
        print(
            f"backtest compares exactly two models; got {len(args.model)} --model "
            "options. Give the current model first (A) and the candidate second (B).",
            file=sys.stderr,
        )
        return 2
    if (args.label is None) != (args.positive is None):
        print(
            "--label and --positive go together, e.g. --label Churn --positive Yes",
            file=sys.stderr,
        )
        return 2
    model_a, model_b = (_one_model(path) for path in args.model)

    rejected: list[Rejection] = []
    started = time.monotonic()
    try:
        result = run_backtest(
            read_lines(args.input),
            model_a,
            model_b,
            as_of=args.as_of,
            label=args.label,
            positive=args.positive,
            on_reject=rejected.append,
        )
    except ScoringError as exc:
        _show_rejections(rejected)
        print(f"backtest failed: {exc}", file=sys.stderr)
        return 1
    _show_rejections(rejected)

    if args.plot:
        # Imported here so that text and JSON runs never load matplotlib.
        from stream.backtest_plot import plot_grades

        plot_grades(result, args.plot)

    if args.json:
        sys.stdout.buffer.write(jsonutil.dumps(result.to_dict()) + b"\n")
    else:
        sys.stdout.write(render(result))
    sys.stdout.flush()
    print(
        f"backtest of {len(result.contacts):,} contacts took "
        f"{time.monotonic() - started:.1f} s"
        + (f"; heatmaps written to {args.plot}" if args.plot else ""),
        file=sys.stderr,
    )
    return 0


def _one_model(path: str) -> Model:
    models = load_model_args([path])
    if len(models) != 1:
        print(
            f"{path}: holds {len(models)} models; backtest needs one model per "
            "--model, so name the file itself",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return models[0]


def _show_rejections(rejected: list[Rejection]) -> None:
    for r in rejected[:_REJECTIONS_SHOWN]:
        print(f"line {r.line}: rejected ({r.reason}): {r.detail}", file=sys.stderr)
    if len(rejected) > _REJECTIONS_SHOWN:
        more = len(rejected) - _REJECTIONS_SHOWN
        print(f"... and {more:,} more rejected lines", file=sys.stderr)


# -- text report --------------------------------------------------------------


def name_of(model: Model) -> str:
    return f"{model.id} v{model.version}"


def render(result: Backtest) -> str:
    """The human-readable report, as one string ending in a newline."""
    out: list[str] = []
    a, b = result.models
    stats = result.stats[0]
    out.append(
        f"Backtest as of {format_timestamp(result.as_of)}: "
        f"{len(result.contacts):,} contacts, {len(result.compared()):,} graded "
        "by both models"
    )
    for side, model in zip("AB", result.models, strict=True):
        out.append(f"  {side}  {name_of(model)}  {model.name}  ({model.source})")
    out.append(
        f"Input: {stats.lines:,} lines, {stats.applied:,} applied, "
        f"{stats.duplicates:,} duplicates, {stats.rejected:,} rejected"
    )
    for index in (0, 1):
        if result.only(index):
            out.append(
                f"  {result.only(index):,} contacts graded only by "
                f"{'AB'[index]} (their lines were rejected by the other model)"
            )

    out += ["", "Grade changes each model would have emitted", _row("", "A", "B")]
    ca, cb = result.changes
    rows = [("total", ca.total, cb.total), ("first grades", ca.first, cb.first)]
    rows += [(f"cause {c}", ca.by_cause[c], cb.by_cause[c]) for c in CAUSES]
    for title, n_a, n_b in rows:
        out.append(_row(title, f"{n_a:,}", f"{n_b:,}"))

    out += ["", "Grade distribution (rows: fit letter, columns: activity digit)"]
    left = _grid(f"A: {name_of(a)}", result.distribution(0))
    right = _grid(f"B: {name_of(b)}", result.distribution(1))
    out += [f"  {x:<44}{y}".rstrip() for x, y in zip(left, right, strict=True)]

    out += ["", *_transitions(result)]
    if result.label is not None:
        out += ["", *_labels(result)]
    return "\n".join(out) + "\n"


def _row(title: str, left: str, right: str) -> str:
    return f"  {title:<24}{left:>10}{right:>10}"


def _grid(title: str, counts: dict[str, int]) -> list[str]:
    lines = [title, "     " + "".join(f"{d:>7}" for d in DIGITS) + "  total"]
    for letter in LETTERS:
        cells = [counts.get(f"{letter}{d}", 0) for d in DIGITS]
        lines.append(
            f"  {letter}  " + "".join(f"{n:>7,}" for n in cells) + f"{sum(cells):>7,}"
        )
    totals = [sum(counts.get(f"{k}{d}", 0) for k in LETTERS) for d in DIGITS]
    lines.append("total" + "".join(f"{n:>7,}" for n in totals) + f"{sum(totals):>7,}")
    return lines


def _transitions(result: Backtest) -> list[str]:
    moves = result.transitions()
    compared = sum(moves.values())
    out = [
        f"Grade transitions: rows are grades under A ({name_of(result.models[0])}),",
        f"columns under B ({name_of(result.models[1])}); only grades that occur "
        "are shown, '.' is zero.",
        f"{result.differing():,} of {compared:,} contacts get a different grade.",
    ]
    rows = [g for g in GRADES if any(a == g for a, _ in moves)]
    cols = [g for g in GRADES if any(b == g for _, b in moves)]
    # Cells as narrow as the largest count allows, so 16 columns still fit.
    width = max(3, len(f"{compared:,}")) + 1
    last = max(5, len(f"{compared:,}")) + 2
    out.append("    " + "".join(f"{g:>{width}}" for g in cols) + f"{'total':>{last}}")
    for g in rows:
        cells = [moves.get((g, c), 0) for c in cols]
        text = "".join(f"{n:>{width},}" if n else f"{'.':>{width}}" for n in cells)
        out.append(f"  {g}{text}{sum(cells):>{last},}")
    totals = [sum(moves.get((r, c), 0) for r in rows) for c in cols]
    text = "".join(f"{n:>{width},}" for n in totals)
    out.append(f"{'total':<4}{text[1:]}{compared:>{last},}")
    return out


def _share(share: Share | None) -> str:
    if share is None or share.share is None:
        return f"{'-':>22}"
    return f"{share.contacts:>8,}{share.positives:>7,}{100 * share.share:>6.1f}%"


def _labels(result: Backtest) -> list[str]:
    labelled, positives, unlabelled = result.label_totals()
    overall = f" ({100 * positives / labelled:.1f}%)" if labelled else ""
    out = [
        f"Label {result.label} = {result.positive}: {positives:,} positives among "
        f"{labelled:,} labelled contacts{overall}; {unlabelled:,} without a value",
    ]
    report_a, report_b = result.label_report(0), result.label_report(1)
    if report_a is None or report_b is None:
        return out
    reports = (report_a, report_b)
    names = [f"A: {name_of(result.models[0])}", f"B: {name_of(result.models[1])}"]
    header = f"{'':7}{names[0]:>22}  {names[1]:>22}"
    columns = f"{'':7}" + f"{'contacts':>8}{'pos':>7}{'share':>7}  " * 2
    out += ["", "Positive share per fit letter", header, columns.rstrip()]
    for letter in LETTERS:
        cells = [r.by_letter.get(letter) for r in reports]
        if any(cells):
            out.append(f"  {letter:<5}{_share(cells[0])}  {_share(cells[1])}")
    out += ["", "Positive share per grade", header, columns.rstrip()]
    for grade in GRADES:
        cells = [r.by_grade.get(grade) for r in reports]
        if any(cells):
            out.append(f"  {grade:<5}{_share(cells[0])}  {_share(cells[1])}")

    def signed(value: float | None) -> str:
        return "n/a" if value is None else f"{value:+.3f}"

    def plain(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    out += [
        "",
        "Separation (one number per model)",
        _row("", "A", "B"),
        _row(
            "letter spread",
            signed(reports[0].letter_spread),
            signed(reports[1].letter_spread),
        ),
        _row("AUC of fit score", plain(reports[0].fit_auc), plain(reports[1].fit_auc)),
        "  letter spread: positive share of the best letter present minus that of",
        "  the worst; AUC: chance a positive's fit score beats a negative's (0.5 is",
        "  no separation, below 0.5 the score ranks the other way round).",
    ]
    return out
