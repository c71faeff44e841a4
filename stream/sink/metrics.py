"""The CRM sink's counters, in a Prometheus registry of its own, and its summary."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class Tally:
    """Plain totals behind the Prometheus counters, for the log summary."""

    received: int = 0
    sent: int = 0
    coalesced: int = 0
    stale: int = 0
    retried: int = 0
    rejected: int = 0
    requests: int = 0
    forgotten: int = 0


@dataclass
class SinkMetrics:
    """Counters of the sink; `registry` can be served on a /metrics endpoint."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    tally: Tally = field(default_factory=Tally)

    def __post_init__(self) -> None:
        def counter(name: str, text: str) -> Counter:
            return Counter(f"scorestream_crm_{name}", text, registry=self.registry)

        self._counters = {
            "received": counter("changes_received", "score changes read"),
            "sent": counter("changes_sent", "changes the CRM accepted"),
            "coalesced": counter(
                "changes_coalesced", "changes replaced by a newer one before sending"
            ),
            "stale": counter(
                "changes_stale_dropped", "changes dropped: seq not newer than sent"
            ),
            "retried": counter("requests_retried", "requests sent again"),
            "rejected": counter(
                "changes_rejected", "changes the CRM refused, to the rejected topic"
            ),
            "requests": counter("requests", "requests made to the CRM"),
            "forgotten": counter(
                "contacts_forgotten", "erased contacts: their pending changes dropped"
            ),
        }
        self.lag = Gauge(
            "scorestream_crm_lag_messages",
            "score-change messages not yet handled by the sink",
            registry=self.registry,
        )
        self.lag_value = 0

    def add(self, name: str, amount: int = 1) -> None:
        if amount <= 0:
            return
        self._counters[name].inc(amount)
        setattr(self.tally, name, getattr(self.tally, name) + amount)

    def set_lag(self, messages: int) -> None:
        self.lag_value = messages
        self.lag.set(messages)

    def summary(self, since: Tally | None = None) -> str:
        """One line: totals, with the change since `since` in brackets."""
        parts = []
        for f in fields(Tally):
            total = getattr(self.tally, f.name)
            delta = f" (+{total - getattr(since, f.name)})" if since else ""
            parts.append(f"{f.name}={total}{delta}")
        parts.append(f"lag={self.lag_value}")
        return " ".join(parts)

    def snapshot(self) -> Tally:
        return Tally(**{f.name: getattr(self.tally, f.name) for f in fields(Tally)})
