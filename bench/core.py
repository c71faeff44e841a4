"""Pure-core figures: scoring throughput by contacts and models, decay sweeps."""

from __future__ import annotations

import gc
import random
import time
from typing import Any

from bench.common import (
    OK,
    T0,
    activity,
    activity_stream,
    profile_change,
    say,
    variants,
)
from stream.messages import ActivityEvent
from stream.processor import MemoryStore, Processor
from stream.scoring.engine import Engine
from stream.state import ContactState

PROTOTYPES = 512


class CountingStore(MemoryStore):
    """A MemoryStore that counts reads, to show who a sweep looked at."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, contact_id: str) -> ContactState | None:
        self.reads += 1
        return super().get(contact_id)


def populate(
    processor: Processor, contacts: int, live_every: int = 0, seed: int = 3
) -> float:
    """Load `contacts` graded contacts; every `live_every`-th one (0: none)
    also has counted activity and is on the decay schedule. Seconds taken.

    A few hundred prototypes go through the engine; the rest are decoded
    copies of them, which is how the worker gets a record from RocksDB.
    """
    rng = random.Random(seed)
    started = time.perf_counter()
    store = processor.store
    assert isinstance(store, MemoryStore)
    idle: list[bytes] = []
    live: list[bytes] = []
    for p in range(PROTOTYPES):
        cid = f"proto{p}"
        processor.apply(profile_change(cid, T0, rng), T0)
        idle.append(store.states[cid].to_bytes())
        for i in range(1 + p % 4):
            event = activity(i, cid, T0 + i, rng)
            if i == 0:
                # One blog post each, so every live contact counts in a
                # 7-day category and is due at the same first boundary.
                event = ActivityEvent(
                    "page_visit", "b0", cid, T0, {"url": "/blog/2015/x.html"}, OK
                )
            processor.apply(event, T0 + i)
        live.append(store.states[cid].to_bytes())
        del store.states[cid]
    processor.schedule = type(processor.schedule)()
    for c in range(contacts):
        cid = f"c{c}"
        if live_every and c % live_every == 0:
            state = ContactState.from_bytes(live[c % PROTOTYPES])
            store.states[cid] = state
            processor.track(cid, state, T0 + 10)
        else:
            store.states[cid] = ContactState.from_bytes(idle[c % PROTOTYPES])
    # The worker keeps records in RocksDB, not as Python objects: keep the
    # population out of the garbage collector's full passes.
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started


def throughput(
    contacts: int, models: int, budget_s: float, max_events: int
) -> dict[str, Any]:
    """events/s of Processor.apply on activity events over a loaded store."""
    processor = Processor(Engine(variants(models)), MemoryStore())
    load_s = populate(processor, contacts)
    start = T0 + 60_000
    processor.advance(start)
    done = changes = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    deadline = wall0 + budget_s
    for event in activity_stream(max_events, contacts, start):
        changes += len(processor.apply(event, event.timestamp)[0])
        done += 1
        if done % 2000 == 0 and time.perf_counter() > deadline:
            break
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    gc.unfreeze()
    return {
        "contacts": contacts,
        "models": models,
        "events": done,
        "changes": changes,
        "load_s": round(load_s, 2),
        "seconds": round(wall, 3),
        "events_per_s": round(done / wall),
        "events_per_cpu_s": round(done / max(cpu, 1e-9)),
    }


def python_floor(budget_s: float, contacts: int = 100_000) -> dict[str, Any]:
    """The reference: a loop that only looks a contact up and bumps a count.

    No real scorer can beat it; it calibrates the machine in the same run.
    """
    counts: dict[str, dict[int, int]] = {f"c{c}": {} for c in range(contacts)}
    done = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    deadline = wall0 + budget_s
    for event in activity_stream(5_000_000, contacts, T0):
        bucket = event.timestamp // 86_400_000
        state = counts[event.contact_id]
        state[bucket] = state.get(bucket, 0) + 1
        done += 1
        if done % 2000 == 0 and time.perf_counter() > deadline:
            break
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "events": done,
        "events_per_s": round(done / wall),
        "events_per_cpu_s": round(done / max(cpu, 1e-9)),
    }


def decay_sweep(contacts: int, live_every: int) -> dict[str, Any]:
    """One Processor.advance over a boundary, on a MemoryStore (pure part).

    Only every `live_every`-th contact has live activity; the others must
    not be read at all.
    """
    store = CountingStore()
    processor = Processor(Engine(variants(4)), store)
    load_s = populate(processor, contacts, live_every)
    live = len(processor.schedule)
    due = processor.schedule.next_due()
    assert due is not None
    store.reads = 0
    swept_before = processor.swept
    wall0, cpu0 = time.perf_counter(), time.process_time()
    changes = processor.advance(due)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    gc.unfreeze()
    swept = processor.swept - swept_before
    return {
        "contacts": contacts,
        "live_contacts": live,
        "inactive_contacts": contacts - live,
        "due_at_boundary": swept,
        "reads": store.reads,
        "inactive_read": max(0, store.reads - live),
        "decay_changes": len(changes),
        "load_s": round(load_s, 2),
        "seconds": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "swept_per_s": round(swept / wall) if wall else None,
    }


def run(size: str) -> dict[str, Any]:
    """Throughput grid, the Python floor, and decay sweeps.

    `size` is "full", "quick" (no 1M contacts) or "smoke" (tiny, seconds).
    """
    budget = {"full": 8.0, "quick": 2.0, "smoke": 0.2}[size]
    sizes = {
        "full": [10_000, 100_000, 1_000_000],
        "quick": [10_000, 100_000],
        "smoke": [1_000],
    }[size]
    model_counts = [1, 5] if size == "smoke" else [1, 5, 30]
    sweep_sizes = {
        "full": [100_000, 1_000_000],
        "quick": [10_000, 50_000],
        "smoke": [2_000],
    }[size]
    floor = python_floor(budget)
    say(f"core  python floor {floor['events_per_cpu_s']:,} events/cpu-s")
    rows = []
    for contacts in sizes:
        for models in model_counts:
            if contacts >= 1_000_000 and models > 5:
                # Bounded: 30 models x 1M contacts needs several GB of objects.
                continue
            row = throughput(contacts, models, budget, 2_000_000)
            row["vs_floor"] = round(
                row["events_per_cpu_s"] / floor["events_per_cpu_s"], 4
            )
            rows.append(row)
            say(
                f"core  contacts={contacts:>9,} models={models:>2} "
                f"{row['events_per_s']:>8,} events/s "
                f"({row['events_per_cpu_s']:,}/cpu-s)"
            )
    sweeps = []
    for contacts in sweep_sizes:
        row = decay_sweep(contacts, live_every=2)
        sweeps.append(row)
        say(
            f"decay contacts={contacts:>9,} live={row['live_contacts']:,} "
            f"read={row['reads']:,} in {row['seconds']} s"
        )
    return {"floor": floor, "throughput": rows, "decay": sweeps}
