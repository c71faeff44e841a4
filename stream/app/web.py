"""The worker's HTTP API on Faust's aiohttp server (see docs/api.md).

Routes are plain aiohttp handlers added to the server Faust runs, so they
share its bind address (127.0.0.1 unless configured otherwise). Faust's
own pages are switched off: its table browser would show raw contact
records to anyone who can reach the port.
"""

from __future__ import annotations

import importlib.resources
import logging
import time
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from yarl import URL

from stream.app import auth, routing
from stream.app.lifecycle import ModelLifecycle
from stream.app.metrics import CONTENT_TYPE
from stream.app.observe import JobObserver
from stream.app.settings import Settings
from stream.app.webgrades import GradeViews, check_params, error
from stream.decode import DEFAULT_LIMITS
from stream.scoring.engine import ModelScorer
from stream.state import ContactState
from stream.timestamps import format_timestamp

log = logging.getLogger(__name__)

FORWARD_TIMEOUT_S = 5.0
TABLE = "contacts"


class Api:
    """The state the handlers read: the job, its observer and the model catalog."""

    def __init__(
        self,
        app: Any,
        job: Any,
        settings: Settings,
        lifecycle: ModelLifecycle,
        observer: JobObserver,
    ) -> None:
        self.app = app
        self.job = job
        self.settings = settings
        self.lifecycle = lifecycle
        self.observer = observer
        self.grades = GradeViews(self)
        self._rescored_seen = 0
        self.page = (
            importlib.resources.files("stream.app")
            .joinpath("page/index.html")
            .read_text(encoding="utf-8")
        )

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.index),
            web.get("/health", self.health),
            web.get("/ready", self.ready),
            web.get("/models", self.models),
            web.get("/metrics", self.metrics),
            web.get("/contacts/{id}", self.contact),
            web.get("/grades", self.grades.matrix),
            web.get("/grades/{model}/{grade}", self.grades.contacts),
        ]

    def now(self) -> int:
        """The job's scoring clock; wall time before the first input."""
        now: int | None = self.job.processor.now
        return now if now is not None else int(time.time() * 1000)

    # -- small endpoints ------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        return web.Response(text=self.page, content_type="text/html")

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(self, request: web.Request) -> web.Response:
        observer = self.observer
        ready = observer.ready and not observer.recovering
        body = {
            "ready": ready,
            "partitions": sorted(self.job.partitions),
            "recovering": observer.recovering,
        }
        return web.json_response(body, status=200 if ready else 503)

    async def models(self, request: web.Request) -> web.Response:
        if problem := check_params(request, set()):
            return problem
        running = {s.model.id: s for s in self.job.engine.models}
        out = [
            {
                "id": m.id,
                "name": m.name,
                "version": m.version,
                "status": m.status,
                "running": m.id in running,
                "stream": _stream_of(m.status),
                "actions": dict(m.actions),
            }
            for m in sorted(self.lifecycle.catalog.models.values(), key=lambda m: m.id)
        ]
        invalid = [
            {"id": model_id, "problem": problem}
            for model_id, problem in sorted(self.lifecycle.bad.items())
        ]
        return web.json_response({"models": out, "invalid": invalid})

    async def metrics(self, request: web.Request) -> web.Response:
        metrics = self.observer.metrics
        statuses = self.lifecycle.catalog.statuses()
        for status in ("draft", "testing", "active"):
            metrics.models.labels(status).set(statuses.get(status, 0))
        # The lifecycle counts re-scored contacts; the counter follows it.
        rescored = self.lifecycle.rescored
        metrics.model_rescores.inc(rescored - self._rescored_seen)
        self._rescored_seen = rescored
        return web.Response(
            body=metrics.render(), headers={"Content-Type": CONTENT_TYPE}
        )

    # -- one contact ----------------------------------------------------------

    async def contact(self, request: web.Request) -> web.Response:
        if problem := check_params(request, set()):
            return problem
        contact_id = request.match_info["id"]
        if len(contact_id) > DEFAULT_LIMITS.max_id_length:
            return error(
                400,
                f"contact id: {len(contact_id)} characters; at most "
                f"{DEFAULT_LIMITS.max_id_length}",
                "id",
            )
        partition = routing.partition_for(contact_id, self.settings.partitions)
        if partition not in self.job.partitions:
            return await self._elsewhere(request, partition)

        state = self.job.store.get(contact_id)
        if state is None:
            return error(
                404,
                f"contact {contact_id!r} is unknown: no valid input for it has "
                "been scored",
                "id",
            )
        now = self.now()
        body = {
            "contact_id": contact_id,
            "partition": partition,
            "served_by": str(routing.own_url(self.app)),
            "as_of": format_timestamp(now),
            "models": [_model_view(s, state, now) for s in self.job.engine.models],
        }
        return web.json_response(body)

    async def _elsewhere(self, request: web.Request, partition: int) -> web.Response:
        """Answer from the worker owning `partition`, or say why we cannot."""
        me = routing.own_url(self.app)
        owner = routing.owners(self.app, TABLE).get(partition)
        if request.headers.get(routing.FORWARDED_HEADER) or owner is None:
            return _moving(partition)
        if routing.same_server(owner, me):
            # The group says it is ours but the job has not taken it yet.
            return _moving(partition)
        # The raw path keeps an encoded '/' or '?' inside the id as it came.
        url = URL(str(owner.with_path("")).rstrip("/") + request.raw_path, encoded=True)
        headers = {
            routing.FORWARDED_HEADER: str(me),
            "Accept": "application/json",
            **auth.forward_headers(request),
        }
        try:
            async with (
                ClientSession(
                    timeout=ClientTimeout(total=FORWARD_TIMEOUT_S)
                ) as session,
                session.get(url, headers=headers) as answer,
            ):
                body = await answer.read()
                return web.Response(
                    body=body,
                    status=answer.status,
                    headers={"Content-Type": answer.content_type},
                )
        except (ClientError, TimeoutError) as exc:
            return error(
                502,
                f"partition {partition} belongs to the worker at {owner}, which "
                f"did not answer ({type(exc).__name__}); retry, or ask it directly",
            )


