"""One bounded connection check before a tool or the worker starts using Kafka."""

from __future__ import annotations

import logging
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


def check_connection(
    config: Mapping[str, str], timeout: float = DEFAULT_TIMEOUT_S
) -> int:
    """Returns the number of brokers once the cluster answers a metadata request.

    Raises BrokerError as soon as the brokers reject the credentials or the
    TLS handshake fails, and after `timeout` seconds if nothing answers. The
    message names the address, protocol, mechanism and user, never a secret.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    errors: list[Any] = []
    # librdkafka would print each failed attempt on stderr; the errors reach
    # us through error_cb and end up, once, in the exception instead.
    settings: dict[str, Any] = {**config, "error_cb": errors.append, "log_level": 0}
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
    last = _most_telling(errors)
    raise BrokerError(
        f"Kafka at {_where(config)} did not answer within {timeout:.0f}s "
        f"({_clean(config, last)}); check KAFKA_BOOTSTRAP, that the brokers run, "
        "and that KAFKA_SECURITY_PROTOCOL matches the listener"
    )


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
    for error in reversed(errors):
        if isinstance(error, KafkaError) and error.code() == KafkaError._TRANSPORT:
            return error
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
