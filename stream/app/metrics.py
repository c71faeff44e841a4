"""Prometheus metrics of one stream worker, in a registry of its own.

A registry per worker (not the library's global one) keeps two workers in
one test process apart and leaves out the library's process metrics,
which a deployment usually gets from its node exporter anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from stream.scoring.changes import ScoreChange

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Decay sweeps go from a few contacts (milliseconds) to a whole partition
# after downtime (seconds).
SWEEP_BUCKETS = (0.001, 0.005, 0.02, 0.1, 0.5, 2.0, 10.0, 60.0)


class WorkerMetrics:
    """Every metric the worker exports; the taps in `observe` feed them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_in = Counter(
            "scorestream_events_in",
            "input messages taken for scoring, by topic",
            ["topic"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "scorestream_dead_lettered",
            "input messages sent to the dead-letter topic, by reason",
            ["reason"],
            registry=r,
        )
        self.changes_out = Counter(
            "scorestream_changes_out",
            "score-change events emitted, by model, cause and stream",
            ["model", "cause", "stream"],
            registry=r,
        )
        self.lag = Gauge(
            "scorestream_processing_lag_seconds",
            "wall time minus the broker timestamp of the newest input in the "
            "last scored batch",
            registry=r,
        )
        self.last_batch = Gauge(
            "scorestream_last_batch_timestamp_seconds",
            "when the last batch was scored (Unix time)",
            registry=r,
        )
        self.ready = Gauge(
            "scorestream_ready",
            "1 once partitions are assigned and recovered, 0 during a rebalance",
            registry=r,
        )
        self.partitions = Gauge(
            "scorestream_partitions_assigned",
            "input partitions this worker owns",
            registry=r,
        )
        self.recoveries = Counter(
            "scorestream_recoveries",
            "completed recoveries (start-up and every rebalance)",
            registry=r,
        )
        self.contacts_recovered = Gauge(
            "scorestream_contacts_recovered",
            "contact records read back at the last recovery",
            registry=r,
        )
        self.sweep = Histogram(
            "scorestream_decay_sweep_seconds",
            "duration of decay sweeps that re-graded at least one contact",
            buckets=SWEEP_BUCKETS,
            registry=r,
        )
        self.swept = Counter(
            "scorestream_decay_regrades",
            "contacts re-graded by decay sweeps",
            registry=r,
        )
        self.model_rescores = Counter(
            "scorestream_model_rescores",
            "contacts re-scored because a model was activated or changed",
            registry=r,
        )
        self.models = Gauge(
            "scorestream_models",
            "models known to the worker, by status",
            ["status"],
            registry=r,
        )
        self.ready.set(0)

    def render(self) -> bytes:
        data: bytes = generate_latest(self.registry)
        return data

    # -- taps -----------------------------------------------------------------

    def inputs(self, messages: Sequence[Any], wall_s: float) -> None:
        newest = 0.0
        per_topic: dict[str, int] = {}
        for message in messages:
            per_topic[message.topic] = per_topic.get(message.topic, 0) + 1
            stamp = message.timestamp or 0.0
            newest = max(newest, stamp)
        for topic, n in per_topic.items():
            self.events_in.labels(topic).inc(n)
        if newest > 0:
            self.lag.set(max(0.0, wall_s - newest))
        self.last_batch.set(wall_s)

    def changes(self, changes: Sequence[ScoreChange]) -> None:
        for change in changes:
            stream = "shadow" if change.shadow else "live"
            self.changes_out.labels(change.model_id, change.cause, stream).inc()
