"""Builds the Faust app of the stream worker from its Settings."""

from __future__ import annotations

import logging
from typing import Any

import faust

from stream.app.settings import Settings
from stream.app.statecheck import CheckedTable
from stream.kafka.config import faust_broker_settings, kafka_client_config

log = logging.getLogger(__name__)

# Low enough that a restarted worker rejoins quickly after an unclean stop,
# high enough that a busy event loop does not miss heartbeats.
SESSION_TIMEOUT_S = 8.0
HEARTBEAT_INTERVAL_S = 2.0
PRODUCER_BUFFER_MESSAGES = 20_000
# No linger: a batch's sends are appended without yielding to the event loop,
# so they share produce requests anyway, while each publish waits for two
# flushes and aiokafka's flush does not cut a linger short.
PRODUCER_LINGER_S = 0.0
# aiokafka keeps one produce request in flight per broker, carrying at most
# one batch per partition, so the batch size caps the bytes per round trip; a
# contact record or score change is ~1-2 KB and the default 16 KB made each
# publish many round trips. Kept below the broker's 1 MB message limit.
PRODUCER_MAX_BATCH_BYTES = 512 * 1024
# JSON shrinks several times under lz4: fewer bytes per round trip and on disk
# for little CPU. Readers need the lz4 codec (aiokafka[lz4] is a dependency).
PRODUCER_COMPRESSION = "lz4"


def faust_id(settings: Settings) -> str:
    """The consumer group, and the prefix of the table's changelog topic.

    The topic prefix is part of it, so runs with different prefixes (test
    runs, tenants) never share a group or a changelog.
    """
    return f"{settings.topic_prefix}{settings.app_id}"


def create_app(settings: Settings) -> faust.App:
    """A Faust app on the aiokafka transport with RocksDB tables."""
    # Faust creates its table folders but not the data dir's parents.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        **faust_broker_settings(kafka_client_config(settings.bootstrap)),
        "store": "rocksdb://",
        "datadir": str(settings.data_dir),
        "autodiscover": False,
        "topic_partitions": settings.partitions,
        "topic_replication_factor": 1,
        "table_standby_replicas": 0,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "processing_guarantee": settings.processing_guarantee,
        "broker_session_timeout": SESSION_TIMEOUT_S,
        "broker_heartbeat_interval": HEARTBEAT_INTERVAL_S,
        "consumer_auto_offset_reset": "earliest",
        "producer_linger": PRODUCER_LINGER_S,
        "producer_max_batch_size": PRODUCER_MAX_BATCH_BYTES,
        "producer_compression_type": PRODUCER_COMPRESSION,
        "web_enabled": settings.web_enabled,
        # Bound to the configured address only; Faust's default is all of them.
        "web_bind": settings.web_host,
        "web_host": settings.web_host,
        "web_port": settings.web_port or 6066,
        "web_in_thread": False,
    }
    app = faust.App(faust_id(settings), **options)
    # Faust pauses every stream whenever more than this many sends wait in
    # its producer buffer (100 by default) and logs a warning each time; a
    # batch of 500 inputs easily sends more (changes plus table writes).
    app.producer.buffer.max_messages = PRODUCER_BUFFER_MESSAGES
    return app


def contacts_table(app: faust.App, settings: Settings) -> Any:
    """The per-contact state table: bytes keys and values, compacted changelog.

    It refuses to restore across deleted changelog records (see statecheck).
    """
    table = CheckedTable(
        app,
        name="contacts",
        beacon=app.tables.beacon,
        # bytes types make Faust store and log keys and values unchanged
        # ("raw"); a Schema's serializers would be ignored for tables.
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        # Faust compacts changelog topics by default; said here so no later
        # change of defaults can turn the state log into a growing one.
        options={"driver": "rocksdict"},
        help="per-contact scoring state (ContactState records)",
    )
    table.client_config = kafka_client_config(settings.bootstrap)
    return app.tables.add(table)
