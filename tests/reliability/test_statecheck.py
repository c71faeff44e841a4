"""Which changelog partitions lost records a restore would need."""

from __future__ import annotations

import pytest

from stream.app.statecheck import Gap, find_gaps, gaps_error

pytestmark = pytest.mark.reliability

T = "app-contacts-changelog"


@pytest.mark.parametrize(
    ("local", "earliest", "gap"),
    [
        (None, 0, False),  # new data dir, nothing deleted
        (None, 1, True),  # new data dir, the first record is gone
        (41, 42, False),  # deleted exactly what the local state already has
        (41, 30, False),
        (41, 43, True),  # offset 42 was needed and is gone
        (0, 1, False),
    ],
)
def test_gap_when_a_needed_record_is_gone(
    local: int | None, earliest: int, gap: bool
) -> None:
    found = find_gaps({(T, 2): local}, {(T, 2): earliest})
    assert found == ([Gap(T, 2, local, earliest)] if gap else [])


def test_message_names_every_partition_and_what_to_do() -> None:
    gaps = find_gaps({(T, 0): None, (T, 1): 9, (T, 3): 5}, {(T, 0): 7, (T, 1): 20})
    text = str(gaps_error(gaps))
    assert f"{T}[0] now starts at offset 7" in text
    assert "empty local state needs it from offset 0" in text
    assert f"{T}[1] now starts at offset 20" in text and "offset 10" in text
    assert f"{T}[3]" not in text
    assert "cannot be recovered" in text and "cleanup.policy" in text
