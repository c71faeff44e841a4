"""The CRM sink's settings: one frozen object, each field with an env-var twin."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from stream.envsettings import settings_values
from stream.errors import BrokerError, SinkError
from stream.kafka.config import default_bootstrap
from stream.kafka.topics import DEFAULT_PREFIX

TargetKind = Literal["hubspot", "webhook", "print"]
TARGETS: tuple[TargetKind, ...] = ("hubspot", "webhook", "print")

HUBSPOT_BASE_URL = "https://api.hubapi.com"
HUBSPOT_MAX_BATCH = 100
MASK = "***"

# Field name -> environment variable. KAFKA_BOOTSTRAP is the fallback for the
# bootstrap so that one variable can point every tool at a broker.
ENV: dict[str, str] = {
    "bootstrap": "SCORESTREAM_BOOTSTRAP",
    "topic_prefix": "SCORESTREAM_TOPIC_PREFIX",
    "group_id": "SCORESTREAM_CRM_GROUP_ID",
    "instance_id": "SCORESTREAM_CRM_INSTANCE_ID",
    "session_timeout_ms": "SCORESTREAM_CRM_SESSION_TIMEOUT_MS",
    "target": "SCORESTREAM_CRM_TARGET",
    "base_url": "SCORESTREAM_CRM_BASE_URL",
    "webhook_url": "SCORESTREAM_CRM_WEBHOOK_URL",
    "token": "SCORESTREAM_CRM_TOKEN",
    "webhook_secret": "SCORESTREAM_CRM_WEBHOOK_SECRET",
    "signature_header": "SCORESTREAM_CRM_SIGNATURE_HEADER",
    "grade_property": "SCORESTREAM_CRM_GRADE_PROPERTY",
    "fit_score_property": "SCORESTREAM_CRM_FIT_SCORE_PROPERTY",
    "activity_score_property": "SCORESTREAM_CRM_ACTIVITY_SCORE_PROPERTY",
    "action_property": "SCORESTREAM_CRM_ACTION_PROPERTY",
    "changed_at_property": "SCORESTREAM_CRM_CHANGED_AT_PROPERTY",
    "coalesce_window_s": "SCORESTREAM_CRM_COALESCE_WINDOW_S",
    "max_pending": "SCORESTREAM_CRM_MAX_PENDING",
    "batch_size": "SCORESTREAM_CRM_BATCH_SIZE",
    "rate_requests": "SCORESTREAM_CRM_RATE_REQUESTS",
    "rate_period_s": "SCORESTREAM_CRM_RATE_PERIOD_S",
    "request_timeout_s": "SCORESTREAM_CRM_REQUEST_TIMEOUT_S",
    "backoff_base_s": "SCORESTREAM_CRM_BACKOFF_BASE_S",
    "backoff_max_s": "SCORESTREAM_CRM_BACKOFF_MAX_S",
    "backoff_attempts": "SCORESTREAM_CRM_BACKOFF_ATTEMPTS",
    "seen_capacity": "SCORESTREAM_CRM_SEEN_CAPACITY",
    "summary_every_s": "SCORESTREAM_CRM_SUMMARY_EVERY_S",
    "dry_run": "SCORESTREAM_CRM_DRY_RUN",
}
SECRET_FIELDS = frozenset({"token", "webhook_secret"})

HELP: dict[str, str] = {
    "bootstrap": "Kafka bootstrap servers, host:port[,host:port]",
    "topic_prefix": "prefix of every topic name",
    "group_id": "consumer group of the sink (default: PREFIX + 'crm-sink')",
    "instance_id": "static group member id: a restarted sink takes its "
    "partitions back at once instead of after the session timeout",
    "session_timeout_ms": "consumer session timeout in milliseconds",
    "target": "where grades go: 'hubspot', 'webhook' or 'print' (stdout)",
    "base_url": "HubSpot API base URL",
    "webhook_url": "URL the webhook target POSTs the change events to",
    "token": "HubSpot private-app token, sent as a Bearer token (never shown)",
    "webhook_secret": "key of the HMAC-SHA256 body signature (never shown)",
    "signature_header": "header carrying the webhook signature",
    "grade_property": "CRM property of the grade; {model} is the model id",
    "fit_score_property": "CRM property of the fit score ('' to leave out)",
    "activity_score_property": "CRM property of the activity score ('' to leave out)",
    "action_property": "CRM property of the recommended action ('' to leave out)",
    "changed_at_property": "CRM property of the change time ('' to leave out)",
    "coalesce_window_s": "seconds to gather changes; only the newest change "
    "per contact and model within a window is sent",
    "max_pending": "contact-model pairs gathered at most before an early send",
    "batch_size": "contacts (hubspot) or events (webhook) per request, 1..100",
    "rate_requests": "requests allowed per rate period (token bucket)",
    "rate_period_s": "length of the rate period in seconds",
    "request_timeout_s": "seconds to wait for one CRM answer",
    "backoff_base_s": "first retry delay after a 5xx or network error",
    "backoff_max_s": "longest retry delay; retries go on at this pace forever",
    "backoff_attempts": "retries after which an outage is reported as an error",
    "seen_capacity": "contact-model pairs whose last sent seq is remembered",
    "summary_every_s": "seconds between one-line INFO summaries",
    "dry_run": "print the requests instead of sending them; commit nothing",
}

_FLOATS = {
    "coalesce_window_s",
    "rate_period_s",
    "request_timeout_s",
    "backoff_base_s",
    "backoff_max_s",
    "summary_every_s",
}
_INTS = {
    "session_timeout_ms",
    "max_pending",
    "batch_size",
    "rate_requests",
    "backoff_attempts",
    "seen_capacity",
}
_BOOLS = {"dry_run"}
_PROPERTY_FIELDS = (
    "grade_property",
    "fit_score_property",
    "activity_score_property",
    "action_property",
    "changed_at_property",
)


@dataclass(frozen=True, slots=True)
class SinkSettings:
    """Everything `scorestream sink crm` reads from its environment or flags.

    The defaults suit HubSpot: 100 contacts per request and 100 requests per
    10 seconds, the burst limit of a private app on the smallest plans.
    """

    bootstrap: str = ""
    topic_prefix: str = DEFAULT_PREFIX
    group_id: str = ""
    instance_id: str = ""
    session_timeout_ms: int = 45_000
    target: TargetKind = "hubspot"
    base_url: str = HUBSPOT_BASE_URL
    webhook_url: str = ""
    token: str = ""
    webhook_secret: str = ""
    signature_header: str = "X-Scorestream-Signature"
    grade_property: str = "{model}_grade"
    fit_score_property: str = "{model}_fit_score"
    activity_score_property: str = "{model}_activity_score"
    action_property: str = "{model}_action"
    changed_at_property: str = "{model}_changed_at"
    coalesce_window_s: float = 1.0
    max_pending: int = 10_000
    batch_size: int = HUBSPOT_MAX_BATCH
    rate_requests: int = 100
    rate_period_s: float = 10.0
    request_timeout_s: float = 10.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    backoff_attempts: int = 10
    seen_capacity: int = 500_000
    summary_every_s: float = 30.0
    dry_run: bool = False

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise SinkError(
                "invalid CRM sink settings: "
                + "; ".join(problems)
                + ". Fix the flag or its environment variable "
                "(`scorestream sink crm --help` lists both)."
            )

    def _problems(self) -> list[str]:
        problems: list[str] = []
        if self.target not in TARGETS:
            problems.append(f"target: {self.target!r}; expected one of {TARGETS}")
        if self.target == "hubspot" and not self.dry_run:
            if not self.token:
                problems.append(f"token: not set; export {ENV['token']}")
            if not self.base_url.startswith(("http://", "https://")):
                problems.append(f"base_url: {self.base_url!r}; expected an http(s) URL")
        if (
            self.target == "webhook"
            and not self.dry_run
            and not self.webhook_url.startswith(("http://", "https://"))
        ):
            problems.append(
                f"webhook_url: {self.webhook_url!r}; expected an http(s) URL"
            )
        if not self.grade_property:
            problems.append("grade_property: empty; the grade must be written")
        for name in _PROPERTY_FIELDS:
            template = getattr(self, name)
            if template and "{model}" not in template:
                problems.append(f"{name}: {template!r} lacks the {{model}} field")
        if not 1 <= self.batch_size <= HUBSPOT_MAX_BATCH:
            problems.append(f"batch_size: {self.batch_size}; expected 1..100")
        if self.rate_requests < 1 or self.rate_period_s <= 0:
            problems.append("rate_requests and rate_period_s must be positive")
        if self.coalesce_window_s < 0:
            problems.append(f"coalesce_window_s: {self.coalesce_window_s}; >= 0")
        if not 0 < self.backoff_base_s <= self.backoff_max_s:
            problems.append("backoff: need 0 < backoff_base_s <= backoff_max_s")
        for name in ("max_pending", "backoff_attempts", "seen_capacity"):
            if getattr(self, name) < 1:
                problems.append(f"{name}: {getattr(self, name)}; must be >= 1")
        if self.request_timeout_s <= 0 or self.summary_every_s <= 0:
            problems.append("request_timeout_s and summary_every_s must be > 0")
        if self.instance_id and not re.fullmatch(r"[A-Za-z0-9._-]+", self.instance_id):
            problems.append(f"instance_id: {self.instance_id!r}; letters, digits, ._-")
        return problems

    @property
    def consumer_group(self) -> str:
        return self.group_id or f"{self.topic_prefix}crm-sink"

    def property_templates(self) -> dict[str, str]:
        """Change field -> property name template, for the fields written."""
        pairs = {
            "grade": self.grade_property,
            "fit_score": self.fit_score_property,
            "activity_score": self.activity_score_property,
            "recommended_action": self.action_property,
            "as_of": self.changed_at_property,
        }
        return {field: template for field, template in pairs.items() if template}

    def public(self) -> dict[str, Any]:
        """The settings as plain values with every secret masked."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = MASK
            elif f.name in ("webhook_url", "base_url"):
                value = mask_url(value)
            out[f.name] = value
        return out

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v!r}" for k, v in self.public().items())
        return f"SinkSettings({parts})"

    __str__ = __repr__

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> SinkSettings:
        """Defaults, then environment variables, then explicit `overrides`."""
        env = os.environ if environ is None else environ
        values = settings_values(
            env, ENV, _convert, overrides, keep_blank=_PROPERTY_FIELDS
        )
        if "bootstrap" not in values:
            # The broker `scorestream broker start` left running, if any.
            with contextlib.suppress(BrokerError):
                values["bootstrap"] = default_bootstrap(env)
        return cls(**values)


def mask_url(url: str) -> str:
    """Hides user:password@ and the query: webhook URLs often carry a key there."""
    url = re.sub(r"(?<=://)[^/@\s]+@", MASK + "@", url)
    return re.sub(r"\?.*$", "?" + MASK, url)


def _convert(name: str, raw: str, var: str) -> Any:
    try:
        if name in _FLOATS:
            return float(raw)
        if name in _INTS:
            return int(raw)
    except ValueError:
        raise SinkError(
            f"invalid CRM sink settings: {var}={raw!r} is not a number"
        ) from None
    if name in _BOOLS:
        return raw.lower() in ("1", "true", "yes", "on")
    return raw
