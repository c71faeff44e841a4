"""Kafka client settings from the environment, for confluent-kafka and Faust."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from stream.errors import BrokerError

log = logging.getLogger(__name__)

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP"

# The only environment variables passed to the clients besides the bootstrap.
# Each KAFKA_X_Y becomes the librdkafka setting x.y; anything else is ignored
# so a stray variable cannot change client behaviour unnoticed.
PASSTHROUGH_ENV = (
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CA_LOCATION",
    "KAFKA_SSL_CERTIFICATE_LOCATION",
    "KAFKA_SSL_KEY_LOCATION",
    "KAFKA_SSL_KEY_PASSWORD",
    "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM",
    "KAFKA_CLIENT_ID",
)
SECRET_WORDS = ("password", "secret")
MASK = "***"
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# What both client libraries (librdkafka and aiokafka) can do with a user
# name and password; GSSAPI and OAUTHBEARER need more than these settings.
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
FILE_SETTINGS = {
    "ssl.ca.location": "KAFKA_SSL_CA_LOCATION",
    "ssl.certificate.location": "KAFKA_SSL_CERTIFICATE_LOCATION",
    "ssl.key.location": "KAFKA_SSL_KEY_LOCATION",
}


class ClientConfig(dict[str, str]):
    """confluent-kafka settings whose repr and str mask every secret.

    Still a plain dict for the clients; only printing it is made safe, so a
    config that ends up in a log line or a traceback shows *** instead.
    """

    def __repr__(self) -> str:
        return repr(masked(self))

    __str__ = __repr__


LOCAL_BROKER_DIR_ENV = "SCORESTREAM_BROKER_DIR"


def local_broker_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where `scorestream broker start` keeps its broker: var/broker in the
    source checkout (else in the current folder), or SCORESTREAM_BROKER_DIR."""
    from stream.kafka.jars import repo_root

    env = os.environ if env is None else env
    if env.get(LOCAL_BROKER_DIR_ENV):
        return Path(env[LOCAL_BROKER_DIR_ENV])
    root = repo_root()
    base = root if (root / "pyproject.toml").is_file() else Path.cwd()
    return base / "var" / "broker"


def default_bootstrap(env: Mapping[str, str] | None = None) -> str:
    """The broker to use when none is named: KAFKA_BOOTSTRAP, else the local
    broker that `scorestream broker start` left running, else an error that
    says how to get one."""
    from stream.kafka.brokerstate import read_state

    env = os.environ if env is None else env
    named = env.get(BOOTSTRAP_ENV, "").strip()
    if named:
        return named
    folder = local_broker_dir(env)
    state = read_state(folder)
    if state is not None:
        return state.bootstrap
    raise BrokerError(
        f"no Kafka broker: set {BOOTSTRAP_ENV}=host:port, pass --bootstrap, or "
        f"start the local one with `scorestream broker start` (looked for a "
        f"running broker in {folder})"
    )


def env_to_setting(name: str) -> str:
    """KAFKA_SASL_USERNAME -> sasl.username."""
    return name.removeprefix("KAFKA_").lower().replace("_", ".")


