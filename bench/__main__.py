"""The benchmark suite: python -m bench [--quick] [--only SECTION ...].

Writes bench/results/<time>/result.json, result.md and result.png, and copies
the Markdown to bench/results/latest.md. The broker sections use
KAFKA_BOOTSTRAP if set, else a local broker in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import core, report, statesize
from bench.common import RESULTS, machine, say, stamp

# `latency` is also part of `e2e`; on its own it runs just the latency part.
SECTIONS = ("core", "state", "e2e", "latency")
E2E_SIZES = {
    "full": (200_000, 20_000, 10.0),
    "quick": (30_000, 2_000, 2.0),
    "smoke": (2_000, 200, 0.5),
}


def run_e2e(size: str, work: Path) -> dict[str, Any]:
    from bench import endtoend, latency
    from stream.kafka.config import ensure_broker
    from stream.realdata import write_replay

    events, contacts, seconds = E2E_SIZES[size]
    out: dict[str, Any] = {}
    with ensure_broker(work / "kafka") as bootstrap:
        out["throughput"] = endtoend.throughput(bootstrap, work, events, contacts)
        runs = [endtoend.scaling(bootstrap, work, events, contacts, n) for n in (1, 2)]
        out["scaling"] = {
            "runs": runs,
            "two_vs_one": round(runs[1]["events_per_s"] / runs[0]["events_per_s"], 3),
        }
        out["latency"] = latency.run(bootstrap, work, [1_000, 10_000], seconds)
        source = work / "real.jsonl"
        write_replay(source)
        out["real_data"] = endtoend.real_data_state(bootstrap, work, source)
    return out


def run_latency(size: str, work: Path) -> dict[str, Any]:
    from bench import latency
    from stream.kafka.config import ensure_broker

    seconds = E2E_SIZES[size][2]
    with ensure_broker(work / "kafka") as bootstrap:
        return {"latency": latency.run(bootstrap, work, [1_000, 10_000], seconds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, no 1M")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes: checks the suite runs"
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--no-latest", action="store_true", help="do not update results/latest.md"
    )
    parser.add_argument(
        "--render", type=Path, help="only redraw the report of a saved result.json"
    )
    args = parser.parse_args(argv)
    if args.render:
        saved = json.loads(args.render.read_text())
        (args.render.parent / "result.md").write_text(report.markdown(saved))
        report.chart(saved, args.render.parent / "result.png")
        return 0

    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    result: dict[str, Any] = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "size": size,
        "machine": machine(),
    }
    work = Path(tempfile.mkdtemp(prefix="bench-suite-"))
    started = time.monotonic()
    try:
        if "core" in args.only:
            result["core"] = core.run(size)
        if "state" in args.only:
            result["state"] = statesize.run(size)
        if "e2e" in args.only:
            result["e2e"] = run_e2e(size, work)
        elif "latency" in args.only:
            result["e2e"] = run_latency(size, work)
    finally:
        result["seconds"] = round(time.monotonic() - started, 1)
        folder = args.out / stamp()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        text = report.markdown(result)
        (folder / "result.md").write_text(text)
        report.chart(result, folder / "result.png")
        if not args.no_latest:
            (args.out / "latest.md").write_text(text)
            shutil.copyfile(folder / "result.png", args.out / "latest.png")
        shutil.rmtree(work, ignore_errors=True)
        say(f"wrote {folder}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
