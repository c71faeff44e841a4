"""Pure-core benchmark: match + state update + grade, no Kafka, no JSON.

Prints events/s per configuration and writes a JSON result file so runs can
be compared over time. Usage: python -m bench.bench_core [--events N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import random
import time
from pathlib import Path
from typing import Any

from stream.messages import ActivityEvent, PropertyChange
from stream.model.load import load_model
from stream.model.types import Model
from stream.processor import MemoryStore, Processor
from stream.scoring.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_431_857_103_000
URLS = [
    "/support/faq",
    "/resources/guide",
    "/blog/2015/05/kafka",
    "/presentations/logstash/",
    "/files/brief.pdf",
    "/projects/x",
]
CONVERSIONS = ["Webinar Registration", "Product Brief", "1", "Download"]


def variants(base: list[Model], count: int) -> list[Model]:
    """`count` models, cycling the templates under distinct ids."""
    return [
        dataclasses.replace(base[i % len(base)], id=f"{base[i % len(base)].id}_{i}")
        for i in range(count)
    ]


def workload(events: int, contacts: int, seed: int = 7) -> list[Any]:
    rng = random.Random(seed)
    out: list[Any] = []
    for c in range(contacts):
        out.append(
            PropertyChange(
                f"c{c}",
                T0,
                {
                    "Last NPS Score": rng.randint(0, 10),
                    "# Of Support Cases": rng.randint(0, 10),
                    "Months Since Start Date": rng.randint(1, 72),
                },
            )
        )
    for i in range(events - contacts):
        contact = f"c{rng.randrange(contacts)}"
        ts = T0 + i * 10
        if rng.random() < 0.8:
            out.append(
                ActivityEvent(
                    "page_visit", f"e{i}", contact, ts, {"url": rng.choice(URLS)}, {}
                )
            )
        else:
            out.append(
                ActivityEvent(
                    "conversion",
                    f"e{i}",
                    contact,
                    ts,
                    {"name": rng.choice(CONVERSIONS)},
                    {},
                )
            )
    return out


def measure(models: list[Model], msgs: list[Any]) -> dict[str, Any]:
    processor = Processor(Engine(models), MemoryStore())
    changes = 0
    started = time.perf_counter()
    for msg in msgs:
        changes += len(processor.apply(msg, msg.timestamp)[0])
    elapsed = time.perf_counter() - started
    return {
        "events": len(msgs),
        "seconds": round(elapsed, 3),
        "events_per_s": round(len(msgs) / elapsed),
        "changes": changes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--contacts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--models", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()

    base = [load_model(ROOT / "models" / f) for f in ("upsell.yaml", "cross_sell.yaml")]
    rows = []
    for contacts in args.contacts:
        msgs = workload(max(args.events, contacts * 2), contacts)
        for n in args.models:
            row = {
                "contacts": contacts,
                "models": n,
                **measure(variants(base, n), msgs),
            }
            rows.append(row)
            print(
                f"core  contacts={contacts:>8,}  models={n:>2}  "
                f"{row['events_per_s']:>9,} events/s  ({row['changes']:,} changes)"
            )
    result = {
        "bench": "core",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"core-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
