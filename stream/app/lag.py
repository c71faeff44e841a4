"""How far the worker's consumer group is behind the end of its input topics."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from stream.app.app import faust_id
from stream.app.settings import Settings
from stream.kafka import topics


class LagProbe:
    """Reads the worker group's committed offsets without joining the group."""

    def __init__(self, client_config: Mapping[str, str], settings: Settings) -> None:
        from confluent_kafka import Consumer, TopicPartition

        names = [
            topics.topic_name(t, settings.topic_prefix) for t in topics.INPUT_TOPICS
        ]
        self._tps = [
            TopicPartition(n, p) for n in names for p in range(settings.partitions)
        ]
        # A consumer that never subscribes does not join (or disturb) the
        # group; it only reads its offsets.
        self._consumer: Any = Consumer(
            {
                **client_config,
                "group.id": faust_id(settings),
                "client.id": f"scorestream-lag-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": "false",
            }
        )

    def behind(self, timeout: float = 10.0) -> int | None:
        """Inputs not yet committed; None while the broker cannot say."""
        from confluent_kafka import KafkaException

        try:
            total = 0
            for tp in self._consumer.committed(self._tps, timeout=timeout):
                _, high = self._consumer.get_watermark_offsets(tp, timeout=timeout)
                total += max(0, high - max(tp.offset, 0))
        except KafkaException:
            return None
        return total

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> LagProbe:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
