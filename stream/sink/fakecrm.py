"""A fake CRM on 127.0.0.1 for tests and demos: checks, records and misbehaves."""

from __future__ import annotations

import contextlib
import hmac
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import IO, Any

from stream import jsonutil
from stream.errors import InputError
from stream.sink.targets import HUBSPOT_BATCH_PATH, sign

HOST = "127.0.0.1"
WEBHOOK_PATH = "/webhook"
CONTROL_PATH = "/_fake"
MAX_BODY = 10_000_000


@dataclass(frozen=True, slots=True)
class Answer:
    """A planned answer for one request: a status, an optional Retry-After and
    a delay before answering (longer than the client's timeout: a timeout)."""

    status: int = 200
    retry_after: float | None = None
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the fake CRM saw it and answered it."""

    path: str
    status: int
    body: Any
    contacts: tuple[str, ...]
    at: float = field(default_factory=time.monotonic)


class FakeCrm:
    """HubSpot's contact batch update and a webhook, served on a free local port.

    Faults: `plan()` queues answers for the next requests, `reject_ids` are
    refused per contact (a 207 multi-status on the HubSpot path), `delay`
    slows every answer. `state` holds each contact's properties as the CRM
    would store them; `events` the webhook events in arrival order.
    """

    def __init__(
        self,
        *,
        token: str = "",
        webhook_secret: str = "",
        port: int = 0,
        echo: IO[str] | None = None,
    ) -> None:
        self.token = token
        self.webhook_secret = webhook_secret
        self.echo = echo
        self.reject_ids: set[str] = set()
        self.delay = 0.0
        self._port = port
        self._lock = threading.Condition()
        self._plan: deque[Answer] = deque()
        self._requests: list[Received] = []
        self._state: dict[str, dict[str, str]] = {}
        self._events: list[dict[str, Any]] = []
        self._arrived_unanswered = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> FakeCrm:
        handler = type("Handler", (_Handler,), {"crm": self})
        self._server = ThreadingHTTPServer((HOST, self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-crm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeCrm:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake CRM is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base_url + WEBHOOK_PATH

    # -- control and records --------------------------------------------------

    def plan(self, *answers: Answer) -> None:
        with self._lock:
            self._plan.extend(answers)

    def plan_repeat(self, answer: Answer, times: int) -> None:
        self.plan(*([answer] * times))

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    @property
    def state(self) -> dict[str, dict[str, str]]:
        with self._lock:
            return {cid: dict(props) for cid, props in self._state.items()}

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Waits until `count` requests arrived (answered or not yet)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._requests) + self._arrived_unanswered < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def _next_answer(self) -> Answer:
        with self._lock:
            self._arrived_unanswered += 1
            self._lock.notify_all()
            return self._plan.popleft() if self._plan else Answer(delay=self.delay)

    def _record(self, received: Received, apply: Iterable[Any] = ()) -> None:
        with self._lock:
            self._arrived_unanswered -= 1
            self._requests.append(received)
            for item in apply:
                if received.path == WEBHOOK_PATH:
                    self._events.append(item)
                else:
                    self._state.setdefault(item["id"], {}).update(item["properties"])
            self._lock.notify_all()
        if self.echo is not None:
            line = {"path": received.path, "status": received.status}
            if 200 <= received.status < 300:
                line["received"] = list(apply)
            with contextlib.suppress(ValueError, OSError):
                self.echo.write(jsonutil.dumps(line).decode() + "\n")
                self.echo.flush()


class _Handler(BaseHTTPRequestHandler):
    crm: FakeCrm
    server_version = "FakeCRM"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the records and `echo` say what happened

    def do_GET(self) -> None:
        if self.path == CONTROL_PATH + "/state":
            self._reply(200, {"contacts": self.crm.state, "events": self.crm.events})
        else:
            self._reply(404, {"status": "error", "message": "not found"})

    def do_POST(self) -> None:
        raw = self.rfile.read(
            min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        )
        if self.path == CONTROL_PATH + "/plan":
            self._control(raw)
            return
        if self.path not in (HUBSPOT_BATCH_PATH, WEBHOOK_PATH):
            self._reply(404, {"status": "error", "message": f"no route {self.path}"})
            return

        answer = self.crm._next_answer()
        if answer.delay:
            time.sleep(answer.delay)
        try:
            body = jsonutil.loads(raw)
        except InputError:
            body = None
        status, reply, applied, contacts = self._decide(answer, raw, body)

        self.crm._record(Received(self.path, status, body, contacts), applied)
        headers = {}
        if answer.retry_after is not None:
            headers["Retry-After"] = f"{answer.retry_after:g}"
        with contextlib.suppress(OSError):
            self._reply(status, reply, headers)

    def _decide(
        self, answer: Answer, raw: bytes, body: Any
    ) -> tuple[int, Any, list[Any], tuple[str, ...]]:
        problem = self._check(raw, body)
        if problem is not None:
            return problem[0], problem[1], [], ()
        items = body["inputs"] if self.path == HUBSPOT_BATCH_PATH else body
        ids = tuple(str(i.get("id", i.get("contact_id"))) for i in items)
        if answer.status >= 300:
            return answer.status, _error("PLANNED", f"planned {answer.status}"), [], ids
        refused = [i for i in ids if i in self.crm.reject_ids]
        if self.path == WEBHOOK_PATH:
            if refused:
                return 422, _error("REJECTED", "refused contact"), [], ids
            return 200, {"received": len(items)}, list(items), ids
        kept = [i for i in items if i["id"] not in self.crm.reject_ids]
        results = [{"id": i["id"], "properties": i["properties"]} for i in kept]
        if not refused:
            return 200, {"status": "COMPLETE", "results": results}, kept, ids
        error = _error("OBJECT_NOT_FOUND", "contact does not exist")
        error["context"] = {"ids": refused}
        reply = {"status": "COMPLETE", "results": results, "numErrors": len(refused)}
        reply["errors"] = [error]
        return 207, reply, kept, ids

    def _check(self, raw: bytes, body: Any) -> tuple[int, Any] | None:
        """HubSpot's or the webhook's request rules; (status, answer) if broken."""
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return 415, _error("VALIDATION_ERROR", "Content-Type must be JSON")
        if self.path == WEBHOOK_PATH:
            if self.crm.webhook_secret:
                expected = "sha256=" + sign(self.crm.webhook_secret.encode(), raw)
                given = self.headers.get("X-Scorestream-Signature", "")
                if not hmac.compare_digest(given, expected):
                    return 401, _error("INVALID_SIGNATURE", "bad signature")
            if not isinstance(body, list) or not all(
                isinstance(e, dict) and isinstance(e.get("contact_id"), str)
                for e in body
            ):
                return 400, _error("VALIDATION_ERROR", "expected a list of events")
            return None

        if self.crm.token:
            given = self.headers.get("Authorization", "")
            if not hmac.compare_digest(given, f"Bearer {self.crm.token}"):
                return 401, _error("INVALID_AUTHENTICATION", "bad or missing token")
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
            return 400, _error("VALIDATION_ERROR", "inputs: 1 to 100 objects")
        ids = []
        for item in inputs:
            props = item.get("properties") if isinstance(item, dict) else None
            if (
                not isinstance(item.get("id"), str)
                or not item["id"]
                or not isinstance(props, dict)
                or not all(isinstance(v, str) for v in props.values())
            ):
                return 400, _error("VALIDATION_ERROR", "each input: id, properties")
            ids.append(item["id"])
        if len(set(ids)) != len(ids):
            return 400, _error("VALIDATION_ERROR", "duplicate ids in one batch")
        return None

    def _control(self, raw: bytes) -> None:
        try:
            planned = [Answer(**a) for a in jsonutil.loads(raw)]
        except (InputError, TypeError) as exc:
            self._reply(400, _error("VALIDATION_ERROR", str(exc)))
            return
        self.crm.plan(*planned)
        self._reply(200, {"planned": len(planned)})

    def _reply(
        self, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = jsonutil.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _error(category: str, message: str) -> dict[str, Any]:
    return {"status": "error", "category": category, "message": message}
