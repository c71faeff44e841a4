"""State size: bytes per contact in RocksDB and in the changelog, and whether
it stays bounded as the same contacts keep producing events for months."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.common import DAY_MS, T0, activity, folder_bytes, profile_change, say
from bench.common import variants as model_variants
from stream.model.load import load_model_dir
from stream.processor import MemoryStore, Processor
from stream.realdata import write_replay
from stream.replay import run_replay
from stream.scoring.engine import Engine
from stream.state import ContactState

ROOT = Path(__file__).resolve().parent.parent


def rocksdb_bytes(records: Iterable[tuple[bytes, bytes]]) -> int:
    """Folder size of a RocksDB holding `records`, flushed and compacted.

    Uses rocksdict in raw mode, the library and mode the worker's table uses.
    """
    from rocksdict import Options, Rdict

    folder = Path(tempfile.mkdtemp(prefix="bench-rocks-"))
    try:
        db = Rdict(str(folder / "db"), Options(raw_mode=True))
        for key, value in records:
            db.put(key, value)
        db.flush()
        db.compact_range(None, None)
        db.close()
        return folder_bytes(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def describe(states: dict[str, ContactState]) -> dict[str, Any]:
    """Per-contact sizes of a set of records, as the worker would store them."""
    records = [(c.encode(), s.to_bytes()) for c, s in states.items()]
    logical = sum(len(k) + len(v) for k, v in records)
    live_cats = sum(
        sum(1 for counts in s.counters.values() if counts) for s in states.values()
    )
    disk = rocksdb_bytes(records)
    n = max(len(states), 1)
    # History (counts and event ids) apart from the CRM properties and grades,
    # which do not grow with time.
    history = sum(
        len(s.to_bytes())
        - len(ContactState(properties=s.properties, grades=s.grades).to_bytes())
        for s in states.values()
    )
    return {
        "contacts": len(states),
        "record_bytes_per_contact": round(logical / n, 1),
        "rocksdb_bytes_per_contact": round(disk / n, 1),
        "active_categories_per_contact": round(live_cats / n, 2),
        "bytes_per_contact_per_active_category": (
            round(logical / live_cats, 1) if live_cats else None
        ),
        "history_bytes_per_active_category": (
            round(history / live_cats, 1) if live_cats else None
        ),
        "event_ids_per_contact": round(
            sum(len(s.seen) for s in states.values()) / n, 2
        ),
        "buckets_per_contact": round(
            sum(len(c) for s in states.values() for c in s.counters.values()) / n, 2
        ),
    }


def real_data() -> dict[str, Any]:
    """The real data set replayed offline under the four templates."""
    folder = Path(tempfile.mkdtemp(prefix="bench-real-"))
    try:
        source = folder / "real.jsonl"
        write_replay(source)
        lines = source.read_bytes().splitlines()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    engine = Engine(load_model_dir(ROOT / "models"))
    replay = run_replay(lines, engine, on_change=lambda _: None)
    return {"inputs": len(lines), **describe(replay.store.states)}


def plateau(contacts: int, weeks: int, per_week: int) -> list[dict[str, Any]]:
    """The same contacts, `per_week` events each per week, for `weeks` weeks.

    Sizes are taken every few weeks; expired periods and old event ids are
    dropped by the decay schedule, so they must level off.
    """
    rng = random.Random(9)
    store = MemoryStore()
    processor = Processor(Engine(model_variants(4)), store)
    for c in range(contacts):
        processor.apply(profile_change(f"c{c}", T0, rng), T0)
    rows = []
    i = 0
    week_ms = 7 * DAY_MS
    for week in range(weeks):
        start = T0 + week * week_ms
        for _ in range(per_week * contacts):
            ts = start + rng.randrange(week_ms)
            i += 1
            event = activity(i, f"c{rng.randrange(contacts)}", ts, rng)
            processor.apply(event, max(ts, processor.now or ts))
        if week in (0, 1, 3) or (week + 1) % 8 == 0:
            # The sweep that would run at the end of the week.
            processor.advance(start + week_ms)
            rows.append({"weeks": week + 1, **describe(store.states)})
    return rows


def run(size: str) -> dict[str, Any]:
    """`size` is "full", "quick" or "smoke" (tiny, seconds)."""
    real = real_data()
    say(
        f"state real data: {real['record_bytes_per_contact']} B/contact "
        f"({real['rocksdb_bytes_per_contact']} on disk)"
    )
    contacts, weeks = {"full": (2000, 64), "quick": (500, 16), "smoke": (50, 4)}[size]
    rows = plateau(contacts, weeks, 3)
    for row in rows:
        say(
            f"state week {row['weeks']:>3}: {row['record_bytes_per_contact']} B, "
            f"{row['event_ids_per_contact']} ids/contact"
        )
    return {"real_data": real, "plateau": rows}
