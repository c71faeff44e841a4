"""The grade endpoints of the HTTP API: the 4x4 matrix and the contacts in a cell.

Each worker counts the contacts of its own partitions. Asked with
`scope=cluster` (the default) it also asks every other worker that owns
partitions for its local answer and adds them up; the answer says which
partitions it covers and whether that is all of them.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from yarl import URL

from stream.app import auth, routing
from stream.app.gradecount import contacts_in, matrix

if TYPE_CHECKING:
    from stream.app.web import Api

PEER_TIMEOUT_S = 5.0
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
SCOPES = ("cluster", "local")
_GRADE = re.compile(r"[A-D][1-4]")


def error(status: int, message: str, parameter: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": {"status": status, "message": message}}
    if parameter is not None:
        body["error"]["parameter"] = parameter
    return web.json_response(body, status=status)


def check_params(request: web.Request, allowed: set[str]) -> web.Response | None:
    """A 400 naming the first query parameter not in `allowed` (typos)."""
    for name in request.query:
        if name not in allowed:
            expected = ", ".join(sorted(allowed)) or "none"
            return error(
                400, f"unknown query parameter {name!r}; expected: {expected}", name
            )
    return None


class GradeViews:
    """GET /grades and GET /grades/{model}/{grade}."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def _scope(self, request: web.Request) -> str | web.Response:
        scope = request.query.get("scope", "cluster")
        if scope not in SCOPES:
            return error(
                400, f"scope: {scope!r}; expected one of {', '.join(SCOPES)}", "scope"
            )
        return scope

    def _model(self, model_id: str | None) -> web.Response | None:
        running = [s.model.id for s in self.api.job.engine.models]
        if model_id is None or model_id == "":
            return error(
                400,
                "query parameter 'model' is required; running models: "
                + ", ".join(running),
                "model",
            )
        if model_id not in running:
            return error(
                404,
                f"model {model_id!r} is not running here; running models: "
                + ", ".join(running),
                "model",
            )
        return None

    async def matrix(self, request: web.Request) -> web.Response:
        if problem := check_params(request, {"model", "scope"}):
            return problem
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        model_id = request.query.get("model")
        if problem := self._model(model_id):
            return problem
        assert model_id is not None
        counts = self.api.observer.counts
        partitions = set(self.api.observer.counted)
        total: Counter[str] = counts.totals(model_id)
        workers = [_worker(routing.own_url(self.api.app), partitions)]
        if scope == "cluster":
            for answer in await self._ask_peers(request, {"model": model_id}):
                workers.append(answer["worker"])
                body = answer.get("body")
                if body is not None:
                    total.update(
                        {g: n for g, n in body["matrix"]["by_grade"].items() if n}
                    )
                    partitions |= set(body["partitions"])
        body = {
            "model_id": model_id,
            "scope": scope,
            **self._coverage(partitions),
            "workers": workers,
            "matrix": matrix(total),
        }
        return web.json_response(body)

    async def contacts(self, request: web.Request) -> web.Response:
        if problem := check_params(request, {"limit", "scope"}):
            return problem
        scope = self._scope(request)
        if isinstance(scope, web.Response):
            return scope
        model_id = request.match_info["model"]
        grade = request.match_info["grade"]
        if not _GRADE.fullmatch(grade):
            return error(400, f"grade: {grade!r}; expected A1 .. D4", "grade")
        if problem := self._model(model_id):
            return problem
        raw = request.query.get("limit", str(DEFAULT_LIMIT))
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            return error(
                400, f"limit: {raw!r}; expected a whole number 1..{MAX_LIMIT}", "limit"
            )
        limit = int(raw)

        job = self.api.job
        partitions = set(self.api.observer.counted)
        found: list[str] = []
        truncated = False
        for contact_id in contacts_in(job.store, partitions, model_id, grade):
            found.append(contact_id)
            if len(found) > limit:
                break
        workers = [_worker(routing.own_url(self.api.app), partitions)]
        if scope == "cluster":
            for answer in await self._ask_peers(request, {"limit": str(limit)}):
                workers.append(answer["worker"])
                body = answer.get("body")
                if body is not None:
                    found.extend(body["contacts"])
                    truncated |= body["truncated"]
                    partitions |= set(body["partitions"])
        truncated |= len(found) > limit
        contacts = sorted(found)[:limit]
        body = {
            "model_id": model_id,
            "grade": grade,
            "scope": scope,
            **self._coverage(partitions),
            "workers": workers,
            "contacts": contacts,
            "truncated": truncated,
        }
        return web.json_response(body)

    def _coverage(self, partitions: set[int]) -> dict[str, Any]:
        return {
            "partitions": sorted(partitions),
            "complete": partitions == set(range(self.api.settings.partitions)),
        }

    async def _ask_peers(
        self, request: web.Request, query: dict[str, str]
    ) -> list[dict[str, Any]]:
        """Each other worker's local answer to the same path."""
        peers = routing.peer_urls(self.api.app, "contacts")
        if not peers:
            return []
        params = {**query, "scope": "local"}
        timeout = ClientTimeout(total=PEER_TIMEOUT_S)
        headers = auth.forward_headers(request)
        async with ClientSession(timeout=timeout) as session:
            return list(
                await asyncio.gather(
                    *(
                        _ask(session, p, request.rel_url.raw_path, params, headers)
                        for p in peers
                    )
                )
            )


async def _ask(
    session: ClientSession,
    peer: Any,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
) -> dict[str, Any]:
    try:
        url = URL(str(peer.with_path("")).rstrip("/") + path, encoded=True)
        async with session.get(url, params=params, headers=headers) as answer:
            if answer.status != 200:
                return {"worker": _worker(peer, set(), f"HTTP {answer.status}")}
            body: dict[str, Any] = await answer.json()
    except (ClientError, TimeoutError, ValueError) as exc:
        return {"worker": _worker(peer, set(), type(exc).__name__)}
    return {"worker": _worker(peer, set(body["partitions"])), "body": body}


def _worker(
    url: Any, partitions: set[int], problem: str | None = None
) -> dict[str, Any]:
    return {"url": str(url), "partitions": sorted(partitions), "error": problem}
