"""Every Kafka topic Scorestream reads or writes, and their idempotent creation."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stream.errors import BrokerError

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "scorestream."
DEFAULT_PARTITIONS = 4
DAY_MS = 24 * 60 * 60 * 1000

# Short names; the full name is prefix + short name.
PAGE_VISITS = "page-visits"
CONVERSIONS = "conversions"
PROPERTY_CHANGES = "property-changes"
FORGET_REQUESTS = "forget-requests"
SCORE_CHANGES = "score-changes"
SCORE_CHANGES_SHADOW = "score-changes-shadow"
DEAD_LETTER = "dead-letter"
MODELS = "models"

# Tables the stream worker keeps; each gets a Faust changelog topic.
DEFAULT_TABLES = ("contacts",)


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its full name, partition count and topic-level configs."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)
    purpose: str = ""


def _delete(days: int) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(days * DAY_MS)}


# (short name, topic config, purpose); the order is the documentation order.
_TOPICS: tuple[tuple[str, dict[str, str], str], ...] = (
    (PAGE_VISITS, _delete(7), "input: a contact viewed a page"),
    (CONVERSIONS, _delete(7), "input: a contact converted (form, demo, ...)"),
    (PROPERTY_CHANGES, _delete(7), "input: CRM property updates of a contact"),
    (
        FORGET_REQUESTS,
        _delete(7),
        "input: erase everything stored about a contact (scorestream forget)",
    ),
    (SCORE_CHANGES, _delete(7), "output: a grade of a contact changed"),
    (
        SCORE_CHANGES_SHADOW,
        _delete(3),
        "output: score changes of models under test, kept apart from live ones",
    ),
    (DEAD_LETTER, _delete(30), "output: input messages that could not be scored"),
    (
        # Every model version must survive, so only the newest per key is kept
        # and nothing expires by age.
        MODELS,
        {"cleanup.policy": "compact", "retention.ms": "-1"},
        "model definitions by model id (compacted: the latest per id)",
    ),
)


def topic_name(short: str, prefix: str = DEFAULT_PREFIX) -> str:
    return f"{prefix}{short}"


def scorestream_topics(
    prefix: str = DEFAULT_PREFIX, partitions: int = DEFAULT_PARTITIONS
) -> list[TopicSpec]:
    """The input, output and model topics, with `prefix` on every name."""
    return [
        TopicSpec(topic_name(short, prefix), partitions, dict(config), purpose)
        for short, config, purpose in _TOPICS
    ]


def changelog_topics(
    app_id: str,
    tables: Sequence[str] = DEFAULT_TABLES,
    partitions: int = DEFAULT_PARTITIONS,
) -> list[TopicSpec]:
    """The changelog topics Faust creates by itself for the tables of `app_id`.

    Faust names them `<app id>-<table>-changelog` and compacts them; they are
    declared here so they can be documented and created up front. Their
    partition count must equal that of the input topics, since a table
    partition is restored from the changelog partition of the same number.
    """
    return [
        TopicSpec(
            f"{app_id}-{table}-changelog",
            partitions,
            {"cleanup.policy": "compact"},
            f"Faust changelog of table {table!r}",
        )
        for table in tables
    ]


def create_topics(
    admin_config: Mapping[str, str],
    prefix: str = DEFAULT_PREFIX,
    partitions: int = DEFAULT_PARTITIONS,
    *,
    extra: Iterable[TopicSpec] = (),
    timeout: float = 30.0,
) -> dict[str, str]:
    """Creates the topic set; existing topics are fine. Returns name -> outcome.

    The outcome is "created" or "exists". A topic that exists with another
    partition count raises BrokerError, because keyed data would then be
    routed differently from what the tables expect.
    """
    from confluent_kafka.admin import AdminClient

    specs = [*scorestream_topics(prefix, partitions), *extra]
    return _create(AdminClient(dict(admin_config)), specs, timeout)


def _create(admin: Any, specs: Sequence[TopicSpec], timeout: float) -> dict[str, str]:
    """Creates `specs`, checks those that existed; name -> created/exists."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.cimpl import NewTopic

    new = [
        NewTopic(s.name, s.partitions, replication_factor=-1, config=dict(s.config))
        for s in specs
    ]
    outcome: dict[str, str] = {}
    futures = admin.create_topics(new, request_timeout=timeout)
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            outcome[name] = "created"
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerError(
                    f"cannot create topic {name}: {error.str()}"
                ) from None
            outcome[name] = "exists"

    _check_partitions(admin, specs, outcome, timeout)
    log.info(
        "topics ready: %d created, %d existed",
        sum(v == "created" for v in outcome.values()),
        sum(v == "exists" for v in outcome.values()),
    )
    return outcome


