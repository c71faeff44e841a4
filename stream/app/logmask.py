"""Masks the worker's secrets in every log line it writes, whoever logs it.

Our own code never logs a secret, but a library may: at DEBUG, aiokafka
logs every protocol request it sends, and a SASL PLAIN login request holds
the password in clear text. The filter sits on the root handlers, so it
sees every record that is about to be written, from any logger.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping

from stream.app.auth import load_token
from stream.app.settings import Settings
from stream.errors import ScoringError
from stream.kafka.config import MASK, is_secret


class SecretMask(logging.Filter):
    """Replaces each secret (and its escaped bytes form) in a record by ***."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms.add(secret)
                # How a secret looks inside the repr of bytes, as in a
                # logged protocol request.
                forms.add(repr(secret.encode())[2:-1])
        # Longest first, so a secret holding another is masked whole.
        self.forms = sorted(forms, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.forms:
            return True
        try:
            text = record.getMessage()
        except Exception:
            # A broken record is the logging module's to report.
            return True
        if any(form in text for form in self.forms):
            for form in self.forms:
                text = text.replace(form, MASK)
            record.msg, record.args = text, None
        return True


def worker_secrets(
    settings: Settings, env: Mapping[str, str] | None = None
) -> list[str]:
    """The secrets a worker with `settings` holds: Kafka passwords, the API
    token and the URL query key."""
    env = os.environ if env is None else env
    out = [v for k, v in env.items() if k.startswith("KAFKA_") and is_secret(k)]
    try:
        token = load_token(env)
    except ScoringError:
        # The web server refuses to start with it, with a message of its own.
        token = None
    if token:
        out.append(token)
    out.append(settings.url_query_key)
    return [secret for secret in out if secret]


def install_secret_mask(settings: Settings) -> SecretMask:
    """Put a SecretMask on every handler of the root logger."""
    mask = SecretMask(worker_secrets(settings))
    for handler in logging.getLogger().handlers:
        handler.addFilter(mask)
    return mask