def kafka_client_config(
    bootstrap: str | None = None, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """confluent-kafka settings: the bootstrap plus security settings.

    `bootstrap` is used when given (e.g. a local broker); otherwise
    KAFKA_BOOTSTRAP must be set. The security variables describe the cluster
    KAFKA_BOOTSTRAP names, so they apply only when talking to that cluster.
    """
    env = os.environ if env is None else env
    env_bootstrap = env.get(BOOTSTRAP_ENV, "").strip()
    target = bootstrap or env_bootstrap
    if not target:
        raise BrokerError(
            f"no Kafka bootstrap address: set {BOOTSTRAP_ENV}=host:port, or run "
            "`scorestream broker start` for a local broker"
        )
    config = ClientConfig({"bootstrap.servers": target})
    if env_bootstrap and target == env_bootstrap:
        for name in PASSTHROUGH_ENV:
            value = env.get(name, "").strip()
            if value:
                config[env_to_setting(name)] = value
        check_security_settings(config)
    elif any(env.get(name) for name in PASSTHROUGH_ENV):
        _warn_ignored(target)
    return config


def check_security_settings(config: Mapping[str, str]) -> None:
    """Raises BrokerError, naming the variable to fix, for an unusable setup.

    Checked before any connection so that a typo fails at start-up with a
    sentence, rather than as a connection that never authenticates.
    """
    protocol = config.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in PROTOCOLS:
        raise BrokerError(
            f"KAFKA_SECURITY_PROTOCOL={protocol!r} is not one of {PROTOCOLS}"
        )
    sasl = [k for k in config if k.startswith("sasl.")]
    if protocol.startswith("SASL"):
        mechanism = config.get("sasl.mechanism", "PLAIN").upper()
        if mechanism not in MECHANISMS:
            raise BrokerError(
                f"KAFKA_SASL_MECHANISM={mechanism!r} is not supported; use one "
                f"of {MECHANISMS}"
            )
        missing = [
            f"KAFKA_SASL_{key.upper()}"
            for key in ("username", "password")
            if not config.get(f"sasl.{key}")
        ]
        if missing:
            raise BrokerError(
                f"KAFKA_SECURITY_PROTOCOL={protocol} needs {' and '.join(missing)}"
            )
    elif sasl:
        raise BrokerError(
            f"SASL settings are set but KAFKA_SECURITY_PROTOCOL is {protocol}, "
            "so they would be ignored; set it to SASL_SSL (or SASL_PLAINTEXT)"
        )
    for key, name in FILE_SETTINGS.items():
        path = config.get(key)
        if path and not Path(path).is_file():
            raise BrokerError(f"{name}={path}: no such file")
    if bool(config.get("ssl.certificate.location")) != bool(
        config.get("ssl.key.location")
    ):
        raise BrokerError(
            "a client certificate needs its key: set both "
            "KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION, or neither"
        )


@functools.cache
def _warn_ignored(target: str) -> None:
    log.warning(
        "KAFKA_* security settings are ignored for %s: they apply only to the "
        "cluster %s names",
        target,
        BOOTSTRAP_ENV,
    )


def is_secret(key: str) -> bool:
    return any(word in key.lower() for word in SECRET_WORDS)


def masked(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy fit for logs: every password or secret replaced by ***."""
    return {k: (MASK if is_secret(k) and v else v) for k, v in config.items()}


def aiokafka_kwargs(config: Mapping[str, str]) -> dict[str, Any]:
    """The same settings as aiokafka keyword arguments."""
    kwargs: dict[str, Any] = {"bootstrap_servers": config["bootstrap.servers"]}
    protocol = config.get("security.protocol", "PLAINTEXT").upper()
    kwargs["security_protocol"] = protocol
    if protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = config.get("sasl.mechanism", "PLAIN").upper()
        kwargs["sasl_plain_username"] = config.get("sasl.username")
        kwargs["sasl_plain_password"] = config.get("sasl.password")
    if protocol.endswith("SSL"):
        kwargs["ssl_context"] = _ssl_context(config)
    if "client.id" in config:
        kwargs["client_id"] = config["client.id"]
    return kwargs


def faust_broker_settings(config: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`broker` and `broker_credentials` keyword arguments for faust.App.

    `config` comes from kafka_client_config; without it, from the environment.
    """
    import faust

    if config is None:
        config = kafka_client_config()

    servers = [s.strip() for s in config["bootstrap.servers"].split(",") if s.strip()]
    settings: dict[str, Any] = {"broker": [f"kafka://{s}" for s in servers]}
    protocol = config.get("security.protocol", "PLAINTEXT").upper()
    ssl_context = _ssl_context(config) if protocol.endswith("SSL") else None
    if protocol.startswith("SASL"):
        settings["broker_credentials"] = faust.SASLCredentials(
            username=config.get("sasl.username"),
            password=config.get("sasl.password"),
            mechanism=config.get("sasl.mechanism", "PLAIN").upper(),
            ssl_context=ssl_context,
        )
    elif ssl_context is not None:
        settings["broker_credentials"] = faust.SSLCredentials(ssl_context)
    return settings


def _ssl_context(config: Mapping[str, str]) -> Any:
    from aiokafka.helpers import create_ssl_context

    context = create_ssl_context(
        cafile=config.get("ssl.ca.location"),
        certfile=config.get("ssl.certificate.location"),
        keyfile=config.get("ssl.key.location"),
        password=config.get("ssl.key.password"),
    )
    if config.get("ssl.endpoint.identification.algorithm", "https").lower() == "none":
        context.check_hostname = False
    return context


@contextlib.contextmanager
def ensure_broker(data_dir: str | os.PathLike[str]) -> Iterator[str]:
    """Yields a bootstrap: KAFKA_BOOTSTRAP if set, else a LocalBroker's own."""
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external:
        log.info("using the Kafka broker at %s (%s)", external, BOOTSTRAP_ENV)
        yield external
        return

    from stream.kafka.broker import LocalBroker

    with LocalBroker(Path(data_dir)) as broker:
        yield broker.bootstrap