# Read by the scoring agent: they must exist, with one partition count.
INPUT_TOPICS = (PAGE_VISITS, CONVERSIONS, PROPERTY_CHANGES, FORGET_REQUESTS)


def create_missing_topics(
    admin_config: Mapping[str, str],
    prefix: str = DEFAULT_PREFIX,
    partitions: int = DEFAULT_PARTITIONS,
    *,
    timeout: float = 30.0,
) -> list[str]:
    """Creates the topics of the set that do not exist yet; their names.

    Missing input topics get the partition count of the inputs that exist
    (the agent needs them co-partitioned), else `partitions`. Raises
    BrokerError when the existing inputs disagree, or a topic cannot be
    created (for example when the user may not create topics).
    """
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(dict(admin_config))
    metadata = admin.list_topics(timeout=timeout)
    inputs = {topic_name(t, prefix) for t in INPUT_TOPICS}
    counts = {
        name: len(metadata.topics[name].partitions)
        for name in inputs
        if name in metadata.topics and metadata.topics[name].partitions
    }
    if len(set(counts.values())) > 1:
        raise BrokerError(
            "the input topics must have one partition count, found: "
            + ", ".join(f"{n} {c}" for n, c in sorted(counts.items()))
        )
    if counts:
        partitions = next(iter(counts.values()))
    missing = [
        spec
        for spec in scorestream_topics(prefix, partitions)
        if spec.name not in metadata.topics
    ]
    if not missing:
        return []
    try:
        # Only the missing ones: a topic that exists is the operator's, even
        # with another partition count than this worker would create.
        _create(admin, missing, timeout)
    except BrokerError as exc:
        raise BrokerError(
            f"topics {', '.join(s.name for s in missing)} are missing and could "
            f"not be created ({exc}); create them with `scorestream broker "
            "topics` or your cluster's tools"
        ) from None
    names = [s.name for s in missing]
    _wait_for_leaders(admin, names, timeout)
    return names


def _wait_for_leaders(admin: Any, names: Sequence[str], timeout: float) -> None:
    """Until every partition of `names` has a leader: a topic created a moment
    ago refuses reads (NOT_LEADER_FOR_PARTITION) until then."""
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(timeout=timeout)
        waiting = [
            name
            for name in names
            if name not in metadata.topics
            or not metadata.topics[name].partitions
            or any(p.leader < 0 for p in metadata.topics[name].partitions.values())
        ]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise BrokerError(
                f"topics {', '.join(waiting)} have no leader {timeout:.0f} s after "
                "they were created; check the broker's log"
            )
        time.sleep(0.1)


def _check_partitions(
    admin: Any, specs: Sequence[TopicSpec], outcome: Mapping[str, str], timeout: float
) -> None:
    expected = {s.name: s.partitions for s in specs if outcome.get(s.name) == "exists"}
    actual: dict[str, int] = {}
    # A topic created a moment ago may be missing from the first metadata
    # answer; an unchecked topic would let a mismatch pass silently.
    deadline = time.monotonic() + timeout
    while set(actual) != set(expected) and time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=timeout)
        actual = {
            name: len(metadata.topics[name].partitions)
            for name in expected
            if name in metadata.topics and metadata.topics[name].partitions
        }
        if set(actual) != set(expected):
            time.sleep(0.2)
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise BrokerError(f"topics reported as existing but not found: {missing}")
    wrong = [
        f"{name} has {actual[name]} partitions, expected {count}"
        for name, count in expected.items()
        if actual[name] != count
    ]
    if wrong:
        raise BrokerError(
            "existing topics do not match the configured partition count:\n  "
            + "\n  ".join(wrong)
            + "\nUse another topic prefix, delete these topics, or set the "
            "partition count to match."
        )
