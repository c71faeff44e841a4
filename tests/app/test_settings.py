"""Worker settings: defaults, environment, overrides, validation, masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.app.settings import ENV, Settings, mask_credentials
from stream.decode import decode_obj
from stream.errors import InputError


def test_environment_then_overrides() -> None:
    env = {
        "KAFKA_BOOTSTRAP": "fallback:9092",
        "SCORESTREAM_TOPIC_PREFIX": "t1.",
        "SCORESTREAM_PARTITIONS": "8",
        "SCORESTREAM_CLOCK": "event",
        "SCORESTREAM_WEB_PORT": "0",
        "SCORESTREAM_LOG_LEVEL": "debug",
        "SCORESTREAM_DATA_DIR": "/tmp/x",
    }
    settings = Settings.from_env(env, partitions=2)

    assert settings.bootstrap == "fallback:9092"
    assert settings.topic_prefix == "t1."
    assert settings.partitions == 2
    assert settings.clock == "event"
    assert settings.web_enabled is False
    assert settings.log_level == "DEBUG"
    assert settings.data_dir == Path("/tmp/x")


def test_own_bootstrap_variable_wins_over_kafka_bootstrap() -> None:
    env = {"KAFKA_BOOTSTRAP": "a:1", "SCORESTREAM_BOOTSTRAP": "b:2"}
    assert Settings.from_env(env).bootstrap == "b:2"


def test_defaults_bind_the_web_server_to_loopback() -> None:
    settings = Settings.from_env({})
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", 6066)
    assert settings.clock == "live"
    assert settings.processing_guarantee == "at_least_once"


def test_every_field_has_an_environment_variable() -> None:
    assert set(ENV) == set(Settings.__dataclass_fields__)
    assert all(v.startswith("SCORESTREAM_") for v in ENV.values())


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"SCORESTREAM_PARTITIONS": "four"}, "SCORESTREAM_PARTITIONS"),
        ({"SCORESTREAM_PARTITIONS": "0"}, "partitions"),
        ({"SCORESTREAM_CLOCK": "wall"}, "clock"),
        ({"SCORESTREAM_WEB_PORT": "70000"}, "web_port"),
        ({"SCORESTREAM_APP_ID": "a b"}, "app_id"),
        ({"SCORESTREAM_PROCESSING_GUARANTEE": "maybe"}, "processing_guarantee"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Settings.from_env(env)


def test_credentials_never_appear_in_the_repr() -> None:
    settings = Settings(bootstrap="SASL_SSL://alice:s3cret@broker:9093")
    assert "s3cret" not in repr(settings)
    assert "alice" not in repr(settings)
    assert mask_credentials("bob:pw@host:9092") == "***@host:9092"
    assert mask_credentials("host:9092,host2:9092") == "host:9092,host2:9092"


def test_input_limits_and_regex_time_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "SCORESTREAM_MAX_URL_LENGTH": "100",
            "SCORESTREAM_MAX_PROPERTIES": "3",
            "SCORESTREAM_MAX_MESSAGE_BYTES": "2048",
            "SCORESTREAM_REGEX_TIMEOUT_MS": "20",
        },
        bootstrap="127.0.0.1:1",
    )
    assert settings.limits.max_url_length == 100
    assert settings.limits.max_properties == 3
    assert settings.limits.max_message_bytes == 2048
    assert settings.regex_timeout_ms == 20
    with pytest.raises(ValueError, match="max_url_length: 0; must be at least 1"):
        Settings.from_env({"SCORESTREAM_MAX_URL_LENGTH": "0"}, bootstrap="h:1")


def test_id_and_property_name_limits_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "SCORESTREAM_MAX_ID_LENGTH": "8",
            "SCORESTREAM_MAX_PROPERTY_NAME_LENGTH": "5",
        },
        bootstrap="h:1",
    )
    limits = settings.limits

    assert (limits.max_id_length, limits.max_property_name_length) == (8, 5)
    ok = {"event_id": "e1", "contact_id": "12345678", "timestamp": 0, "url": "/"}
    assert decode_obj("page_visit", ok, limits=limits).contact_id == "12345678"
    cases = [
        ({**ok, "contact_id": "123456789"}, "id_too_long"),
        ({**ok, "event_id": "e" * 9}, "id_too_long"),
        ({**ok, "properties": {"sixsix": 1}}, "bad_property_name"),
    ]
    for body, reason in cases:
        with pytest.raises(InputError) as caught:
            decode_obj("page_visit", body, limits=limits)
        assert caught.value.reason == reason
    assert decode_obj("page_visit", {**ok, "properties": {"fivef": 1}}, limits=limits)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SCORESTREAM_MAX_ID_LENGTH": "0"}, "max_id_length: 0; must be at least 1"),
        ({"SCORESTREAM_MAX_ID_LENGTH": "4097"}, "max_id_length: 4097; at most 4096"),
        (
            {"SCORESTREAM_MAX_PROPERTY_NAME_LENGTH": "-3"},
            "max_property_name_length: -3; must be at least 1",
        ),
        (
            {"SCORESTREAM_MAX_PROPERTY_NAME_LENGTH": "5000"},
            "max_property_name_length: 5000; at most 4096",
        ),
        (
            {"SCORESTREAM_MAX_ID_LENGTH": "long"},
            "SCORESTREAM_MAX_ID_LENGTH='long' is not a whole number",
        ),
        ({"SCORESTREAM_URL_QUERY": "mask"}, "url_query: 'mask'; expected one of"),
        ({"SCORESTREAM_URL_QUERY": "hash"}, "'hash' needs a secret key; set SCORE"),
        (
            {"SCORESTREAM_URL_QUERY": "hash", "SCORESTREAM_URL_QUERY_KEY": "short-key"},
            "url_query_key: 9 characters; use at least 16",
        ),
    ],
)
def test_bad_limits_and_url_query_are_refused(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        Settings.from_env(env, bootstrap="h:1")
    assert message in str(caught.value)
    assert "short-key" not in str(caught.value)


def test_url_query_setting_reaches_the_decoder_and_hides_its_key() -> None:
    key = "k3y-that-is-long-enough"
    settings = Settings.from_env(
        {"SCORESTREAM_URL_QUERY": "HASH", "SCORESTREAM_URL_QUERY_KEY": key},
        bootstrap="h:1",
    )

    assert settings.url_query == "hash"
    assert settings.limits.url_query == "hash"
    assert settings.limits.url_query_key == key.encode()
    assert settings.public()["url_query_key"] == "***"
    assert key not in repr(settings) and key not in repr(settings.limits)
    assert Settings.from_env({}, bootstrap="h:1").limits.url_query == "keep"
    dropped = Settings.from_env({"SCORESTREAM_URL_QUERY": "drop"}, bootstrap="h:1")
    assert dropped.public()["url_query_key"] == ""
