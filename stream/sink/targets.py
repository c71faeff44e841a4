"""CRM targets: how a batch of changes becomes a request and how an answer is read."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from stream import jsonutil
from stream.errors import InputError
from stream.sink.coalesce import Change
from stream.sink.settings import SinkSettings

HUBSPOT_BATCH_PATH = "/crm/v3/objects/contacts/batch/update"
USER_AGENT = "scorestream-crm-sink"
ANSWER_LIMIT = 2000
MISSING_PROPERTY = b"PROPERTY_DOESNT_EXIST"

VerdictKind = Literal["ok", "retry", "reject", "fatal"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request; headers stay out of repr as they may carry the token."""

    method: str
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an answer means for the batch that was sent.

    ok: accepted, except the contacts in `rejected` (contact id -> CRM answer);
    retry: send the same batch again later (`retry_after` if the CRM said);
    reject: the CRM refused the whole batch with `answer`;
    fatal: no request can succeed until the setup is fixed; the sink must
    stop, and `detail` says what to fix.
    """

    kind: VerdictKind
    status: int = 0
    rejected: Mapping[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    answer: Any = None
    detail: str = ""


class Target(Protocol):
    name: str

    def batches(self, changes: Sequence[Change]) -> list[list[Change]]: ...

    def build(self, batch: Sequence[Change]) -> Request: ...

    def interpret(self, batch: Sequence[Change], response: Response) -> Verdict: ...


def property_name(template: str, model_id: str) -> str:
    """A CRM property name: HubSpot allows lower-case letters, digits and _."""
    name = template.replace("{model}", model_id).lower()
    return re.sub(r"[^a-z0-9_]", "_", name)


def property_value(value: Any) -> str:
    """HubSpot stores every property value as text; 80.0 is written as 80."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def answer_of(response: Response) -> Any:
    """The CRM's answer, parsed if JSON, else its text cut to a readable size."""
    try:
        return jsonutil.loads(response.body)
    except InputError:
        return response.body[:ANSWER_LIMIT].decode("utf-8", "replace")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds form); None if absent or odd."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        # The HTTP-date form is rare on APIs; backoff covers it.
        return None
    return max(0.0, min(seconds, 3600.0))


def common_verdict(response: Response) -> Verdict | None:
    """The verdicts every target shares; None when the target must look closer."""
    status = response.status
    if status in (401, 403):
        return Verdict(
            "fatal",
            status,
            detail="the CRM refused the credentials. Check the token and that "
            "its app has the scope crm.objects.contacts.write",
        )
    if status == 429:
        after = parse_retry_after(response.headers.get("retry-after"))
        return Verdict("retry", status, retry_after=after)
    if status == 408 or status >= 500:
        return Verdict("retry", status)
    if 400 <= status < 500 or status < 200 or 300 <= status < 400:
        return Verdict("reject", status, answer=answer_of(response))
    return None


