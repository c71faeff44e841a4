"""The framework limit: a Faust agent that only reads a topic, nothing else.

Run as a process by the suite: python -m bench.bare_faust RESULT_FILE with
BENCH_BOOTSTRAP, BENCH_TOPIC, BENCH_EXPECTED, BENCH_GROUP, BENCH_PARTITIONS
in the environment. Writes {"events", "first", "last"} (time.time() of the
first and last message seen) to RESULT_FILE once it has read them all.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def main() -> None:
    import faust

    from stream.kafka.config import faust_broker_settings, kafka_client_config

    try:
        import uvloop

        # The worker runs on uvloop too; the comparison stays like for like.
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.set_event_loop(asyncio.new_event_loop())
    result = Path(sys.argv[1])
    expected = int(os.environ["BENCH_EXPECTED"])
    app = faust.App(
        os.environ["BENCH_GROUP"],
        **faust_broker_settings(kafka_client_config(os.environ["BENCH_BOOTSTRAP"])),
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        topic_partitions=int(os.environ["BENCH_PARTITIONS"]),
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=8.0,
        broker_heartbeat_interval=2.0,
    )
    topic = app.topic(
        os.environ["BENCH_TOPIC"],
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    seen = {"events": 0, "first": 0.0, "last": 0.0}

    async def read(stream: Any) -> None:
        async for _value in stream:
            now = time.time()
            if not seen["events"]:
                seen["first"] = now
            seen["events"] += 1
            seen["last"] = now
            if seen["events"] == expected:
                result.write_text(json.dumps(seen))

    app.agent(topic, name="bench.read")(read)
    worker = faust.Worker(
        app,
        loglevel="WARNING",
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,
        loop=asyncio.get_event_loop(),
    )
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
