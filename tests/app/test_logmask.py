"""Secrets are masked in log lines, whichever library wrote them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from stream.app.logmask import SecretMask, install_secret_mask, worker_secrets
from stream.app.settings import Settings

PASSWORD = "pa$$word-with-é"
TOKEN = "t" * 20


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler.addFilter(SecretMask([PASSWORD, TOKEN, ""]))
    logger = logging.getLogger("aiokafka.conn.test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def test_a_logged_plain_login_request_is_masked(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    request = b"scorer\x00scorer\x00" + PASSWORD.encode()

    logger.debug(
        "Request %d: SaslAuthenticateRequest_v1(sasl_auth_bytes=%r)", 3, request
    )
    logger.info("token %s, password %s", TOKEN, PASSWORD)
    logger.info("nothing secret: %s", "plain words")

    assert out.getvalue().splitlines() == [
        r"aiokafka.conn.test: Request 3: SaslAuthenticateRequest_v1("
        r"sasl_auth_bytes=b'scorer\x00scorer\x00***')",
        "aiokafka.conn.test: token ***, password ***",
        "aiokafka.conn.test: nothing secret: plain words",
    ]


def test_worker_secrets_come_from_kafka_variables_token_and_key() -> None:
    settings = Settings(url_query="hash", url_query_key="k" * 16)
    env = {
        "KAFKA_SASL_PASSWORD": PASSWORD,
        "KAFKA_SSL_KEY_PASSWORD": "key-pw",
        "KAFKA_SASL_USERNAME": "scorer",
        "SCORESTREAM_API_TOKEN": TOKEN,
    }

    secrets = worker_secrets(settings, env)

    assert sorted(secrets) == sorted([PASSWORD, "key-pw", TOKEN, "k" * 16])
    assert worker_secrets(Settings(), {"SCORESTREAM_API_TOKEN": "short"}) == []


def test_install_puts_the_mask_on_every_root_handler() -> None:
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        mask = install_secret_mask(Settings())
        assert mask in handler.filters
    finally:
        root.removeHandler(handler)