class HubSpotTarget:
    """HubSpot's batch update of contact properties, up to 100 contacts a request."""

    name = "hubspot"

    def __init__(self, settings: SinkSettings) -> None:
        self.url = settings.base_url.rstrip("/") + HUBSPOT_BATCH_PATH
        self.batch_size = settings.batch_size
        self.templates = settings.property_templates()
        self._headers = {
            "Authorization": f"Bearer {settings.token}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }

    def batches(self, changes: Sequence[Change]) -> list[list[Change]]:
        # One input per contact: its changes under several models share it,
        # and a contact never spans two requests.
        by_contact: dict[str, list[Change]] = {}
        for change in changes:
            by_contact.setdefault(change.contact_id, []).append(change)
        groups = list(by_contact.values())
        return [
            [c for group in groups[i : i + self.batch_size] for c in group]
            for i in range(0, len(groups), self.batch_size)
        ]

    def properties(self, change: Change) -> dict[str, str]:
        return {
            property_name(template, change.model_id): property_value(
                change.event[field_]
            )
            for field_, template in self.templates.items()
        }

    def build(self, batch: Sequence[Change]) -> Request:
        inputs: dict[str, dict[str, str]] = {}
        for change in batch:
            inputs.setdefault(change.contact_id, {}).update(self.properties(change))
        body = {"inputs": [{"id": cid, "properties": p} for cid, p in inputs.items()]}
        return Request("POST", self.url, jsonutil.dumps(body), self._headers)

    def interpret(self, batch: Sequence[Change], response: Response) -> Verdict:
        if response.status == 400 and MISSING_PROPERTY in response.body:
            # Every contact would be refused alike; stopping keeps the changes
            # on the topic until the properties exist.
            return Verdict(
                "fatal",
                400,
                detail="HubSpot has no property of that name. Create the "
                "properties the sink writes (see docs/crm.md) or change the "
                "property templates",
            )
        common = common_verdict(response)
        if common is not None:
            return common
        if response.status != 207:
            return Verdict("ok", response.status)
        return Verdict(
            "ok", 207, rejected=_multi_status_errors(batch, answer_of(response))
        )


def _multi_status_errors(batch: Sequence[Change], answer: Any) -> dict[str, Any]:
    """Contact id -> error, from a 207 answer: ids named by errors, else missing.

    HubSpot names the failed ids in each error's context; when an error does
    not, every contact absent from the results is taken as failed, so none is
    counted as written without the CRM saying so.
    """
    contacts = {c.contact_id for c in batch}
    if not isinstance(answer, dict):
        return dict.fromkeys(contacts, answer)
    rejected: dict[str, Any] = {}
    unnamed: list[Any] = []
    for error in answer.get("errors") or []:
        context = error.get("context") if isinstance(error, dict) else None
        ids = context.get("ids") if isinstance(context, dict) else None
        named = [str(i) for i in ids or [] if str(i) in contacts]
        for cid in named:
            rejected[cid] = error
        if not named:
            unnamed.append(error)
    if unnamed:
        results = answer.get("results") or []
        written = {str(r.get("id")) for r in results if isinstance(r, dict)}
        for cid in contacts - written - set(rejected):
            rejected[cid] = unnamed[0] if len(unnamed) == 1 else unnamed
    return rejected


class WebhookTarget:
    """POSTs the change events as a JSON list, optionally HMAC-SHA256 signed."""

    name = "webhook"

    def __init__(self, settings: SinkSettings) -> None:
        self.url = settings.webhook_url
        self.batch_size = settings.batch_size
        self.secret = settings.webhook_secret.encode()
        self.signature_header = settings.signature_header

    def batches(self, changes: Sequence[Change]) -> list[list[Change]]:
        items = list(changes)
        return [
            items[i : i + self.batch_size]
            for i in range(0, len(items), self.batch_size)
        ]

    def build(self, batch: Sequence[Change]) -> Request:
        body = jsonutil.dumps([c.event for c in batch])
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if self.secret:
            headers[self.signature_header] = "sha256=" + sign(self.secret, body)
        return Request("POST", self.url, body, headers)

    def interpret(self, batch: Sequence[Change], response: Response) -> Verdict:
        return common_verdict(response) or Verdict("ok", response.status)


def sign(secret: bytes, body: bytes) -> str:
    """Hex HMAC-SHA256 of the body: the receiver recomputes it with its copy."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


class PrintTarget(WebhookTarget):
    """Writes the change events to stdout, one JSON line each, instead of a CRM."""

    name = "print"

    def build(self, batch: Sequence[Change]) -> Request:
        return Request("PRINT", "-", jsonutil.dumps([c.event for c in batch]))


def make_target(settings: SinkSettings) -> Target:
    if settings.target == "hubspot":
        return HubSpotTarget(settings)
    if settings.target == "webhook":
        return WebhookTarget(settings)
    return PrintTarget(settings)
