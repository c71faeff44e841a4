"""The stream worker's settings: one frozen object, each field with an env var."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from stream.decode import DEFAULT_LIMITS, Limits
from stream.envsettings import BOOTSTRAP_FALLBACK_ENV, settings_values
from stream.kafka.topics import DEFAULT_PREFIX
from stream.urlprivacy import MIN_KEY_LENGTH, URL_QUERY_MODES, UrlQuery

Clock = Literal["live", "event"]
Guarantee = Literal["at_least_once", "exactly_once"]

CLOCKS: tuple[Clock, ...] = ("live", "event")
GUARANTEES: tuple[Guarantee, ...] = ("at_least_once", "exactly_once")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Field name -> environment variable. KAFKA_BOOTSTRAP is the fallback for the
# bootstrap servers so that one variable can point every tool at a broker.
ENV: dict[str, str] = {
    "bootstrap": "SCORESTREAM_BOOTSTRAP",
    "topic_prefix": "SCORESTREAM_TOPIC_PREFIX",
    "models": "SCORESTREAM_MODELS",
    "data_dir": "SCORESTREAM_DATA_DIR",
    "partitions": "SCORESTREAM_PARTITIONS",
    "clock": "SCORESTREAM_CLOCK",
    "web_host": "SCORESTREAM_WEB_HOST",
    "web_port": "SCORESTREAM_WEB_PORT",
    "log_level": "SCORESTREAM_LOG_LEVEL",
    "app_id": "SCORESTREAM_APP_ID",
    "processing_guarantee": "SCORESTREAM_PROCESSING_GUARANTEE",
    "max_message_bytes": "SCORESTREAM_MAX_MESSAGE_BYTES",
    "max_properties": "SCORESTREAM_MAX_PROPERTIES",
    "max_url_length": "SCORESTREAM_MAX_URL_LENGTH",
    "max_id_length": "SCORESTREAM_MAX_ID_LENGTH",
    "max_property_name_length": "SCORESTREAM_MAX_PROPERTY_NAME_LENGTH",
    "regex_timeout_ms": "SCORESTREAM_REGEX_TIMEOUT_MS",
    "url_query": "SCORESTREAM_URL_QUERY",
    "url_query_key": "SCORESTREAM_URL_QUERY_KEY",
}
# Read from the environment only: a command-line option would show the
# value to every user of the machine (`ps`), and --help must not list it.
SECRET_FIELDS = ("url_query_key",)
# Where --help says the broker comes from when no option or variable names one.
BOOTSTRAP_SOURCES = (
    f"env {ENV['bootstrap']}, else {BOOTSTRAP_FALLBACK_ENV}, else the local "
    "broker `scorestream broker start` left running"
)

HELP: dict[str, str] = {
    "bootstrap": "Kafka bootstrap servers, host:port[,host:port]",
    "topic_prefix": "prefix of every topic name (isolates test runs and tenants)",
    "models": "folder of model files (.yaml, .yml, .json) to run",
    "data_dir": "folder for the worker's RocksDB state (created if missing)",
    "partitions": "partitions of the input topics and of the state table",
    "clock": "'live': now is the wall clock; 'event': now is the latest "
    "event time seen (replays and backfills)",
    "web_host": "bind address of the worker's status web server",
    "web_port": "port of the status web server; 0 turns it off",
    "log_level": "log verbosity",
    "app_id": "name of this job; with the topic prefix in front, its Kafka "
    "consumer group and the prefix of its state topic",
    "processing_guarantee": "'at_least_once' (the only one supported so far)",
    "max_message_bytes": "larger input messages are dead-lettered unread",
    "max_properties": "more properties in one message are dead-lettered",
    "max_url_length": "longer urls are dead-lettered",
    "max_id_length": "longer contact or event ids are dead-lettered (id_too_long)",
    "max_property_name_length": "longer property names are dead-lettered "
    "(bad_property_name)",
    "regex_timeout_ms": "time limit of one regex rule on one event; an event "
    "that exceeds it is dead-lettered (regex_timeout)",
    "url_query": "query strings and fragments of input urls: 'keep' them, "
    "'hash' them (HMAC-SHA-256 under SCORESTREAM_URL_QUERY_KEY) or 'drop' them, "
    "before any rule sees them",
    "url_query_key": "secret key of url_query=hash, at least "
    f"{MIN_KEY_LENGTH} characters, the same on every worker",
}

# Whole-number settings, checked as such from the environment.
INT_FIELDS = (
    "partitions",
    "web_port",
    "max_message_bytes",
    "max_properties",
    "max_url_length",
    "max_id_length",
    "max_property_name_length",
    "regex_timeout_ms",
)
# Upper bounds of whole-number settings that have one. Ids are Kafka keys
# and RocksDB keys, written with every record and score change; names are
# stored with every value. Longer ones are a producer bug, not data.
INT_MAXIMUMS = {"max_id_length": 4096, "max_property_name_length": 4096}

# user:password@ inside a bootstrap URL (SASL setups sometimes carry one).
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@|^[^/@\s:]+:[^/@\s]+@")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the worker reads from its environment or command line."""

    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = DEFAULT_PREFIX
    models: Path = Path("models")
    data_dir: Path = Path("var/worker")
    partitions: int = 4
    clock: Clock = "live"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    log_level: str = "INFO"
    app_id: str = "worker"
    processing_guarantee: Guarantee = "at_least_once"
    max_message_bytes: int = DEFAULT_LIMITS.max_message_bytes
    max_properties: int = DEFAULT_LIMITS.max_properties
    max_url_length: int = DEFAULT_LIMITS.max_url_length
    max_id_length: int = DEFAULT_LIMITS.max_id_length
    max_property_name_length: int = DEFAULT_LIMITS.max_property_name_length
    regex_timeout_ms: int = 50
    url_query: UrlQuery = "keep"
    url_query_key: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not self.bootstrap.strip():
            problems.append("bootstrap: empty; give host:port of a Kafka broker")
        if self.partitions < 1:
            problems.append(f"partitions: {self.partitions}; must be at least 1")
        for name in INT_FIELDS[2:]:
            if getattr(self, name) < 1:
                problems.append(f"{name}: {getattr(self, name)}; must be at least 1")
        for name, most in INT_MAXIMUMS.items():
            if getattr(self, name) > most:
                problems.append(f"{name}: {getattr(self, name)}; at most {most}")
        problems += self._url_query_problems()
        if self.clock not in CLOCKS:
            problems.append(f"clock: {self.clock!r}; expected one of {CLOCKS}")
        if not 0 <= self.web_port <= 65535:
            problems.append(f"web_port: {self.web_port}; expected 0..65535")
        if self.log_level.upper() not in LOG_LEVELS:
            problems.append(
                f"log_level: {self.log_level!r}; expected one of {LOG_LEVELS}"
            )
        if not re.fullmatch(r"[A-Za-z0-9._-]+", self.app_id):
            problems.append(
                f"app_id: {self.app_id!r}; use letters, digits, '.', '_' or '-'"
            )
        if self.processing_guarantee == "exactly_once":
            problems.append(
                "processing_guarantee: 'exactly_once' is not supported yet (the "
                "worker publishes whole batches outside Faust's per-event "
                "transactions); use 'at_least_once': consumers drop repeated "
                "changes by (contact_id, model_id, seq)"
            )
        elif self.processing_guarantee not in GUARANTEES:
            problems.append(
                f"processing_guarantee: {self.processing_guarantee!r}; "
                f"expected one of {GUARANTEES}"
            )
        if problems:
            raise ValueError("invalid worker settings: " + "; ".join(problems))

    def _url_query_problems(self) -> list[str]:
        # Never the key itself in a message: it ends up in logs.
        if self.url_query not in URL_QUERY_MODES:
            return [f"url_query: {self.url_query!r}; expected one of {URL_QUERY_MODES}"]
        if self.url_query != "hash":
            return []
        var = ENV["url_query_key"]
        if not self.url_query_key:
            return [
                f"url_query: 'hash' needs a secret key; set {var} to at least "
                f"{MIN_KEY_LENGTH} random characters (e.g. `openssl rand -hex 24`), "
                "the same on every worker"
            ]
        if len(self.url_query_key) < MIN_KEY_LENGTH:
            return [
                f"url_query_key: {len(self.url_query_key)} characters; use at "
                f"least {MIN_KEY_LENGTH} random characters in {var}"
            ]
        return []

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v!r}" for k, v in self.public().items())
        return f"Settings({parts})"

    def public(self) -> dict[str, Any]:
        """The settings as plain values, with credentials masked."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "bootstrap":
                value = mask_credentials(value)
            elif f.name in SECRET_FIELDS and value:
                value = "***"
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out

    @property
    def web_enabled(self) -> bool:
        return self.web_port != 0

    @property
    def limits(self) -> Limits:
        """The input limits the decoder enforces."""
        return replace(
            DEFAULT_LIMITS,
            max_message_bytes=self.max_message_bytes,
            max_properties=self.max_properties,
            max_url_length=self.max_url_length,
            max_id_length=self.max_id_length,
            max_property_name_length=self.max_property_name_length,
            url_query=self.url_query,
            url_query_key=self.url_query_key.encode(),
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        """Defaults, then environment variables, then explicit `overrides`."""
        env = os.environ if environ is None else environ
        values = settings_values(env, ENV, _convert, overrides)
        return replace(cls(), **values)


def resolve_bootstrap(
    given: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The broker a tool should use: `given`, else SCORESTREAM_BOOTSTRAP, else
    KAFKA_BOOTSTRAP or the local broker (BrokerError saying how to get one)."""
    from stream.kafka.config import default_bootstrap

    env = os.environ if environ is None else environ
    for value in (given, env.get(ENV["bootstrap"])):
        if value is not None and value.strip():
            return value.strip()
    return default_bootstrap(env)


def mask_credentials(text: str) -> str:
    """Hide a user:password@ part of a connection string."""
    return _CREDENTIALS.sub("***@", text)


def _convert(name: str, raw: str, var: str) -> Any:
    if name in ("models", "data_dir"):
        return Path(raw)
    if name in INT_FIELDS:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(
                f"invalid worker settings: {var}={raw!r} is not a whole number"
            ) from None
    if name == "log_level":
        return raw.upper()
    if name == "url_query":
        return raw.lower()
    return raw
