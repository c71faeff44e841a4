"""Runs the stream worker in this process until SIGTERM or SIGINT.

`python -m stream.app.worker` runs it with settings from the environment
only; `scorestream worker` adds command-line options on top.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from stream import jsonutil
from stream.app.settings import Settings
from stream.errors import ModelError
from stream.model.load import load_model_dir
from stream.model.types import Model

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
    from stream.app.web import install_web

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
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT, stream=sys.stderr)
    try:
        models = load_models(settings)
    except ModelError as exc:
        print(f"scorestream worker: {exc}", file=sys.stderr)
        return 2
    return run_worker(settings, models)


if __name__ == "__main__":
    sys.exit(main())
