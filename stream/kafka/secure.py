"""The local broker's SASL_SSL listener: its users, server settings and client env."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stream.errors import BrokerError
from stream.kafka.tls import BrokerTls

log = logging.getLogger(__name__)

LISTENER = "SASL_SSL"
PLAIN = "PLAIN"
SCRAM = "SCRAM-SHA-512"
MECHANISMS = (PLAIN, SCRAM)
SCRAM_ITERATIONS = 8192
# The broker logs in to itself with this user when SASL_SSL is its only
# listener; its password is new at every start.
BROKER_USER = "scorestream-broker"

# Kept to characters that need no quoting in a JAAS line, a properties file
# or the storage tool's --add-scram syntax, so no escaping bug can turn a
# password into a different setting.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PASSWORD = re.compile(r"[A-Za-z0-9._~-]{8,128}")


@dataclass(frozen=True)
class SaslUser:
    """A user of the secure listener; it may log in with PLAIN or SCRAM-SHA-512."""

    name: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise BrokerError(
                f"SASL user name {self.name!r} is not allowed: use 1-64 letters, "
                "digits, '.', '_' or '-', starting with a letter or digit"
            )
        if not _PASSWORD.fullmatch(self.password):
            raise BrokerError(
                f"the password of SASL user {self.name!r} is not allowed: use 8-128 "
                "letters, digits, '.', '_', '~' or '-'"
            )

    @classmethod
    def generate(cls, name: str) -> SaslUser:
        """A user with a random password."""
        return cls(name, secrets.token_urlsafe(18))


@dataclass(frozen=True)
class SecureListener:
    """Asks LocalBroker for a SASL_SSL listener with these users.

    `plaintext` keeps the PLAINTEXT listener as well; without it the broker
    talks to itself over SASL_SSL too. The controller listener stays
    PLAINTEXT on 127.0.0.1 either way.
    """

    users: tuple[SaslUser, ...]
    plaintext: bool = True
    port: int | None = None

    def __post_init__(self) -> None:
        names = [user.name for user in self.users]
        if BROKER_USER in names or len(set(names)) != len(names):
            raise BrokerError(
                f"SASL users must have distinct names other than {BROKER_USER!r}; "
                f"got {names}"
            )

    def user(self, name: str) -> SaslUser:
        for user in self.users:
            if user.name == name:
                return user
        raise BrokerError(
            f"no SASL user {name!r} on this broker; its users are "
            f"{[u.name for u in self.users]}"
        )


def server_settings(
    listener: SecureListener, tls: BrokerTls, broker_password: str
) -> dict[str, str]:
    """The server.properties lines for the SASL_SSL listener (secrets included)."""
    prefix = f"listener.name.{LISTENER.lower()}."
    logins = [SaslUser(BROKER_USER, broker_password), *listener.users]
    plain_users = " ".join(f'user_{u.name}="{u.password}"' for u in logins)
    return {
        "sasl.enabled.mechanisms": ",".join(MECHANISMS),
        "sasl.mechanism.inter.broker.protocol": PLAIN,
        f"{prefix}plain.sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{BROKER_USER}" password="{broker_password}" {plain_users};'
        ),
        # SCRAM users live in the cluster metadata, so the server side needs
        # only the login module.
        f"{prefix}{SCRAM.lower()}.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        f"{prefix}ssl.keystore.type": "PKCS12",
        f"{prefix}ssl.keystore.location": str(tls.keystore),
        f"{prefix}ssl.keystore.password": tls.keystore_password,
        f"{prefix}ssl.key.password": tls.keystore_password,
        # Only used when the broker connects to itself over SASL_SSL.
        f"{prefix}ssl.truststore.type": "PEM",
        f"{prefix}ssl.truststore.location": str(tls.ca_file),
        f"{prefix}ssl.client.auth": "none",
    }


def format_args(users: Iterable[SaslUser]) -> list[str]:
    """`kafka-storage format` arguments that store SCRAM credentials up front."""
    args: list[str] = []
    for user in users:
        args += [
            "--add-scram",
            f"{SCRAM}=[name={user.name},password={user.password},"
            f"iterations={SCRAM_ITERATIONS}]",
        ]
    return args


def client_env(
    bootstrap: str, ca_file: Path, user: SaslUser, mechanism: str = SCRAM
) -> dict[str, str]:
    """The KAFKA_* variables a client needs to use the secure listener."""
    if mechanism not in MECHANISMS:
        raise BrokerError(
            f"the local broker offers SASL mechanisms {MECHANISMS}, not {mechanism!r}"
        )
    return {
        "KAFKA_BOOTSTRAP": bootstrap,
        "KAFKA_SECURITY_PROTOCOL": LISTENER,
        "KAFKA_SASL_MECHANISM": mechanism,
        "KAFKA_SASL_USERNAME": user.name,
        "KAFKA_SASL_PASSWORD": user.password,
        "KAFKA_SSL_CA_LOCATION": str(ca_file),
    }


def upsert_scram_users(config: Mapping[str, str], users: Iterable[SaslUser]) -> None:
    """Creates or updates SCRAM credentials on a running broker."""
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin._scram import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialAlteration,
        UserScramCredentialUpsertion,
    )

    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    changes: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(user.name, info, user.password.encode())
        for user in users
    ]
    if not changes:
        return
    admin = AdminClient({**config, "log_level": 0})
    futures = admin.alter_user_scram_credentials(changes, request_timeout=15)
    for name, future in futures.items():
        try:
            future.result(timeout=20)
        except Exception as exc:
            raise BrokerError(
                f"could not store the SCRAM credentials of user {name!r}: {exc}"
            ) from None
    log.info("stored SCRAM-SHA-512 credentials of %d users", len(changes))
