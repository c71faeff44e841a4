"""Shared pieces of the benchmark suite: workloads, models, machine facts."""

from __future__ import annotations

import dataclasses
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from stream.messages import ActivityEvent, PropertyChange
from stream.model.load import load_model
from stream.model.types import Model

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MODEL_FILES = ("upsell.yaml", "cross_sell.yaml", "acquisition.yaml", "churn_risk.yaml")
T0 = 1_431_857_103_000
DAY_MS = 86_400_000
# Paths as in the real access log; most match some category of the templates.
URLS = (
    "/support/faq",
    "/resources/guide",
    "/blog/2015/05/kafka.html",
    "/presentations/logstash/",
    "/projects/xdotool/",
    "/pricing",
)
CONVERSIONS = ("Webinar Registration", "Product Brief", "Download", "1", "Other")
OK = {"status": "200"}


def templates() -> list[Model]:
    """The four model templates of the repository."""
    return [load_model(ROOT / "models" / f) for f in MODEL_FILES]


def variants(count: int) -> list[Model]:
    """`count` models cycling the templates under distinct ids.

    Variants of one template count the same events, so they share counters,
    as real model versions with new weights would.
    """
    base = templates()
    return [
        dataclasses.replace(base[i % len(base)], id=f"{base[i % len(base)].id}_{i}")
        for i in range(count)
    ]


def profile_change(contact: str, ts: int, rng: random.Random) -> PropertyChange:
    """A first CRM record for `contact`: what every model's fit side reads."""
    return PropertyChange(
        contact,
        ts,
        {
            "Last NPS Score": rng.randint(0, 10),
            "# Of Support Cases": rng.randint(0, 10),
            "Months Since Start Date": rng.randint(1, 72),
            "Contract": rng.choice(("Month-to-month", "One year", "Two year")),
            "tenure": rng.randint(0, 72),
            "MonthlyCharges": round(rng.uniform(18, 120), 2),
            "InternetService": rng.choice(("DSL", "Fiber optic", "No")),
        },
    )


def activity(i: int, contact: str, ts: int, rng: random.Random) -> ActivityEvent:
    """Page visit (80%) or conversion (20%) number `i`."""
    if rng.random() < 0.8:
        return ActivityEvent(
            "page_visit", f"e{i}", contact, ts, {"url": rng.choice(URLS)}, OK
        )
    return ActivityEvent(
        "conversion", f"e{i}", contact, ts, {"name": rng.choice(CONVERSIONS)}, OK
    )


def activity_stream(
    events: int, contacts: int, start: int, step_ms: int = 10, seed: int = 7
) -> Iterator[ActivityEvent]:
    """`events` activity events on random contacts, `step_ms` apart."""
    rng = random.Random(seed)
    for i in range(events):
        yield activity(i, f"c{rng.randrange(contacts)}", start + i * step_ms, rng)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_gb = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpu": cpu or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": _git("rev-parse", "--short", "HEAD"),
        # The worker runs from the working tree; say when that differs.
        "tree_dirty": bool(_git("status", "--porcelain", "--", "stream")),
    }


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def folder_bytes(path: Path) -> int:
    """Total size of the regular files under `path`."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
