"""The replay file derived from the real access log and telco table."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from stream.decode import decode_replay_line
from stream.realdata import (
    ACCESS_LOG,
    TELCO_TABLE,
    build_replay,
    default_data_dir,
    write_replay,
)

DATA = default_data_dir()
SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return list(build_replay(DATA))


def log_lines() -> list[str]:
    return (DATA / ACCESS_LOG).read_text(encoding="utf-8").splitlines()


def request_targets() -> list[str]:
    """Each line's request target, read with plain splitting (no regex)."""
    targets = []
    for line in log_lines():
        request = line.split('"')[1].split(" ")
        if len(request) == 3:
            targets.append(request[1])
    return targets


def of_type(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["type"] == kind]


def test_counts_match_the_source_files(records: list[dict[str, Any]]) -> None:
    lines = log_lines()
    targets = request_targets()
    visitors = {line.split(" ", 1)[0] for line in lines}
    telco_rows = (DATA / TELCO_TABLE).read_text().count("\n") - 1

    assert len(lines) == 10_000
    assert len(targets) == len(lines)  # every line holds a request
    assert len(of_type(records, "page_visit")) == len(targets)
    assert telco_rows == 7043
    assert len(of_type(records, "property_change")) == telco_rows
    assert len(visitors) == 1753
    assert {r["contact_id"] for r in of_type(records, "page_visit")} == visitors


def test_conversions_follow_the_documented_rules(
    records: list[dict[str, Any]],
) -> None:
    paths = [target.split("?")[0] for target in request_targets()]
    queries = [target.partition("?")[2].split("&") for target in request_targets()]
    statuses = [line.split('" ')[1].split()[0] for line in log_lines()]
    downloads = sum(path.startswith("/files/") for path in paths)
    feeds = sum("flav=rss20" in q or "flav=atom" in q for q in queries)
    talks = sum(
        p.startswith("/presentations/") and p.count("/") == 3 and p.endswith("/")
        for p in paths
    )
    minor = statuses.count("404")
    severe = sum(s.startswith("5") for s in statuses)

    names = Counter(r["name"] for r in of_type(records, "conversion"))
    assert names == {
        "Download": downloads,
        "Product Brief": downloads,
        "Feed Subscription": feeds,
        "Webinar Registration": talks,
        "0": minor,
        "1": severe,
    }
    assert (downloads, feeds, talks, minor, severe) == (547, 901, 186, 213, 3)

    visit_ids = {r["event_id"] for r in of_type(records, "page_visit")}
    for conversion in of_type(records, "conversion"):
        assert conversion["event_id"].rsplit("-conv", 1)[0] in visit_ids


def test_every_line_decodes(records: list[dict[str, Any]]) -> None:
    for record in records:
        message = decode_replay_line(orjson.dumps(record))
        assert message.contact_id == record["contact_id"]


def test_sample_lines_match_the_replay_schema(
    records: list[dict[str, Any]],
) -> None:
    resources = []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry: Registry[Any] = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / "replay_line.schema.json").read_text())
    validator = Draft202012Validator(schema, registry=registry)
    for record in records[::97]:
        validator.validate(record)


def test_ordered_by_timestamp_with_property_changes_first(
    records: list[dict[str, Any]],
) -> None:
    keys = [(r["timestamp"], r["type"] != "property_change") for r in records]
    assert keys == sorted(keys)
    # Equal timestamps keep log order: visit numbers never go backwards.
    lines = [
        (r["timestamp"], int(r["event_id"].split("-")[1]))
        for r in of_type(records, "page_visit")
    ]
    assert lines == sorted(lines)


def test_builds_are_identical(tmp_path: Path) -> None:
    first = write_replay(tmp_path / "a.jsonl", DATA)
    second = write_replay(tmp_path / "b.jsonl", DATA)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert first == second
    assert first.unparsed_lines == ()
    assert first.records == len((tmp_path / "a.jsonl").read_bytes().splitlines())
    assert (first.visitors_with_properties, first.property_only_contacts) == (
        1753,
        7043 - 1753,
    )


