"""The permanent-failure topic: changes the CRM refused, with the CRM's answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from stream import jsonutil
from stream.errors import BrokerError
from stream.kafka.topics import DAY_MS, DEFAULT_PARTITIONS, TopicSpec, topic_name
from stream.sink.delivery import Rejection
from stream.timestamps import format_timestamp

log = logging.getLogger(__name__)

# Not yet in stream.kafka.topics: declared here and created by the sink.
CRM_REJECTED = "crm-rejected"
RAW_LIMIT = 10_000


def rejected_topic(prefix: str, partitions: int = DEFAULT_PARTITIONS) -> TopicSpec:
    # Kept as long as the dead-letter topic: someone must look at these.
    config = {"cleanup.policy": "delete", "retention.ms": str(30 * DAY_MS)}
    return TopicSpec(
        topic_name(CRM_REJECTED, prefix),
        partitions,
        config,
        "output: score changes the CRM refused for good, with its answer",
    )


def ensure_rejected_topic(
    admin_config: Mapping[str, str], prefix: str, timeout: float = 30.0
) -> str:
    """Creates the rejected topic unless it exists; returns its name."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    from stream.kafka.connection import quiet_client_logs

    spec = rejected_topic(prefix)
    admin = AdminClient({**admin_config, **quiet_client_logs()})
    new = NewTopic(
        spec.name, spec.partitions, replication_factor=-1, config=dict(spec.config)
    )
    future = admin.create_topics([new], request_timeout=timeout)[spec.name]
    try:
        future.result(timeout=timeout)
        log.info("created topic %s", spec.name)
    except TimeoutError:
        raise BrokerError(
            f"cannot create topic {spec.name}: Kafka at "
            f"{admin_config.get('bootstrap.servers')} did not answer within "
            f"{timeout:.0f} s; check that the broker runs "
            "(`scorestream broker status`) and --bootstrap names it"
        ) from None
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError):
            if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return spec.name
            reason = error.str()
        else:
            reason = str(exc) or type(exc).__name__
        raise BrokerError(
            f"cannot create topic {spec.name}: {reason}; create it by hand "
            "or give the sink's user the right to create topics"
        ) from None
    return spec.name


def rejection_record(rejection: Rejection, target: str, source: str) -> dict[str, Any]:
    """The rejected-topic message for a change the CRM refused."""
    change = rejection.change
    return {
        "reason": "refused_by_crm",
        "target": target,
        "status": rejection.status,
        "answer": rejection.answer,
        "contact_id": change.contact_id,
        "model_id": change.model_id,
        "seq": change.seq,
        "change": change.event,
        "source": source,
        "rejected_at": format_timestamp(int(time.time() * 1000)),
    }


def malformed_record(
    value: bytes | None, reason: str, detail: str, source: str
) -> dict[str, Any]:
    """The rejected-topic message for a score-change message the sink cannot read."""
    raw = None if value is None else value[:RAW_LIMIT].decode("utf-8", "replace")
    return {
        "reason": reason,
        "detail": detail,
        "value": raw,
        "source": source,
        "rejected_at": format_timestamp(int(time.time() * 1000)),
    }


def encode(record: Mapping[str, Any]) -> bytes:
    return jsonutil.dumps(record)
