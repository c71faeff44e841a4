"""The demo run: broker, topics, worker, the real data in, grade changes out."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream.app.lag import LagProbe
from stream.app.process import WorkerProcess, spawn_worker
from stream.app.publish import PublishReport, publish
from stream.app.settings import Settings
from stream.app.tail import describe, parse_change, polls
from stream.errors import BrokerError, ScoringError
from stream.kafka import topics
from stream.kafka.config import ensure_broker, kafka_client_config
from stream.timestamps import format_timestamp

SAMPLE_DATA_ENV = "SCORESTREAM_SAMPLE_DATA"
# Bounds the whole run, so a stuck broker or worker cannot hang it.
MAX_RUN_S = 900.0
# The run is over when the worker has committed every input and no change
# arrived for this long.
SETTLE_S = 3.0


@dataclass
class DemoResult:
    """What the demo saw: final grades per model, counts and the worker's rate."""

    published: PublishReport | None = None
    changes: int = 0
    dead_letters: int = 0
    final: dict[tuple[str, str], str] = field(default_factory=dict)
    totals: dict[str, Any] | None = None
    first_ts: int | None = None
    last_ts: int | None = None
    crm_requests: int = 0
    crm_contacts: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoOptions:
    models: Path
    work_dir: Path
    stretch: float = 8.0
    partitions: int = 4
    sample_every_s: float = 1.0
    crm: bool = False
    # Keep the worker serving its API and grade page on this port after
    # scoring, until Ctrl-C; 0 turns the web server off.
    serve_port: int = 0


def check_sample_data(folder: Path | None = None) -> Path:
    """The sample data folder; ScoringError at once if a file is missing.

    Checked before the broker starts, which takes seconds and would be wasted.
    """
    from stream.realdata import ACCESS_LOG, TELCO_TABLE, default_data_dir

    folder = default_data_dir() if folder is None else folder
    missing = [n for n in (ACCESS_LOG, TELCO_TABLE) if not (folder / n).is_file()]
    if missing:
        raise ScoringError(
            f"sample data not found: {', '.join(missing)} missing in {folder}; "
            f"point {SAMPLE_DATA_ENV} at the folder holding {ACCESS_LOG} and "
            f"{TELCO_TABLE}"
        )
    return folder


def run_demo(
    options: DemoOptions,
    say: Callable[[str], None],
    on_scored: Callable[[DemoResult], None] | None = None,
) -> DemoResult:
    """Runs everything; every process it starts is stopped before it returns.

    `on_scored` runs once every input is scored, while the worker still
    serves its grade page (with `serve_port`).
    """
    check_sample_data()
    prefix = f"demo-{time.strftime('%Y%m%d-%H%M%S')}."
    result = DemoResult()
    with _stop_as_interrupt(), ensure_broker(options.work_dir / "broker") as bootstrap:
        config = kafka_client_config(bootstrap)
        topics.create_topics(config, prefix, options.partitions)
        settings = Settings(
            bootstrap=bootstrap,
            topic_prefix=prefix,
            models=options.models,
            data_dir=options.work_dir / prefix.rstrip(".") / "state",
            partitions=options.partitions,
            clock="event",
            web_port=options.serve_port,
        )
        log = options.work_dir / prefix.rstrip(".") / "worker.log"
        say(f"broker {bootstrap}; topics {prefix}*; worker log {log}")
        worker = spawn_worker(settings, log)
        try:
            _publish_and_follow(options, settings, config, worker, result, say)
            if options.crm:
                _write_to_fake_crm(settings, config, result, say)
            if on_scored is not None:
                on_scored(result)
            if options.serve_port:
                _serve_until_interrupted(options.serve_port, settings, worker, say)
        finally:
            # A worker the demo stops itself ends on SIGTERM; only one that
            # ended before that has failed and has lines worth showing.
            ended_alone = not worker.running()
            with _no_interrupts():
                code = worker.stop()
                result.totals = worker.totals()
            if ended_alone and code not in (0, None) and result.totals is None:
                say(f"the worker exited with {code}; last lines:\n{worker.log_tail()}")
    return result


def _publish_and_follow(
    options: DemoOptions,
    settings: Settings,
    config: dict[str, str],
    worker: WorkerProcess,
    result: DemoResult,
    say: Callable[[str], None],
) -> None:
    from stream.realdata import build_replay

    records = list(build_replay(stretch=options.stretch))
    times = [r["timestamp"] for r in records]
    result.first_ts, result.last_ts = min(times), max(times)
    say(
        f"publishing {len(records):,} inputs of the real data set, time stretched "
        f"x{options.stretch:g}: {format_timestamp(result.first_ts)[:10]} .. "
        f"{format_timestamp(result.last_ts)[:10]} (scored on the event clock)"
    )
    sender = threading.Thread(
        target=lambda: setattr(
            result, "published", publish(records, config, settings.topic_prefix)
        ),
        name="demo-publish",
        daemon=True,
    )
    sender.start()

    prefix = settings.topic_prefix
    changes_topic = topics.topic_name(topics.SCORE_CHANGES, prefix)
    dead_topic = topics.topic_name(topics.DEAD_LETTER, prefix)
    shadow_topic = topics.topic_name(topics.SCORE_CHANGES_SHADOW, prefix)
    deadline = time.monotonic() + MAX_RUN_S
    last_change = last_sample = time.monotonic()
    latest: dict[str, Any] | None = None
    shown: dict[str, Any] | None = None
    with LagProbe(config, settings) as probe:
        for batch in polls(
            config, [changes_topic, shadow_topic, dead_topic], max_s=MAX_RUN_S
        ):
            now = time.monotonic()
            for topic, _, value in batch:
                if topic == dead_topic:
                    result.dead_letters += 1
                elif (change := parse_change(value)) is not None and (
                    "grade" in change
                ):
                    result.changes += 1
                    key = (change["model_id"], change["contact_id"])
                    result.final[key] = change["grade"]
                    latest = change
                    last_change = now
            if now - last_sample >= options.sample_every_s:
                last_sample = now
                if latest is not None and latest is not shown:
                    say(f"[{result.changes:>7,} changes] {describe(latest)}")
                    shown = latest
                if not worker.running():
                    raise BrokerError(
                        f"the worker stopped on its own; its log: {worker.log}"
                    )
                if _finished(sender, probe, now - last_change):
                    return
            if now > deadline:
                raise BrokerError(f"the demo did not finish in {MAX_RUN_S:.0f} s")


