"""`scorestream model`: publish models to the models topic, list, show, set status."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Any

from stream.app import modeltopic
from stream.app.lifecycle import same_model
from stream.cli.publish_cmd import connection
from stream.cli.tail_cmd import add_reader_connection_options
from stream.errors import ModelError, ScoringError
from stream.kafka import topics
from stream.model.dump import model_document
from stream.model.load import load_model
from stream.model.types import STATUSES, Model


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "model",
        help="publish models to running workers; list, show, change status",
        description=(
            "Models on the compacted models topic reach every running worker "
            "without a restart: an active or testing model that is new or "
            "changed re-scores every contact (cause `model`); testing models "
            "emit to the shadow topic only; drafts are stored, not run. A "
            "model on the topic replaces the model file of the same id."
        ),
    )
    actions = parser.add_subparsers(dest="model_action", metavar="ACTION")
    actions.required = True

    push = actions.add_parser(
        "push",
        help="validate a model file and publish it",
        description=(
            "Validates FILE like `scorestream validate` and publishes it on the "
            "models topic, where running workers pick it up. Its `version` must "
            "be above the published one of the same id (or use --force); a "
            "model equal to the published one is not sent again. The models "
            "topic must exist (`scorestream broker topics create`)."
        ),
    )
    push.add_argument("file", help="model file (.yaml, .yml or .json)")
    push.add_argument(
        "--force",
        action="store_true",
        help="publish even if its version is not above the published one",
    )
    add_reader_connection_options(push)
    push.set_defaults(handler=run_push)

    listing = actions.add_parser(
        "list",
        help="the models on the topic",
        description=(
            "Prints the id, version, status and name of every model on the "
            "models topic, and each entry that fails validation as `invalid` "
            "with its first problem."
        ),
    )
    add_reader_connection_options(listing)
    listing.set_defaults(handler=run_list)

    show = actions.add_parser(
        "show",
        help="print one published model as JSON",
        description=(
            "Prints the model with this id as it is on the models topic, as a "
            "JSON model file (it can be edited and pushed back)."
        ),
    )
    show.add_argument("id", help="model id")
    add_reader_connection_options(show)
    show.set_defaults(handler=run_show)

    status = actions.add_parser(
        "set-status",
        help="change a published model's status (its version goes up by one)",
        description=(
            "Publishes the model with this id again with a new status and its "
            "version one higher: `active` runs it and emits to the score-change "
            "topic, `testing` runs it and emits to the shadow topic only, "
            "`draft` keeps it stored but stops running it."
        ),
    )
    status.add_argument("id", help="model id")
    status.add_argument("status", choices=STATUSES)
    add_reader_connection_options(status)
    status.set_defaults(handler=run_set_status)


def _topic(args: argparse.Namespace) -> tuple[str, dict[str, str]]:
    settings, config = connection(args)
    return topics.topic_name(topics.MODELS, settings.topic_prefix), config


def _published(args: argparse.Namespace) -> tuple[str, dict[str, str], Any]:
    topic, config = _topic(args)
    return topic, config, modeltopic.read_topic(config, topic)


def _fail(message: str) -> int:
    print(f"scorestream model: {message}", file=sys.stderr)
    return 1


def run_push(args: argparse.Namespace) -> int:
    try:
        model = load_model(args.file)
    except ModelError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        topic, config, found = _published(args)
        current = found.models.get(model.id)
        if current is not None and same_model(current, model):
            print(f"{model.id} v{model.version} is already published; nothing sent")
            return 0
        if current is not None and current.version >= model.version and not args.force:
            return _fail(
                f"{model.id}: version {model.version} is not above the published "
                f"version {current.version}; bump `version` in {args.file} "
                "(or use --force)"
            )
        modeltopic.publish(config, topic, model)
    except ScoringError as exc:
        return _fail(str(exc))
    print(f"published {model.id} v{model.version} ({model.status}) to {topic}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    try:
        topic, _, found = _published(args)
    except ScoringError as exc:
        return _fail(str(exc))
    models = sorted((m for m in found.models.values() if m is not None), key=_id)
    if not models and not found.bad:
        print(f"no models on {topic}")
        return 0
    print(f"{'id':<20} {'version':>7}  {'status':<8} name")
    for m in models:
        print(f"{m.id:<20} {m.version:>7}  {m.status:<8} {m.name}")
    for model_id, problem in sorted(found.bad.items()):
        first = problem.splitlines()[0] if problem else ""
        print(f"{model_id:<20} {'?':>7}  {'invalid':<8} {first}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    try:
        topic, _, found = _published(args)
    except ScoringError as exc:
        return _fail(str(exc))
    model = found.models.get(args.id)
    if model is None:
        return _fail(f"no model {args.id!r} on {topic}")
    sys.stdout.write(_pretty(model_document(model)) + "\n")
    return 0


def run_set_status(args: argparse.Namespace) -> int:
    try:
        topic, config, found = _published(args)
        model = found.models.get(args.id)
        if model is None:
            return _fail(
                f"no model {args.id!r} on {topic}; publish it first with "
                "`scorestream model push FILE`"
            )
        if model.status == args.status:
            print(f"{model.id} v{model.version} is already {args.status}")
            return 0
        changed = replace(model, status=args.status, version=model.version + 1)
        modeltopic.publish(config, topic, changed)
    except ScoringError as exc:
        return _fail(str(exc))
    print(
        f"{changed.id}: {model.status} v{model.version} -> "
        f"{changed.status} v{changed.version}"
    )
    return 0


def _id(model: Model) -> str:
    return model.id


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
