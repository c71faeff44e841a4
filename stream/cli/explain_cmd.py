"""`scorestream explain`: one contact's score under a model, with the why."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from stream import jsonutil
from stream.cli.common import load_model_args, read_lines, time_arg
from stream.decode import decode_obj, decode_replay_line
from stream.errors import InputError
from stream.processor import MemoryStore, Processor
from stream.scoring.engine import Engine, Evaluation, ModelScorer
from stream.state import ContactState
from stream.timestamps import format_timestamp

CONTACT = "explained-contact"

HELP = """\
Score one contact and show every step: for each fit category the value
seen, the range or value list it matched and the points; for each activity
category the count, credit and decay of each period and which period won.
Events are replay lines (page_visit, conversion, and property_change, which
is applied on top of --properties); their contact ids are ignored, all of
them count for the one contact explained, and a file holding several contact
ids gets a warning. Lines dated after --as-of are left out, and malformed
lines are reported and skipped, as in `replay`. The grade shown is the plain
grade of these scores: hysteresis needs the grade history of a live contact,
which `replay` and the worker keep.

One contact's inputs from the real sample data:
  scorestream data --out real.jsonl
  grep '"contact_id":"245.57.13.67"' real.jsonl > events.jsonl
  scorestream explain --model models/upsell.yaml --events events.jsonl
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "explain",
        help="explain one contact's score and grade",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="FILE",
        help="model file or folder; repeat for more",
    )
    p.add_argument(
        "--properties",
        default="{}",
        metavar="JSON",
        help="contact properties as a JSON object, or @FILE "
        "(e.g. '{\"Last NPS Score\": 9}')",
    )
    p.add_argument(
        "--events",
        metavar="FILE",
        help="JSON-lines file of the contact's inputs (replay format)",
    )
    p.add_argument(
        "--as-of",
        type=time_arg,
        metavar="TIME",
        help="score at this instant (default: the latest event "
        "time, or now when there are no events)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=run)


def _properties(text: str) -> dict[str, Any]:
    raw = Path(text[1:]).read_bytes() if text.startswith("@") else text.encode()
    msg = decode_obj(
        "property_change",
        {"contact_id": CONTACT, "timestamp": 0, "properties": jsonutil.loads(raw)},
    )
    return dict(msg.properties)


def run(args: argparse.Namespace) -> int:
    engine = Engine(load_model_args(args.model))
    store = MemoryStore()
    processor = Processor(engine, store)
    state = ContactState()
    try:
        props = _properties(args.properties)
    except InputError as exc:
        print(f"--properties: {exc.detail}", file=sys.stderr)
        return 1
    state.properties = {k: (v, 0) for k, v in props.items()}
    store.put(CONTACT, state)

    latest = 0
    later = 0
    contacts: set[str] = set()
    if args.events:
        for lineno, line in enumerate(read_lines(args.events), start=1):
            if not line.strip():
                continue
            try:
                msg = decode_replay_line(line)
            except InputError as exc:
                print(f"{args.events}:{lineno}: skipped: {exc}", file=sys.stderr)
                continue
            contacts.add(msg.contact_id)
            if args.as_of is not None and msg.timestamp > args.as_of:
                later += 1
                continue
            latest = max(latest, msg.timestamp)
            msg = type(msg)(**{**_fields(msg), "contact_id": CONTACT})
            processor.apply(msg, max(latest, processor.now or 0))
    if later:
        print(f"{later} input(s) dated after --as-of left out", file=sys.stderr)
    if len(contacts) > 1:
        print(_mixed_warning(args.events, contacts), file=sys.stderr)
    as_of = args.as_of if args.as_of is not None else (latest or _now())
    state = store.get(CONTACT) or state

    report = []
    for scorer in engine.models:
        evaluation = scorer.evaluate(state, as_of)
        report.append(_report(scorer, evaluation, as_of))
    if args.json:
        sys.stdout.buffer.write(jsonutil.dumps(report) + b"\n")
    else:
        for item in report:
            print(_text(item))
    return 0


def _mixed_warning(path: str, contacts: set[str]) -> str:
    """A whole replay file explained as one contact adds up everybody's
    inputs, which is almost never what was meant, so say so and how to
    keep one contact's lines."""
    example = min(contacts)
    return (
        f"warning: {path} holds inputs of {len(contacts):,} contacts; all of "
        "them were counted as one contact. To explain one contact, keep only "
        f'its lines, e.g. grep \'"contact_id":"{example}"\' {path} '
        "> events.jsonl"
    )


def _fields(msg: Any) -> dict[str, Any]:
    return {name: getattr(msg, name) for name in msg.__slots__}


def _now() -> int:
    import time

    return int(time.time() * 1000)


def _report(scorer: ModelScorer, evaluation: Evaluation, as_of: int) -> dict[str, Any]:
    grade = scorer.grade(evaluation, None)
    return {
        "model_id": scorer.model.id,
        "model_version": scorer.model.version,
        "as_of": format_timestamp(as_of),
        "grade": grade,
        "recommended_action": scorer.model.action_for(grade),
        "fit_score": round(evaluation.fit_score, 4),
        "activity_score": round(evaluation.activity_score, 4),
        "breakdown": evaluation.breakdown(),
    }


def _text(item: dict[str, Any]) -> str:
    lines = [
        f"{item['model_id']} v{item['model_version']} as of {item['as_of']}: "
        f"grade {item['grade']} -> {item['recommended_action']}",
        f"  fit {item['fit_score']:g}",
    ]
    for f in item["breakdown"]["fit"]:
        why = f["reason"]
        if "property" in f:
            why = f"{f['property']} = {f['value']!r}: {why}"
        m = f.get("matched")
        if m and "min" in m:
            why += f" {m['min']:g}..{m['max']:g} -> {m['score']:g}%"
        elif m:
            why += f" {m['values']} -> {m['score']:g}%"
        lines.append(
            f"    {f['category']:<40} {f['points']:>+8.2f} / {f['weight']:g}  {why}"
        )
    lines.append(f"  activity {item['activity_score']:g}")
    for a in item["breakdown"]["activity"]:
        best = a["best_period"]
        tag = f"best period k={best}" if best is not None else "no activity"
        lines.append(
            f"    {a['category']:<40} {a['points']:>+8.2f} / {a['weight']:g}  {tag}"
        )
        for p in a["periods"]:
            lines.append(
                f"        k={p['k']}  count {p['count']}  credit {p['credit']:.2f}"
                f"  decay {p['decay']:.2f}  -> {p['credit'] * p['decay']:.4f}"
            )
    return "\n".join(lines)
