"""Models at run time: every worker follows the models topic and re-scores.

At start-up the worker reads the models topic to its end; a model there
replaces the model file of the same id (a tombstone removes it). Then it
follows the topic. When a model is activated or changed:

1. the engine is rebuilt and swapped in between two batches (under the
   job's lock), so no batch is ever scored by two model sets;
2. every contact stored in this worker's partitions is re-scored under
   that model at the job's clock (cause `model`), a chunk at a time, each
   chunk published like a batch.

A model going from `testing` (or not running) to `active` is announced:
every contact gets one live event with cause `model`, even if its grade did
not move, because the live stream has not carried that model's grades
before. `previous_grade` is then the last grade recorded (from the shadow
stream) and `seq` continues from it. A `draft` is stored only.

After a restart or rebalance, contacts whose record was graded under
another version of a running model, or not at all by it, are re-scored
during recovery; this catches changes made while no worker owned them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from stream.app import modeltopic
from stream.app.observe import follow_recoveries
from stream.app.settings import Settings
from stream.errors import BrokerError, ModelError
from stream.kafka import topics
from stream.kafka.config import aiokafka_kwargs, kafka_client_config
from stream.model.types import Model
from stream.scoring.changes import ScoreChange
from stream.scoring.engine import Engine, ModelScorer
from stream.state import ContactState, GradeMark

log = logging.getLogger(__name__)

# Contacts re-scored per turn of the lock; inputs are scored in between.
RESCORE_CHUNK = 1000
WATCH_POLL_MS = 1000


def same_model(a: Model, b: Model) -> bool:
    """Equal in everything that scores, grades or routes (file name aside)."""
    return replace(a, source="") == replace(b, source="")


class Catalog:
    """Every model the worker knows, drafts included, by id."""

    def __init__(self, models: Iterable[Model]) -> None:
        self.models: dict[str, Model] = {m.id: m for m in models}

    def running(self) -> list[Model]:
        return [m for m in self.models.values() if m.status != "draft"]

    def statuses(self) -> Counter[str]:
        return Counter(m.status for m in self.models.values())


class ModelLifecycle:
    """Follows the models topic and keeps the job's engine in step with it."""

    def __init__(
        self, app: Any, job: Any, settings: Settings, models: Iterable[Model]
    ) -> None:
        self.app = app
        self.job = job
        self.live = settings.clock == "live"
        self.topic = topics.topic_name(topics.MODELS, settings.topic_prefix)
        self.config = kafka_client_config(settings.bootstrap)
        self.catalog = Catalog(models)
        self.ends: dict[int, int] = {}
        self.rescored = 0
        self.bad: dict[str, str] = {}

    # -- start-up -------------------------------------------------------------

    def _engine(self, models: Any) -> Engine:
        """An engine with the same regex time limit as the job's."""
        return Engine(models, regex_timeout=self.job.engine.regex_timeout)

    def install(self) -> None:
        """Read the topic, swap the engine if it differs, then follow it."""
        self.load_topic()
        self.app.task(self._watch)
        follow_recoveries(self.app, self.job, self._on_recovered)

    def load_topic(self) -> None:
        try:
            found = modeltopic.read_topic(self.config, self.topic)
        except BrokerError as exc:
            log.warning("models topic not read, running the model files only: %s", exc)
            return
        self.ends = found.ends
        self.bad = dict(found.bad)
        for model_id, problem in found.bad.items():
            log.error(
                "model %r on %s is invalid and ignored: %s",
                model_id,
                self.topic,
                problem,
            )
        changed = False
        for model_id, model in found.models.items():
            changed |= self._set(model_id, model)
        if changed:
            self._swap(self._engine(self.catalog.running()))

    # -- following the topic --------------------------------------------------

    async def _watch(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        if not self.ends:
            return
        consumer = AIOKafkaConsumer(
            **aiokafka_kwargs(self.config), enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        try:
            tps = [TopicPartition(self.topic, p) for p in sorted(self.ends)]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, self.ends[tp.partition])
            while True:
                batches = await consumer.getmany(timeout_ms=WATCH_POLL_MS)
                for tp, messages in sorted(batches.items()):
                    for msg in messages:
                        where = f"{tp.topic}[{tp.partition}]@{msg.offset}"
                        await self._receive(msg.key, msg.value, where)
        finally:
            await consumer.stop()

    async def _receive(
        self, key: bytes | None, value: bytes | None, where: str
    ) -> None:
        model_id = (key or b"").decode("utf-8", "replace")
        try:
            model = modeltopic.decode(key, value, where)
        except ModelError as exc:
            self.bad[model_id] = str(exc)
            log.error("model %r at %s is invalid and ignored: %s", model_id, where, exc)
            return
        self.bad.pop(model_id, None)
        await self.apply(model_id, model)

    async def apply(self, model_id: str, model: Model | None) -> int:
        """Take one model (None: removed) in; how many contacts were re-scored."""
        old = self.catalog.models.get(model_id)
        if not self._set(model_id, model):
            return 0
        engine = self._engine(self.catalog.running())
        async with self.job.lock:
            self._swap(engine)
        log.info("model %r: %s -> %s", model_id, _describe(old), _describe(model))
        if model is None or model.status == "draft":
            return 0
        announce = model.status == "active" and (old is None or old.status != "active")
        return await self._rescore_all(model_id, announce)

    def _set(self, model_id: str, model: Model | None) -> bool:
        old = self.catalog.models.get(model_id)
        if model is None:
            return self.catalog.models.pop(model_id, None) is not None
        if old is not None and same_model(old, model):
            return False
        self.catalog.models[model_id] = model
        return True

    def _swap(self, engine: Engine) -> None:
        self.job.engine = engine
        self.job.processor.engine = engine

    # -- re-scoring -----------------------------------------------------------

    async def _rescore_all(self, model_id: str, announce: bool) -> int:
        job = self.job
        started = time.monotonic()
        ids = [cid for _, cid, _ in job.store.scan(sorted(job.partitions))]
        done = 0
        for start in range(0, len(ids), RESCORE_CHUNK):
            async with job.lock:
                scorer = _scorer(job.engine, model_id)
                if scorer is None:
                    # Replaced again meanwhile; the newer message re-scores.
                    break
                for contact_id in ids[start : start + RESCORE_CHUNK]:
                    done += self._rescore_one(contact_id, scorer, announce)
                await job.publish()
            await asyncio.sleep(0)
        self.rescored += done
        log.info(
            "model %r: %d contacts re-scored in %.2f s",
            model_id,
            done,
            time.monotonic() - started,
        )
        return done

    def _rescore_one(self, contact_id: str, scorer: ModelScorer, announce: bool) -> int:
        job = self.job
        partition = job.store.partition_of.get(contact_id)
        if partition is None or partition not in job.partitions:
            return 0
        state = job.store.get(contact_id)
        if state is None:
            return 0
        now = self._now(state)
        model_id = scorer.model.id
        if announce:
            job.engine.prune(state, now)
            changes = [announce_grade(scorer, state, contact_id, now)]
        else:
            changes = job.engine.regrade(state, contact_id, now, "model", [model_id])
        job.store.put(contact_id, state)
        job.processor.track(contact_id, state, now)
        job._emit(changes)
        return 1

    def _now(self, state: ContactState) -> int:
        now: int | None = self.job.processor.now
        if now is not None:
            return now
        if self.live:
            return int(time.time() * 1000)
        # Event clock with no input yet since start: the record's own time.
        times = [*state.seen.values(), *(ts for _, ts in state.properties.values())]
        return max(times, default=0)

    async def _on_recovered(self, added: set[int], _actives: set[int]) -> None:
        """Re-score contacts of newly owned partitions graded under old models."""
        if not added:
            return
        job = self.job
        versions = {s.model.id: s.model.version for s in job.engine.models}
        stale = 0
        for _, contact_id, stored in job.store.scan(sorted(added)):
            wanted = [
                m
                for m, version in versions.items()
                if (mark := stored.grades.get(m)) is None or mark.version != version
            ]
            if not wanted:
                continue
            state = job.store.get(contact_id)
            if state is None:
                continue
            now = self._now(state)
            changes = job.engine.regrade(state, contact_id, now, "model", wanted)
            job.store.put(contact_id, state)
            job.processor.track(contact_id, state, now)
            job._emit(changes)
            stale += 1
        if stale:
            await job.publish()
            self.rescored += stale
            log.info("recovery: %d contacts re-scored under changed models", stale)


def announce_grade(
    scorer: ModelScorer, state: ContactState, contact_id: str, now: int
) -> ScoreChange:
    """The contact's current grade as a change, even when it did not move."""
    model = scorer.model
    mark = state.grades.get(model.id)
    previous = mark.grade if mark else None
    evaluation = scorer.evaluate(state, now)
    grade = scorer.grade(evaluation, previous)
    seq = mark.seq + 1 if mark else 1
    state.grades[model.id] = GradeMark(grade, seq, model.version, cause="model")
    return ScoreChange(
        contact_id=contact_id,
        model_id=model.id,
        model_version=model.version,
        previous_grade=previous,
        grade=grade,
        fit_score=evaluation.fit_score,
        activity_score=evaluation.activity_score,
        breakdown=evaluation.breakdown(),
        cause="model",
        recommended_action=model.action_for(grade),
        seq=seq,
        as_of=now,
        shadow=scorer.shadow,
    )


def _scorer(engine: Engine, model_id: str) -> ModelScorer | None:
    return next((s for s in engine.models if s.model.id == model_id), None)


def _describe(model: Model | None) -> str:
    return "removed" if model is None else f"v{model.version} {model.status}"


def install_lifecycle(
    app: Any, job: Any, settings: Settings, models: Iterable[Model]
) -> ModelLifecycle:
    """Make the worker follow the models topic; call before the worker starts."""
    lifecycle = ModelLifecycle(app, job, settings, models)
    lifecycle.install()
    return lifecycle
