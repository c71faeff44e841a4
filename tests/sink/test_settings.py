"""Sink settings: env-var twins, validation, and secrets never shown."""

from __future__ import annotations

import pytest

from stream.cli.main import build_parser
from stream.errors import SinkError
from stream.sink.settings import ENV, SinkSettings
from tests.sink.helpers import TOKEN


def test_every_setting_reads_its_environment_variable() -> None:
    env = {
        "KAFKA_BOOTSTRAP": "127.0.0.1:1",
        ENV["token"]: TOKEN,
        ENV["coalesce_window_s"]: "2.5",
        ENV["batch_size"]: "50",
        ENV["dry_run"]: "true",
        ENV["fit_score_property"]: "",
        ENV["grade_property"]: "score_{model}",
    }
    settings = SinkSettings.from_env(env, batch_size=20)
    assert settings.bootstrap == "127.0.0.1:1"
    assert settings.coalesce_window_s == 2.5
    assert settings.batch_size == 20  # a flag beats its variable
    assert settings.dry_run is True
    assert settings.property_templates() == {
        "grade": "score_{model}",
        "activity_score": "{model}_activity_score",
        "recommended_action": "{model}_action",
        "as_of": "{model}_changed_at",
    }


def test_secrets_are_masked_in_repr_and_public_values() -> None:
    settings = SinkSettings(token=TOKEN, webhook_secret="shh-secret")
    for text in (repr(settings), str(settings), str(settings.public())):
        assert TOKEN not in text
        assert "shh-secret" not in text
        assert "token='***'" in text or "'token': '***'" in text


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"token": ""}, "SCORESTREAM_CRM_TOKEN"),
        ({"batch_size": 101}, "batch_size"),
        ({"grade_property": "grade"}, "{model}"),
        ({"target": "salesforce"}, "target"),
        ({"target": "webhook"}, "webhook_url"),
        ({"backoff_base_s": 5.0, "backoff_max_s": 1.0}, "backoff"),
    ],
)
def test_invalid_settings_say_what_to_fix(
    overrides: dict[str, object], needle: str
) -> None:
    values: dict[str, object] = {"token": TOKEN, **overrides}
    with pytest.raises(SinkError, match=needle):
        SinkSettings(**values)  # type: ignore[arg-type]


def test_a_number_variable_that_is_not_a_number_is_named() -> None:
    with pytest.raises(SinkError, match="SCORESTREAM_CRM_BATCH_SIZE"):
        SinkSettings.from_env({ENV["batch_size"]: "lots", ENV["token"]: TOKEN})


def test_help_names_every_env_twin_but_offers_no_secret_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sink", "crm", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name, var in ENV.items():
        assert var in text, name
    assert "--token" not in text
    assert "--webhook-secret" not in text


def test_keys_inside_urls_are_masked() -> None:
    settings = SinkSettings(
        target="webhook", webhook_url="https://user:pw@hooks.example.com/x?key=abc"
    )
    assert settings.public()["webhook_url"] == "https://***@hooks.example.com/x?***"
    assert "abc" not in repr(settings)