def _moving(partition: int) -> web.Response:
    response = error(
        503,
        f"partition {partition} has no ready owner right now (a rebalance is "
        "under way); retry in a second",
    )
    response.headers["Retry-After"] = "1"
    return response


def _stream_of(status: str) -> str | None:
    return {"active": "live", "testing": "shadow"}.get(status)


def _model_view(scorer: ModelScorer, state: ContactState, now: int) -> dict[str, Any]:
    model = scorer.model
    mark = state.grades.get(model.id)
    evaluation = scorer.evaluate(state, now)
    grade = scorer.grade(evaluation, mark.grade if mark else None)
    return {
        "model_id": model.id,
        "model_version": model.version,
        "status": model.status,
        "grade": grade,
        "fit_score": round(evaluation.fit_score, 4),
        "activity_score": round(evaluation.activity_score, 4),
        "recommended_action": model.action_for(grade),
        "breakdown": evaluation.breakdown(),
        "last_emitted": None
        if mark is None
        else {
            "grade": mark.grade,
            "seq": mark.seq,
            "model_version": mark.version,
            "cause": mark.cause,
        },
    }


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Unknown paths and unexpected failures answer in the API's error shape."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error(exc.status, f"{request.method} {request.path}: {exc.reason}")
    except Exception:
        log.exception("HTTP %s %s failed", request.method, request.path)
        return error(500, "internal error; the worker log has the details")


def install_web(
    app: Any, job: Any, settings: Settings, lifecycle: ModelLifecycle
) -> JobObserver | None:
    """Add the API to the worker's web server; call before the worker starts."""
    if not settings.web_enabled:
        return None
    token = auth.load_token()
    auth.check_bind(settings.web_host, token)
    observer = JobObserver(app, job)
    observer.install()
    api = Api(app, job, settings, lifecycle, observer)
    server = app.web
    # Faust's built-in pages (table browser, router, index) are replaced by
    # ours; the table browser in particular would expose raw records.
    server.blueprints._enabled = []
    server.web_app.middlewares.append(json_errors)
    if token is not None:
        server.web_app.middlewares.append(auth.bearer_auth(token))
    server.web_app.add_routes(api.routes())
    log.info("HTTP API on %s", routing.own_url(app))
    return observer