def _write_to_fake_crm(
    settings: Settings,
    config: dict[str, str],
    result: DemoResult,
    say: Callable[[str], None],
) -> None:
    """Run the CRM sink over the score changes into a local fake HubSpot."""
    import secrets

    from stream.sink.fakecrm import FakeCrm
    from stream.sink.runner import CrmSink
    from stream.sink.settings import SinkSettings

    token = secrets.token_hex(16)
    with FakeCrm(token=token) as crm:
        say(
            f"CRM sink: writing the grades to a fake HubSpot at {crm.base_url} "
            "(nothing leaves this machine)"
        )
        sink_settings = SinkSettings(
            bootstrap=settings.bootstrap,
            topic_prefix=settings.topic_prefix,
            target="hubspot",
            base_url=crm.base_url,
            token=token,
            # The demo's CRM is local: no need to pace requests like HubSpot's.
            rate_requests=1000,
        )
        CrmSink(sink_settings, config).run(exit_when_idle=3.0, max_seconds=180.0)
        result.crm_requests = len(crm.requests)
        result.crm_contacts = crm.state


def _serve_until_interrupted(
    port: int, settings: Settings, worker: WorkerProcess, say: Callable[[str], None]
) -> None:
    say(
        f"\nthe grade page is at http://127.0.0.1:{port}/ and the API beside it "
        f"(e.g. curl 127.0.0.1:{port}/grades?model=upsell); Ctrl-C stops the demo.\n"
        "To change a model live, edit a copy (bump its version) and push it:\n"
        f"  scorestream model push MODEL.yaml --bootstrap {settings.bootstrap} "
        f"--topic-prefix {settings.topic_prefix}\n"
        "Every other tool reaches this demo with the same two options, e.g.\n"
        f"  scorestream tail --bootstrap {settings.bootstrap} "
        f"--topic-prefix {settings.topic_prefix}\n"
        f"  scorestream forget CONTACT_ID --bootstrap {settings.bootstrap} "
        f"--topic-prefix {settings.topic_prefix}"
    )
    try:
        while worker.running():
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping")


def _finished(sender: threading.Thread, probe: LagProbe, quiet_s: float) -> bool:
    return not sender.is_alive() and quiet_s >= SETTLE_S and probe.behind() == 0


# Signals that end the demo: Ctrl-C, a closed terminal, `kill`, `timeout`
# or a service manager stopping it.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def _stop_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the demo the way Ctrl-C does: worker first,
    while the broker still answers, then the broker. Left to their default
    the demo would die at once and leave the worker behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _interrupt) for s in STOP_SIGNALS[1:]}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """A second Ctrl-C (or SIGTERM) must not cut the clean-up short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def order_note(hysteresis: dict[str, float]) -> str | None:
    """Why some grade tables differ from `scorestream replay`.

    `hysteresis` maps each model shown to its hysteresis. With hysteresis a
    grade holds until a score crosses its bound by that margin, so where the
    worker reads the three input topics in a different interleaving than the
    replay's single timeline, a contact can stop on the other grade.
    """
    held = sorted(m for m, h in hysteresis.items() if h > 0)
    if not held:
        return None
    exact = sorted(m for m, h in hysteresis.items() if h <= 0)
    note = (
        f"note: {', '.join(f'{m} (hysteresis {hysteresis[m]:g})' for m in held)} "
        "settle where the path of grades leads, and the worker reads the three "
        "input topics in another order than a replay file, so many contacts "
        "can end one grade step apart from `scorestream replay` of the same "
        "data (hundreds on this data set)"
    )
    if exact:
        note += f"; {', '.join(exact)} (hysteresis 0) end exactly as the replay"
    return note


def grade_table(result: DemoResult, model_id: str) -> list[str]:
    """A 4x4 table of how many contacts hold each grade under `model_id`."""
    counts = Counter(g for (m, _), g in result.final.items() if m == model_id)
    lines = [
        f"{model_id}: {sum(counts.values()):,} contacts",
        "      1      2      3      4",
    ]
    for letter in "ABCD":
        cells = "".join(f"{counts.get(letter + d, 0):>7,}" for d in "1234")
        lines.append(f"{letter}{cells}")
    return lines