def test_contacts_get_properties_at_their_first_visit(
    records: list[dict[str, Any]],
) -> None:
    first_visit: dict[str, int] = {}
    for r in of_type(records, "page_visit"):
        first_visit.setdefault(r["contact_id"], r["timestamp"])
    start = records[0]["timestamp"]
    changes = of_type(records, "property_change")
    by_visitor = [c for c in changes if c["contact_id"] in first_visit]

    assert len(by_visitor) == len(first_visit)
    for change in changes:
        props = change["properties"]
        if change["contact_id"] in first_visit:
            assert change["timestamp"] == first_visit[change["contact_id"]]
        else:
            assert change["contact_id"] == props["customerID"]
            assert change["timestamp"] == start
    # The i-th visitor in sorted order holds the i-th telco row.
    rows = (DATA / TELCO_TABLE).read_text().splitlines()[1:]
    owner = {c["properties"]["customerID"]: c["contact_id"] for c in changes}
    for index, visitor in enumerate(sorted(first_visit)):
        assert owner[rows[index].split(",")[0]] == visitor


def test_derived_properties(records: list[dict[str, Any]]) -> None:
    changes = [r["properties"] for r in of_type(records, "property_change")]
    nps: dict[str, list[int]] = {"Yes": [], "No": []}
    for props in changes:
        assert props["Months Since Start Date"] == props["tenure"]
        assert 0 <= props["Last NPS Score"] <= 10
        assert 0 <= props["# Of Support Cases"] <= 10
        nps[props["Churn"]].append(props["Last NPS Score"])
    # Blank TotalCharges stays as written (a single space), so it reads as blank.
    assert sum(1 for props in changes if props["TotalCharges"] == " ") == 11
    churned = sum(nps["Yes"]) / len(nps["Yes"])
    stayed = sum(nps["No"]) / len(nps["No"])
    assert churned < 4 < stayed


def test_shift_and_stretch(records: list[dict[str, Any]]) -> None:
    end = 1_700_000_000_000
    moved = list(build_replay(DATA, shift_to=end, stretch=8.0))
    span = records[-1]["timestamp"] - records[0]["timestamp"]

    assert moved[-1]["timestamp"] == end
    assert end - moved[0]["timestamp"] == span * 8
    assert 27 * DAY_MS < span * 8 < 29 * DAY_MS
    assert [r["event_id"] for r in moved if "event_id" in r] == [
        r["event_id"] for r in records if "event_id" in r
    ]
    with pytest.raises(ValueError):
        list(build_replay(DATA, stretch=0))
    with pytest.raises(ValueError):
        list(build_replay(DATA, shift_to=1000))


def test_unreadable_lines_are_counted_not_hidden(tmp_path: Path) -> None:
    (tmp_path / ACCESS_LOG).write_text(
        '10.0.0.2 - - [17/May/2015:10:05:03 +0000] "GET /files/a.PDF HTTP/1.1" '
        '200 5 "-" "agent"\n'
        "garbage that is no log line\n"
        '10.0.0.1 - - [17/May/2015:12:05:03 +0200] "GET /?flav=atom HTTP/1.1" '
        '404 - "http://example.org/" "cut-off agent\n'
        '10.0.0.1 - - [31/Foo/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5\n'
    )
    (tmp_path / TELCO_TABLE).write_text(
        "customerID,tenure,Churn\nA-1,5,No\nB-2,30,Yes\nC-3,0,No\n"
    )
    stats = write_replay(tmp_path / "out.jsonl", tmp_path)
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    messages = [decode_replay_line(line) for line in lines]

    assert stats.unparsed_lines == (2, 4)
    assert (stats.log_lines, stats.page_visits) == (4, 2)
    assert stats.conversions == {
        "Download": 1,
        "Feed Subscription": 1,
        "Product Brief": 1,
        "0": 1,
    }
    assert (stats.visitors_with_properties, stats.property_only_contacts) == (2, 1)
    # Both visits happen at 10:05:03Z; the property changes come first.
    assert [m.kind for m in messages][:3] == ["property_change"] * 3
    assert {m.contact_id for m in messages[:3]} == {"10.0.0.1", "10.0.0.2", "C-3"}
    assert len({m.timestamp for m in messages}) == 1
