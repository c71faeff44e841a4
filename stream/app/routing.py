"""Which partition holds a contact, and which worker's web server owns it."""

from __future__ import annotations

from typing import Any

from yarl import URL

# Set on a request one worker passes to another, so that two workers with
# different views of the assignment (mid-rebalance) never pass it back and forth.
FORWARDED_HEADER = "X-Scorestream-Forwarded-By"


def partition_for(contact_id: str, partitions: int) -> int:
    """The partition the producers put `contact_id`'s inputs on.

    The Java client's rule, which both confluent-kafka's `murmur2_random`
    (used by `scorestream publish`) and aiokafka follow for a non-empty key:
    murmur2 of the key bytes, sign bit cleared, modulo the partition count.
    """
    from aiokafka.partitioner import murmur2

    hashed: int = murmur2(contact_id.encode("utf-8"))
    return (hashed & 0x7FFFFFFF) % partitions


def same_server(a: URL, b: URL) -> bool:
    return (a.host or "", a.port) == (b.host or "", b.port)


def owners(app: Any, table_name: str) -> dict[int, URL]:
    """Partition -> web URL of the worker that owns it, from the group's metadata.

    Every member publishes its web URL in the consumer group's assignment,
    so this is known on every worker once a rebalance has completed.
    """
    out: dict[int, URL] = {}
    for url, topics in app.router.table_metadata(table_name).items():
        for partitions in topics.values():
            for partition in partitions:
                out[partition] = URL(url)
    return out


def own_url(app: Any) -> URL:
    url: URL = app.conf.canonical_url
    return url


def peer_urls(app: Any, table_name: str) -> list[URL]:
    """The other workers that own at least one partition of the table."""
    me = own_url(app)
    seen: dict[tuple[str, int | None], URL] = {}
    for url in owners(app, table_name).values():
        if not same_server(url, me):
            seen[(url.host or "", url.port)] = url
    return list(seen.values())
