"""Two workers share the partitions; either one answers for every contact."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

import pytest

from stream.app.process import WorkerProcess
from stream.app.routing import partition_for
from stream.app.settings import Settings
from tests.api.conftest import base_url
from tests.api.helpers import check_answer, get, known_input, wait_ready
from tests.app.helpers import publish_records, wait_consumed

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]


def wait_split(bases: list[str], timeout: float = 90.0) -> list[list[int]]:
    """Until both workers are ready and own disjoint halves of the partitions."""
    deadline = time.monotonic() + timeout
    owned: list[list[int]] = []
    while time.monotonic() < deadline:
        answers = [get(b, "/ready", timeout=2.0) for b in bases]
        owned = [a.json()["partitions"] for a in answers]
        split = all(owned) and sorted(owned[0] + owned[1]) == [0, 1, 2, 3]
        if split and all(a.status == 200 for a in answers):
            return owned
        time.sleep(0.5)
    raise AssertionError(f"partitions not split between the workers: {owned}")


def test_either_worker_answers_for_every_contact(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    api_settings: Callable[..., Settings],
    api_worker: Callable[[Settings], WorkerProcess],
) -> None:
    kafka_topics(4)
    first, second = api_settings(), api_settings()
    records = known_input()
    # One id that needs URL encoding, on the wire and between the workers.
    odd = "ü ber/ra@ndom?id"
    records.append(
        {
            "type": "property_change",
            "contact_id": odd,
            "timestamp": 1431820800000,
            "properties": {"Last NPS Score": 9},
        }
    )
    publish_records(kafka_config, first.topic_prefix, records)
    workers = [api_worker(first), api_worker(second)]
    bases = [base_url(first), base_url(second)]
    wait_consumed(kafka_config, workers[0])
    owned = wait_split(bases)
    for base, worker in zip(bases, workers, strict=True):
        wait_ready(base, worker)

    contacts = sorted({r["contact_id"] for r in records})
    remote = 0
    for contact_id in contacts:
        path = "/contacts/" + quote(contact_id, safe="")
        a, b = (get(base, path) for base in bases)
        body_a = check_answer(a, "/contacts/{id}", 200)
        body_b = check_answer(b, "/contacts/{id}", 200)
        assert body_a == body_b, contact_id
        assert body_a["contact_id"] == contact_id
        partition = partition_for(contact_id, 4)
        owner = bases[0] if partition in owned[0] else bases[1]
        assert body_a["served_by"] == owner
        remote += 1
    assert remote == len(contacts)

    # The grade matrix adds both workers up; each one's local part is partial.
    whole = [
        check_answer(get(base, "/grades?model=upsell"), "/grades", 200)
        for base in bases
    ]
    assert whole[0]["matrix"] == whole[1]["matrix"]
    assert whole[0]["complete"] and whole[0]["matrix"]["total"] == len(contacts)
    local = [
        check_answer(get(base, "/grades?model=upsell&scope=local"), "/grades", 200)
        for base in bases
    ]
    assert [x["partitions"] for x in local] == owned
    assert not local[0]["complete"] and not local[1]["complete"]
    assert sum(x["matrix"]["total"] for x in local) == len(contacts)

    # A cell lists contacts from both workers.
    grade = max(
        whole[0]["matrix"]["by_grade"], key=lambda g: whole[0]["matrix"]["by_grade"][g]
    )
    cells = [
        check_answer(
            get(base, f"/grades/upsell/{grade}?limit=1000"),
            "/grades/{model}/{grade}",
            200,
        )
        for base in bases
    ]
    assert cells[0]["contacts"] == cells[1]["contacts"]
    assert len(cells[0]["contacts"]) == whole[0]["matrix"]["by_grade"][grade]

    missing = get(bases[0], "/contacts/" + quote("nobody-here", safe=""))
    assert check_answer(missing, "/contacts/{id}", 404)["error"]["parameter"] == "id"
