"""`scorestream explain --events` warns when the file mixes contacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream import jsonutil
from stream.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
UPSELL = str(ROOT / "models/upsell.yaml")


def _write(path: Path, contacts: list[str]) -> None:
    lines = [
        jsonutil.dumps(
            {
                "type": "page_visit",
                "event_id": f"e{n}",
                "contact_id": contact,
                "timestamp": 1431857100000 + n * 1000,
                "url": "/support/faq",
            }
        )
        for n, contact in enumerate(contacts)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_events_of_several_contacts_get_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "mixed.jsonl"
    _write(events, ["245.57.13.67", "6923-AQONU", "245.57.13.67"])

    code = main(["explain", "--model", UPSELL, "--events", str(events)])
    out, err = capsys.readouterr()

    assert code == 0
    assert f"warning: {events} holds inputs of 2 contacts" in err
    assert 'grep \'"contact_id":"245.57.13.67"\'' in err
    # The inputs are still all counted: the warning changes no score.
    assert "count 3" in out


def test_events_of_one_contact_get_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "one.jsonl"
    _write(events, ["245.57.13.67", "245.57.13.67"])

    code = main(["explain", "--model", UPSELL, "--events", str(events)])
    out, err = capsys.readouterr()

    assert code == 0
    assert "warning" not in err
    assert "count 2" in out
