"""The worker, publish and tail commands, as far as they run without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.app.publish import route
from stream.app.settings import ENV
from stream.app.tail import describe
from stream.cli.main import main
from stream.errors import InputError


def test_worker_help_names_every_environment_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for var in ENV.values():
        assert var in text
    assert "KAFKA_BOOTSTRAP" in text


def test_worker_refuses_to_start_with_a_bad_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.yaml").write_text("id: broken\nname: Broken\nversion: x\n")
    # No broker runs at this address: the models are checked first.
    code = main(["worker", "--models", str(tmp_path), "--bootstrap", "127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot start" in err and "broken.yaml" in err


def test_worker_refuses_an_empty_models_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["worker", "--models", str(tmp_path), "--bootstrap", "127.0.0.1:9"])
    assert code == 1
    assert "no model files" in capsys.readouterr().err


def test_publish_routes_by_type_and_keys_by_contact() -> None:
    short, key, value = route(
        {"type": "conversion", "contact_id": "c1", "event_id": "e", "name": "Demo"}
    )
    assert (short, key) == ("conversions", b"c1")
    assert b'"type"' not in value
    with pytest.raises(InputError, match="unknown_type"):
        route({"type": "click", "contact_id": "c1"})
    with pytest.raises(InputError, match="missing_field"):
        route({"type": "page_visit"})
    with pytest.raises(InputError, match="wrong_type: contact_id: found a number"):
        route({"type": "page_visit", "contact_id": 7})


def test_tail_line_reads_like_the_readme() -> None:
    line = describe(
        {
            "contact_id": "245.57.13.67",
            "model_id": "upsell",
            "previous_grade": "D4",
            "grade": "D3",
            "recommended_action": "ads_and_behavioral",
            "cause": "event",
            "trigger": {"categories": ["Viewed Support & Resource Centre"]},
        }
    )
    assert line == (
        "contact 245.57.13.67  upsell  D4 -> D3  ads_and_behavioral  "
        "(event: Viewed Support & Resource Centre)"
    )


def test_worker_help_shows_the_new_limits_but_no_key_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    text = " ".join(capsys.readouterr().out.split())

    assert "--max-id-length CHARS" in text
    assert "env SCORESTREAM_MAX_ID_LENGTH; default 256" in text
    assert "--max-property-name-length CHARS" in text
    assert "env SCORESTREAM_MAX_PROPERTY_NAME_LENGTH; default 256" in text
    assert "--url-query {keep,hash,drop}" in text
    assert "env SCORESTREAM_URL_QUERY; default keep" in text
    # The hashing key is a secret: environment only, never an option.
    assert "--url-query-key" not in text
