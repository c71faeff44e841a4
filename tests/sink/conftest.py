"""Fixtures of the CRM sink tests: the fake CRM and the score-change topic."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from stream.sink.fakecrm import FakeCrm
from tests.sink.helpers import TOKEN


@pytest.fixture
def fake_crm() -> Iterator[FakeCrm]:
    """A fake CRM on 127.0.0.1 that accepts only the test token."""
    with FakeCrm(token=TOKEN) as crm:
        yield crm


@pytest.fixture
def changes_topic(kafka_topics: Callable[..., dict[str, str]]) -> Callable[[int], str]:
    """Factory: creates this test's topics; returns the score-change topic."""

    def create(partitions: int = 3) -> str:
        return kafka_topics(partitions)["score-changes"]

    return create
