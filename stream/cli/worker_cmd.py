"""`scorestream worker`: run the stream worker until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from stream.app.settings import (
    BOOTSTRAP_SOURCES,
    CLOCKS,
    ENV,
    GUARANTEES,
    HELP,
    INT_FIELDS,
    LOG_LEVELS,
    SECRET_FIELDS,
    Settings,
    resolve_bootstrap,
)
from stream.errors import ModelError, ScoringError
from stream.urlprivacy import URL_QUERY_MODES

_DEFAULTS = Settings()
_TYPES: dict[str, Any] = {"models": Path, "data_dir": Path, "partitions": int}
_TYPES.update({name: int for name in INT_FIELDS})
_METAVARS = {
    "bootstrap": "HOST:PORT",
    "topic_prefix": "PREFIX",
    "models": "DIR",
    "data_dir": "DIR",
    "partitions": "N",
    "web_host": "HOST",
    "web_port": "PORT",
    "app_id": "ID",
    "max_message_bytes": "BYTES",
    "max_properties": "N",
    "max_url_length": "CHARS",
    "max_id_length": "CHARS",
    "max_property_name_length": "CHARS",
    "regex_timeout_ms": "MS",
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "clock": CLOCKS,
    "processing_guarantee": GUARANTEES,
    "log_level": LOG_LEVELS,
    "url_query": URL_QUERY_MODES,
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="score inputs from Kafka as they arrive (the long-running job)",
        description=(
            "Consumes page visits, conversions and property changes, keeps each "
            "contact's state in RocksDB (backed up to a compacted changelog "
            "topic) and publishes a score-change event whenever a grade moves. "
            "Every option has an environment variable; an option given on the "
            "command line wins. The models are checked before anything is "
            "consumed: a bad model stops start-up and lists every problem."
        ),
    )
    add_settings_options(parser)
    parser.set_defaults(handler=run)


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """One option per Settings field, its environment variable in the help;
    secrets have only their environment variable."""
    for f in fields(Settings):
        if f.name in SECRET_FIELDS:
            continue
        default = getattr(_DEFAULTS, f.name)
        where = f"env {ENV[f.name]}; default {default}"
        if f.name == "bootstrap":
            where = BOOTSTRAP_SOURCES
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(
            flag,
            dest=f"setting_{f.name}",
            type=_TYPES.get(f.name, str),
            choices=_CHOICES.get(f.name),
            default=None,
            metavar=_METAVARS.get(f.name),
            help=f"{HELP[f.name]} ({where})",
        )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from options over the environment; BrokerError if no broker."""
    overrides = {
        f.name: getattr(args, f"setting_{f.name}")
        for f in fields(Settings)
        if getattr(args, f"setting_{f.name}", None) is not None
    }
    overrides["bootstrap"] = resolve_bootstrap(overrides.get("bootstrap"))
    return Settings.from_env(**overrides)


def run(args: argparse.Namespace) -> int:
    from stream.app.worker import load_models, run_worker

    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"scorestream worker: {exc}", file=sys.stderr)
        return 2
    except ScoringError as exc:
        print(f"scorestream worker: cannot start: {exc}", file=sys.stderr)
        return 1
    logging.getLogger().setLevel(settings.log_level)
    try:
        models = load_models(settings)
    except ModelError as exc:
        print(f"scorestream worker: cannot start.\n{exc}", file=sys.stderr)
        return 1
    try:
        return run_worker(settings, models)
    except ScoringError as exc:
        print(f"scorestream worker: cannot start: {exc}", file=sys.stderr)
        return 1
