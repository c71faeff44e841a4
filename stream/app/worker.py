"""Runs the stream worker in this process until SIGTERM or SIGINT.

`python -m stream.app.worker` runs it with settings from the environment
only; `scorestream worker` adds command-line options on top.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sys
from collections.abc import Sequence

from stream import jsonutil
from stream.app.settings import ENV, Settings, resolve_bootstrap
from stream.errors import ModelError, ScoringError
from stream.model.load import load_model_dir
from stream.model.types import Model
from stream.urlprivacy import query_rule_warnings

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def load_models(settings: Settings) -> list[Model]:
    """The models to run; a bad or empty folder stops start-up (ModelError)."""
    models = load_model_dir(settings.models)
    if not models:
        from stream.errors import Problem

        raise ModelError(
            [Problem(str(settings.models), "", "holds no model files to run")]
        )
    return models


def check_web_port(settings: Settings) -> None:
    """ScoringError if the status web server could not bind its address.

    Faust would find out only after joining the group, as a long traceback.
    """
    if not settings.web_enabled:
        return
    host, port = settings.web_host, settings.web_port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ScoringError(
            f"web host {host!r} cannot be resolved ({exc}); set --web-host or "
            f"{ENV['web_host']}"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # The same option the web server sets, so a port left in TIME_WAIT by
        # a worker that just stopped does not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            taken = exc.errno == errno.EADDRINUSE
            reason = "is already in use" if taken else f"cannot be bound ({exc})"
            raise ScoringError(
                f"web port {port} on {host} {reason}; pick a free one with "
                f"--web-port or {ENV['web_port']} (0 turns the web server off)"
            ) from None


def check_broker(settings: Settings) -> None:
    """BrokerError, in a sentence, if Kafka is unreachable or refuses us."""
    from stream.kafka.config import kafka_client_config
    from stream.kafka.connection import check_connection

    check_connection(kafka_client_config(settings.bootstrap), timeout=15.0)


def ensure_topics(settings: Settings) -> None:
    """Create the topics the worker reads and writes if they are missing.

    A worker subscribed to topics that do not exist yet idles until its next
    metadata refresh (minutes) after someone creates them.
    """
    from stream.kafka.config import kafka_client_config
    from stream.kafka.topics import create_missing_topics

    created = create_missing_topics(
        kafka_client_config(settings.bootstrap),
        settings.topic_prefix,
        settings.partitions,
    )
    if created:
        log.info("created missing topics: %s", ", ".join(created))


def _use_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def run_worker(settings: Settings, models: Sequence[Model]) -> int:
    """Build the app, start consuming, block until stopped; the exit code."""
    import faust

    from stream.app.agents import ScoringJob
    from stream.app.app import create_app
    from stream.app.lifecycle import install_lifecycle
    from stream.app.logmask import install_secret_mask
    from stream.app.web import install_web

    install_secret_mask(settings)
    check_web_port(settings)
    check_broker(settings)
    ensure_topics(settings)
    uvloop = _use_uvloop()
    # A fresh loop: Faust binds to the current one, and callers (tests, the
    # demo) may have closed theirs.
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings)
    job = ScoringJob(app, settings, models)
    lifecycle = install_lifecycle(app, job, settings, models)
    install_web(app, job, settings, lifecycle)
    running = [m.model.id for m in job.engine.models if not m.shadow]
    shadow = [m.model.id for m in job.engine.models if m.shadow]
    log.info("settings: %r", settings)
    log.info(
        "models: %s live, %s shadow; %s clock; uvloop %s",
        ", ".join(running) or "none",
        ", ".join(shadow) or "none",
        settings.clock,
        "on" if uvloop else "off",
    )
    for warning in query_rule_warnings(models, settings.url_query):
        log.warning("%s", warning)
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,
        loop=asyncio.get_event_loop(),
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
        log.info(
            "worker stopped; totals %s", jsonutil.dumps(job.stats.as_dict()).decode()
        )
        return code
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = Settings.from_env(bootstrap=resolve_bootstrap())
    except ValueError as exc:
        print(f"scorestream worker: {exc}", file=sys.stderr)
        return 2
    except ScoringError as exc:
        print(f"scorestream worker: cannot start: {exc}", file=sys.stderr)
        return 1
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT, stream=sys.stderr)
    try:
        models = load_models(settings)
    except ModelError as exc:
        print(f"scorestream worker: {exc}", file=sys.stderr)
        return 2
    try:
        return run_worker(settings, models)
    except ScoringError as exc:
        print(f"scorestream worker: cannot start: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
