"""One bounded connection check before a tool or the worker starts using Kafka."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from stream.errors import BrokerError
from stream.kafka.config import MASK, is_secret

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 15.0
# Short metadata requests let an authentication or TLS failure reported in
# between end the wait at once instead of after the whole timeout.
PROBE_S = 1.0

# Where a tool's bootstrap address came from, besides an environment variable.
FROM_OPTION = "--bootstrap"
FROM_LOCAL_BROKER = "local broker"
LIBRDKAFKA_LOGGER = "stream.kafka.librdkafka"


class _DebugLog:
    """Takes librdkafka's log lines, which it would otherwise write raw on
    stderr (hundreds while a broker is away), and keeps them at DEBUG: the
    tools report the failure once, in a sentence, instead."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def log(self, level: int, msg: str, *args: Any) -> None:
        self._logger.debug(msg, *args)


def quiet_client_logs() -> dict[str, Any]:
    """confluent-kafka settings that route librdkafka's own log to DEBUG."""
    return {"logger": _DebugLog(logging.getLogger(LIBRDKAFKA_LOGGER))}


def bootstrap_source(
    bootstrap: str, given: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """Where `bootstrap` came from: FROM_OPTION, the name of the environment
    variable that holds it, or FROM_LOCAL_BROKER.

    Follows the order tools resolve it in; an address found nowhere else can
    only have come from the command line.
    """
    from stream.app.settings import ENV
    from stream.kafka.brokerstate import read_state
    from stream.kafka.config import BOOTSTRAP_ENV, local_broker_dir

    env = os.environ if env is None else env
    if given is not None and given.strip() == bootstrap:
        return FROM_OPTION
    for name in (ENV["bootstrap"], BOOTSTRAP_ENV):
        if env.get(name, "").strip() == bootstrap:
            return name
    state = read_state(local_broker_dir(env))
    if state is not None and state.bootstrap == bootstrap:
        return FROM_LOCAL_BROKER
    return FROM_OPTION


def check_connection(
    config: Mapping[str, str],
    timeout: float = DEFAULT_TIMEOUT_S,
    *,
    source: str | None = None,
) -> int:
    """Returns the number of brokers once the cluster answers a metadata request.

    Raises BrokerError as soon as the brokers reject the credentials or the
    TLS handshake fails, and after `timeout` seconds if nothing answers. The
    message names the address, where it came from (`source`, see
    bootstrap_source; found out when not given), protocol, mechanism and
    user, never a secret.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    errors: list[Any] = []
    # The errors reach us through error_cb and end up, once, in the exception.
    settings: dict[str, Any] = {
        **config,
        "error_cb": errors.append,
        **quiet_client_logs(),
    }
    admin = AdminClient(settings)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            metadata = admin.list_topics(timeout=min(PROBE_S, left))
        except KafkaException as exc:
            errors.append(exc.args[0] if exc.args else exc)
        else:
            if metadata.brokers:
                log.info(
                    "Kafka at %s answered: %d brokers",
                    config.get("bootstrap.servers"),
                    len(metadata.brokers),
                )
                return len(metadata.brokers)
        admin.poll(0)
        fatal = next((e for e in errors if _kind(e) != "network"), None)
        if fatal is not None:
            raise BrokerError(describe_failure(config, fatal))
    raise BrokerError(_no_answer(config, timeout, errors, source))


def _no_answer(
    config: Mapping[str, str], timeout: float, errors: list[Any], source: str | None
) -> str:
    bootstrap = config.get("bootstrap.servers", "")
    if source is None:
        source = bootstrap_source(bootstrap)
    where = f"{_where(config)}, {_origin(source)},"
    unresolved = _unresolved(bootstrap)
    if unresolved:
        names = ", ".join(f"{host} ({reason})" for host, reason in unresolved)
        verb = "names {} do" if len(unresolved) > 1 else "name {} does"
        return (
            f"Kafka at {where} cannot be reached: the host {verb.format(names)} "
            f"not resolve; {_fix(source)}"
        )
    last = _clean(config, _most_telling(errors))
    text = f"Kafka at {where} did not answer within {timeout:.0f}s ({last}); "
    if source == FROM_LOCAL_BROKER:
        return text + _fix(source)
    return (
        text + f"{_fix(source)}, that the brokers run, and that "
        "KAFKA_SECURITY_PROTOCOL matches the listener"
    )


def _origin(source: str) -> str:
    if source == FROM_OPTION:
        return "given with --bootstrap"
    if source == FROM_LOCAL_BROKER:
        return "the local broker `scorestream broker start` left running"
    return f"from {source}"


def _fix(source: str) -> str:
    if source == FROM_LOCAL_BROKER:
        return (
            "check it with `scorestream broker status`, or start it again with "
            "`scorestream broker start`"
        )
    return f"check {source}"


def _unresolved(bootstrap: str) -> list[tuple[str, str]]:
    """(host, reason) for each bootstrap host name the resolver cannot find.

    librdkafka reports only a transport failure for a name that does not
    resolve; asking the resolver ourselves lets the message say so.
    """
    failed: list[tuple[str, str]] = []
    for host in _hosts(bootstrap):
        try:
            socket.getaddrinfo(host, None)
        except socket.gaierror as exc:
            failed.append((host, exc.strerror or str(exc)))
    return failed


def _hosts(bootstrap: str) -> list[str]:
    """The host part of each host:port, without a protocol:// or IPv6 brackets."""
    hosts: list[str] = []
    for entry in bootstrap.split(","):
        entry = entry.strip().rpartition("://")[2]
        if entry.startswith("["):
            host = entry[1:].partition("]")[0]
        else:
            host = entry.rpartition(":")[0] if ":" in entry else entry
        if host and host not in hosts:
            hosts.append(host)
    return hosts


def describe_failure(config: Mapping[str, str], error: Any) -> str:
    """A sentence for an authentication or TLS error, without any secret."""
    reason = _clean(config, error)
    where = _where(config)
    if _kind(error) == "auth":
        mechanism = config.get("sasl.mechanism", "PLAIN").upper()
        user = config.get("sasl.username", "")
        return (
            f"Kafka at {where} rejected SASL {mechanism} authentication for user "
            f"{user!r}: {reason}. Check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD "
            "and KAFKA_SASL_MECHANISM"
        )
    if _kind(error) == "tls":
        ca = config.get("ssl.ca.location", "the system's default CAs")
        return (
            f"TLS with Kafka at {where} failed: {reason}. Check that "
            f"KAFKA_SSL_CA_LOCATION ({ca}) holds the CA that signed the broker "
            "certificate and that the address matches its names"
        )
    return f"Kafka at {where} refused the connection: {reason}"


def _most_telling(errors: list[Any]) -> Any:
    # "all brokers are down" follows every failed attempt; the transport
    # error before it says why, sometimes naming security.protocol.
    from confluent_kafka import KafkaError

    for error in reversed(errors):
        if "security.protocol" in str(error):
            return error
    transport = [
        e
        for e in errors
        if isinstance(e, KafkaError) and e.code() == KafkaError._TRANSPORT
    ]
    # A failed metadata request only says "transport failure"; the broker
    # connection's own error, when librdkafka reported one, says which.
    for error in reversed(transport):
        if not error.str().startswith("Failed to get metadata"):
            return error
    if transport:
        return transport[-1]
    return errors[-1] if errors else "no answer"


def _kind(error: Any) -> str:
    from confluent_kafka import KafkaError

    code = error.code() if isinstance(error, KafkaError) else None
    if code in (
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.UNSUPPORTED_SASL_MECHANISM,
        KafkaError.ILLEGAL_SASL_STATE,
    ):
        return "auth"
    if code == KafkaError._SSL:
        return "tls"
    return "network"


def _where(config: Mapping[str, str]) -> str:
    protocol = config.get("security.protocol", "PLAINTEXT").upper()
    return f"{config.get('bootstrap.servers')} ({protocol})"


def _clean(config: Mapping[str, str], error: Any) -> str:
    from confluent_kafka import KafkaError

    text = error.str() if isinstance(error, KafkaError) else str(error)
    # Client libraries do not echo passwords today; this keeps it that way
    # should one ever quote a setting back in an error.
    for key, value in config.items():
        if is_secret(key) and value:
            text = text.replace(value, MASK)
    return text
