"""Client settings from the environment: mapping, masking, aiokafka and Faust."""

from __future__ import annotations

import logging
import ssl

import faust
import pytest

from stream.errors import BrokerError
from stream.kafka.config import (
    aiokafka_kwargs,
    faust_broker_settings,
    kafka_client_config,
    masked,
)
from stream.kafka.tls import ensure_broker_tls

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


SCRAM_SSL_ENV = {
    "KAFKA_BOOTSTRAP": "127.0.0.1:9093",
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "scorer",
    "KAFKA_SASL_PASSWORD": "s3cret-value",
}


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(ensure_broker_tls(tmp_path_factory.mktemp("tls")).ca_file)


def test_scram_over_tls_for_faust_and_aiokafka(ca_file: str) -> None:
    config = kafka_client_config(
        env={**SCRAM_SSL_ENV, "KAFKA_SSL_CA_LOCATION": ca_file}
    )

    kwargs = aiokafka_kwargs(config)
    credentials = faust_broker_settings(config)["broker_credentials"]

    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert kwargs["ssl_context"].check_hostname is True
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.ssl_context is not None
    assert credentials.ssl_context.get_ca_certs(), "the CA file must be loaded"
    assert "s3cret-value" not in repr(credentials)


def test_faust_settings_default_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SASL_ENV.items():
        monkeypatch.setenv(name, value)

    settings = faust_broker_settings()

    assert settings["broker"] == ["kafka://b1.example:9093", "kafka://b2.example:9093"]
    assert settings["broker_credentials"].mechanism.value == "SCRAM-SHA-512"


def test_config_prints_masked_everywhere() -> None:
    config = kafka_client_config(env=SCRAM_SSL_ENV)

    shown = [repr(config), str(config), f"{config} {config!r}", str([config])]
    with pytest.raises(KeyError) as caught:
        raise KeyError(config)

    assert all("s3cret-value" not in text for text in shown)
    assert "s3cret-value" not in str(caught.value)
    assert "'sasl.password': '***'" in shown[0]
    assert config["sasl.password"] == "s3cret-value", "the clients get the value"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL='TLS'"),
        ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM='GSSAPI'"),
        ({"KAFKA_SASL_PASSWORD": ""}, "needs KAFKA_SASL_PASSWORD"),
        ({"KAFKA_SASL_USERNAME": " "}, "needs KAFKA_SASL_USERNAME"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL"}, "set it to SASL_SSL"),
        ({"KAFKA_SSL_CA_LOCATION": "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"),
        (
            {"KAFKA_SSL_CERTIFICATE_LOCATION": __file__},
            "needs its key",
        ),
    ],
)
def test_unusable_security_settings_name_the_variable(
    change: dict[str, str], complaint: str
) -> None:
    with pytest.raises(BrokerError) as caught:
        kafka_client_config(env={**SCRAM_SSL_ENV, **change})

    assert complaint in str(caught.value)
    assert "s3cret-value" not in str(caught.value)


def test_ignored_security_settings_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="stream.kafka.config"):
        config = kafka_client_config("127.0.0.1:19092", env=SCRAM_SSL_ENV)

    assert config == {"bootstrap.servers": "127.0.0.1:19092"}
    assert "ignored for 127.0.0.1:19092" in caplog.text
