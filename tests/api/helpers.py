"""Talking to a worker's HTTP API in tests, and checking answers against the schema."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from functools import cache
from typing import Any

import jsonschema

from stream.app.process import WorkerProcess
from tests.app.helpers import REPO

OPENAPI = REPO / "schemas" / "openapi.json"


class Answer:
    """Status, headers and body of one HTTP answer."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def get(base: str, path: str, timeout: float = 10.0) -> Answer:
    request = urllib.request.Request(base + path, headers={"Accept": "*/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), exc.read())


def wait_ready(base: str, worker: WorkerProcess, timeout: float = 90.0) -> Any:
    """Poll /ready until it says 200; the worker's log tail if it never does."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if not worker.running():
            raise AssertionError(f"worker exited:\n{worker.log_tail()}")
        try:
            answer = get(base, "/ready", timeout=2.0)
            last = answer.status, answer.body
            if answer.status == 200:
                return answer.json()
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise AssertionError(f"not ready after {timeout} s ({last}):\n{worker.log_tail()}")


@cache
def openapi() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(OPENAPI.read_text())
    return doc


def check(component: str, body: Any) -> None:
    """Validate `body` against components/schemas/`component` of the OpenAPI file."""
    schema = {**openapi(), "$ref": f"#/components/schemas/{component}"}
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(body)


def check_answer(answer: Answer, path: str, status: int) -> Any:
    """The JSON body of `answer`, validated against the schema the file gives
    for `path` (an OpenAPI path template) and `status`."""
    assert answer.status == status, (answer.status, answer.body[:500])
    spec = openapi()["paths"][path]["get"]["responses"][str(status)]
    content = spec["content"]
    ctype = answer.headers.get("Content-Type", "").split(";")[0]
    assert ctype in content, (ctype, list(content))
    body = answer.json()
    ref = content[ctype]["schema"]["$ref"].rsplit("/", 1)[1]
    check(ref, body)
    return body


def known_input(contacts: int = 24, seed: int = 7) -> list[dict[str, Any]]:
    """A small replay input: upsell properties and events on one day, no boundary."""
    rng = random.Random(seed)
    day = 1431820800000  # 2015-05-17T00:00:00Z
    records: list[dict[str, Any]] = []
    for n in range(contacts):
        contact = f"c{n:02d}"
        t = day + n * 60_000
        props: dict[str, Any] = {"Last NPS Score": rng.randint(0, 10)}
        if rng.random() < 0.8:
            props["# Of Support Cases"] = rng.randint(0, 10)
        records.append(
            {
                "type": "property_change",
                "contact_id": contact,
                "timestamp": t,
                "properties": props,
            }
        )
        for k in range(rng.randint(0, 5)):
            records.append(
                {
                    "type": "page_visit",
                    "event_id": f"{contact}-v{k}",
                    "contact_id": contact,
                    "timestamp": t + 1000 * (k + 1),
                    "url": f"https://example.com/support/{k}",
                }
            )
        for k in range(rng.randint(0, 5)):
            records.append(
                {
                    "type": "conversion",
                    "event_id": f"{contact}-w{k}",
                    "contact_id": contact,
                    "timestamp": t + 2000 * (k + 1),
                    "name": rng.choice(["Webinar Registration", "1"]),
                }
            )
    return records
