"""Client settings from the environment: mapping, masking, aiokafka and Faust."""

from __future__ import annotations

import faust
import pytest

from stream.errors import BrokerError
from stream.kafka.config import (
    aiokafka_kwargs,
    faust_broker_settings,
    kafka_client_config,
    masked,
)

SASL_ENV = {
    "KAFKA_BOOTSTRAP": "b1.example:9093,b2.example:9093",
    "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "scorer",
    "KAFKA_SASL_PASSWORD": "s3cret",
    "KAFKA_UNLISTED_SETTING": "ignored",
}


def test_env_vars_map_to_librdkafka_names() -> None:
    config = kafka_client_config(env=SASL_ENV)

    assert config == {
        "bootstrap.servers": "b1.example:9093,b2.example:9093",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "scorer",
        "sasl.password": "s3cret",
    }


def test_security_settings_stay_with_their_cluster() -> None:
    config = kafka_client_config("127.0.0.1:9092", env=SASL_ENV)

    assert config == {"bootstrap.servers": "127.0.0.1:9092"}


def test_missing_bootstrap_says_what_to_do() -> None:
    with pytest.raises(BrokerError, match="set KAFKA_BOOTSTRAP"):
        kafka_client_config(env={})


def test_masked_hides_every_secret() -> None:
    config = {**kafka_client_config(env=SASL_ENV), "ssl.key.password": "k"}

    shown = masked(config)

    assert shown["sasl.password"] == "***"
    assert shown["ssl.key.password"] == "***"
    assert shown["sasl.username"] == "scorer"
    assert "s3cret" not in repr(shown)


def test_aiokafka_and_faust_get_the_same_credentials() -> None:
    config = kafka_client_config(env=SASL_ENV)

    kwargs = aiokafka_kwargs(config)
    settings = faust_broker_settings(config)

    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "scorer"
    assert kwargs["sasl_plain_password"] == "s3cret"
    assert "ssl_context" not in kwargs
    assert settings["broker"] == ["kafka://b1.example:9093", "kafka://b2.example:9093"]
    credentials = settings["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "scorer"


def test_plaintext_needs_no_credentials() -> None:
    config = kafka_client_config("127.0.0.1:9092", env={})

    assert aiokafka_kwargs(config) == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert "broker_credentials" not in faust_broker_settings(config)


def test_ssl_builds_one_context_for_both_clients() -> None:
    env = {
        "KAFKA_BOOTSTRAP": "b1.example:9094",
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM": "none",
    }
    config = kafka_client_config(env=env)

    kwargs = aiokafka_kwargs(config)
    settings = faust_broker_settings(config)

    assert kwargs["security_protocol"] == "SSL"
    assert kwargs["ssl_context"].check_hostname is False
    assert isinstance(settings["broker_credentials"], faust.SSLCredentials)
