"""Forget requests and the contact-forgotten event, without Kafka."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from stream import jsonutil
from stream.cli.main import main
from stream.erasure import ForgetRequest, decode_forget, encode_request, forgotten_event
from stream.errors import InputError
from stream.state import ContactState, GradeMark

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def schema(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(
        (SCHEMAS / f"{name}.schema.json").read_text()
    )
    return loaded


def test_a_request_round_trips_and_matches_its_schema() -> None:
    request = ForgetRequest("c-1", 1_431_820_800_005, "ticket-9", "user asked")
    body = encode_request(request)

    jsonschema.validate(jsonutil.loads(body), schema("forget_request"))
    assert decode_forget(body, key=b"c-1") == request
    assert jsonutil.loads(body)["requested_at"] == "2015-05-17T00:00:00.005Z"


def test_the_event_names_the_last_seqs_and_nothing_else_of_the_contact() -> None:
    state = ContactState(
        properties={"email": ("a@example.com", 1)},
        grades={"upsell": GradeMark("A1", 7, 2), "churn": GradeMark("D4", 2, 1)},
    )
    event = forgotten_event(ForgetRequest("c-1", 0, "r"), state)

    jsonschema.validate(event, schema("contact_forgotten"))
    assert event == {
        "contact_id": "c-1",
        "forgotten": True,
        "as_of": "1970-01-01T00:00:00.000Z",
        "last_seq": {"churn": 2, "upsell": 7},
        "request_id": "r",
    }


@pytest.mark.parametrize(
    ("body", "key", "reason", "named"),
    [
        (b"[]", b"c", "not_an_object", "top level"),
        (b'{"requested_at": 1}', b"c", "missing_field", "contact_id"),
        (b'{"contact_id": "c"}', b"c", "missing_field", "requested_at"),
        (b'{"contact_id": " ", "requested_at": 1}', b"c", "empty_id", "contact_id"),
        (b'{"contact_id": "c", "requested_at": 1}', b"d", "key_mismatch", "key"),
        (b'{"contact_id": "c", "requested_at": 1}', None, "key_mismatch", "key"),
        (b'{"contact_id": "c", "requested_at": true}', b"c", "bad_timestamp", ""),
        (b'{"contact_id": "c", "requested_at": 1, "x": 1}', b"c", "unknown_field", "x"),
        (
            b'{"contact_id": "c", "requested_at": 1, "reason": 5}',
            b"c",
            "wrong_type",
            "",
        ),
    ],
)
def test_bad_requests_name_what_is_wrong(
    body: bytes, key: bytes | None, reason: str, named: str
) -> None:
    with pytest.raises(InputError) as caught:
        decode_forget(body, key=key)
    assert caught.value.reason == reason
    assert named in caught.value.detail


@pytest.mark.parametrize(
    ("contact_id", "shown"),
    [
        ("y" * 300, "id_too_long: CONTACT_ID: 300 characters; at most 256"),
        ("a\x1b[2Jb", "bad_id_characters: CONTACT_ID: 'a\\x1b[2Jb' holds control"),
        ("  ", "empty_id: CONTACT_ID: blank"),
    ],
)
def test_forget_refuses_ids_the_worker_would_refuse_before_connecting(
    contact_id: str, shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 1: reaching the broker would fail differently.
    code = main(["forget", contact_id, "--bootstrap", "127.0.0.1:1"])

    assert code == 1
    assert shown in capsys.readouterr().err
