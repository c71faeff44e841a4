"""Turns a suite result into a Markdown report and a PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

GOALS = {
    "e2e_vs_bare": 0.8,
    "e2e_rate": 25_000,
    "two_vs_one": 1.7,
    "p99_1k_ms": 50,
    "p99_10k_ms": 250,
    "core_rate": 500_000,
    "bytes_per_category": 200,
    "sweep_1m_s": 10,
}


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    head = "| " + " | ".join(title for title, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = [
        "| " + " | ".join(_fmt(row.get(key)) for _, key in columns) + " |"
        for row in rows
    ]
    return "\n".join([head, rule, *body])


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal, what was measured and whether it was met."""
    out: list[dict[str, Any]] = []

    def add(goal: str, measured: str, ok: bool | None) -> None:
        out.append({"goal": goal, "measured": measured, "verdict": _verdict(ok)})

    core = result.get("core", {})
    one = [r for r in core.get("throughput", []) if r["models"] == 1]
    if one:
        best = max(r["events_per_cpu_s"] for r in one)
        add(
            "pure core >= 500k events/s/core (1 model)",
            f"{best:,} events/cpu-s",
            best >= GOALS["core_rate"],
        )
    big = [r for r in core.get("decay", []) if r["contacts"] >= 1_000_000]
    for r in big:
        add(
            "1M-contact decay sweep < 10 s, only live contacts read",
            f"{r['seconds']} s ({r['cpu_s']} cpu-s) for "
            f"{r['due_at_boundary']:,} live; "
            f"{r['inactive_read']} inactive read",
            r["seconds"] < GOALS["sweep_1m_s"] and r["inactive_read"] == 0,
        )
    e2e = result.get("e2e", {})
    tp = e2e.get("throughput")
    if tp:
        add(
            "e2e one worker >= 0.8x bare Faust agent",
            f"{tp['worker_vs_bare_faust']}x",
            (tp["worker_vs_bare_faust"] or 0) >= GOALS["e2e_vs_bare"],
        )
        add(
            "e2e one worker >= 25k events/s",
            f"{tp['worker_events_per_s']:,} events/s",
            tp["worker_events_per_s"] >= GOALS["e2e_rate"],
        )
    scale = e2e.get("scaling")
    if scale:
        add(
            "two workers >= 1.7x one",
            f"{scale['two_vs_one']}x",
            scale["two_vs_one"] >= GOALS["two_vs_one"],
        )
    for row in e2e.get("latency", []):
        limit = GOALS["p99_1k_ms"] if row["offered_per_s"] <= 1000 else 250
        add(
            f"p99 < {limit} ms at {row['offered_per_s']:,}/s",
            f"p99 {row['p99_ms']} ms",
            row["p99_ms"] < limit and not row["missing"],
        )
    state = result.get("state", {})
    plateau = state.get("plateau", [])
    if plateau:
        last = plateau[-1]["bytes_per_contact_per_active_category"]
        history = plateau[-1]["history_bytes_per_active_category"]
        add(
            "state <= 200 B per contact per active category",
            f"{last} B whole record ({history} B of it counts and ids) after "
            f"{plateau[-1]['weeks']} weeks",
            last is not None and last <= GOALS["bytes_per_category"],
        )
    return out


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    parts = [
        f"# Scorestream benchmark, {result['at']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, "
        f"Python {m['python']}; load average at start {m['load_avg_at_start']}; "
        f"commit {m['commit']}{' (stream/ changed in the tree)' * m['tree_dirty']}; "
        f"{result['size']} run. Shared machine: compare "
        "figures within this run (the ratios), not across runs.",
        "",
        "## Goals",
        "",
        _table(
            goals(result), [("goal", "goal"), ("measured", "measured"), ("", "verdict")]
        ),
    ]
    core = result.get("core")
    if core:
        parts += [
            "",
            "## Pure core (match + update + grade, MemoryStore)",
            "",
            f"Reference in the same run, a loop that only finds the contact and "
            f"bumps a count: {core['floor']['events_per_cpu_s']:,} events/cpu-s.",
            "",
            _table(
                core["throughput"],
                [
                    ("contacts", "contacts"),
                    ("models", "models"),
                    ("events", "events"),
                    ("events/s", "events_per_s"),
                    ("events/cpu-s", "events_per_cpu_s"),
                    ("vs floor", "vs_floor"),
                    ("changes", "changes"),
                ],
            ),
            "",
            "## Decay sweep at one period boundary (Processor.advance, MemoryStore)",
            "",
            _table(
                core["decay"],
                [
                    ("contacts", "contacts"),
                    ("live", "live_contacts"),
                    ("inactive", "inactive_contacts"),
                    ("re-graded", "due_at_boundary"),
                    ("records read", "reads"),
                    ("inactive read", "inactive_read"),
                    ("seconds", "seconds"),
                    # Beside the wall time: on a shared machine the gap between
                    # the two is other work's.
                    ("cpu s", "cpu_s"),
                    ("contacts/s", "swept_per_s"),
                ],
            ),
        ]
    e2e = result.get("e2e") or {}
    tp = e2e.get("throughput")
    if tp:
        parts += [
            "",
            "## End to end (one broker on 127.0.0.1, 4 partitions, 4 models)",
            "",
            _table(
                [
                    {
                        "what": "raw confluent-kafka consume(500) + JSON parse",
                        "rate": tp["raw_events_per_s"],
                        "ratio": 1.0,
                    },
                    {
                        "what": "bare Faust agent, reads only",
                        "rate": tp["bare_faust_events_per_s"],
                        "ratio": round(
                            tp["bare_faust_events_per_s"] / tp["raw_events_per_s"], 4
                        ),
                    },
                    {
                        "what": "scoring worker (its own first-to-last batch clock)",
                        "rate": tp["worker_events_per_s"],
                        "ratio": tp["worker_vs_raw"],
                    },
                ],
                [("what", "what"), ("events/s", "rate"), ("vs raw", "ratio")],
            ),
            "",
            f"Worker / bare Faust: {tp['worker_vs_bare_faust']}x. "
            f"{tp['events']:,} page visits over {tp['contacts']:,} contacts.",
        ]
    scale = e2e.get("scaling")
    if scale:
        parts += [
            "",
            "Input to output (first produce to last changelog write), workers "
            "already in their group:",
            "",
            _table(
                scale["runs"],
                [
                    ("workers", "workers"),
                    ("events", "events"),
                    ("seconds", "seconds"),
                    ("events/s", "events_per_s"),
                ],
            ),
            "",
            f"Two workers / one: {scale['two_vs_one']}x.",
        ]
    if e2e.get("latency"):
        parts += [
            "",
            "## Latency, produce to score change (open-loop, live clock)",
            "",
            _table(
                e2e["latency"],
                [
                    ("offered/s", "offered_per_s"),
                    ("sent", "sent"),
                    ("received", "received"),
                    ("p50 ms", "p50_ms"),
                    ("p99 ms", "p99_ms"),
                    ("max ms", "max_ms"),
                ],
            ),
        ]
    parts += _state_section(result)
    return "\n".join(parts) + "\n"


def _state_section(result: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    state = result.get("state")
    e2e = result.get("e2e") or {}
    rows = []
    if state:
        rows.append({"run": "real data, offline replay", **state["real_data"]})
    if e2e.get("real_data"):
        rows.append({"run": "real data, worker", **e2e["real_data"]})
    if e2e.get("throughput"):
        rows.append({"run": "synthetic, worker", **e2e["throughput"]["state"]})
    if rows:
        parts += [
            "",
            "## State size",
            "",
            _table(
                rows,
                [
                    ("run", "run"),
                    ("contacts", "contacts"),
                    ("record B/contact", "record_bytes_per_contact"),
                    ("RocksDB B/contact", "rocksdb_bytes_per_contact"),
                    ("changelog B/contact (raw)", "changelog_bytes_per_contact_raw"),
                    ("B/active category", "bytes_per_contact_per_active_category"),
                    ("history B/active category", "history_bytes_per_active_category"),
                ],
            ),
        ]
    if state and state.get("plateau"):
        parts += [
            "",
            "Same contacts, 3 events each per week, as history grows:",
            "",
            _table(
                state["plateau"],
                [
                    ("weeks", "weeks"),
                    ("record B/contact", "record_bytes_per_contact"),
                    ("RocksDB B/contact", "rocksdb_bytes_per_contact"),
                    ("event ids kept", "event_ids_per_contact"),
                    ("periods kept", "buckets_per_contact"),
                    ("B/active category", "bytes_per_contact_per_active_category"),
                    ("history B/active category", "history_bytes_per_active_category"),
                ],
            ),
        ]
    return parts


def chart(result: dict[str, Any], path: Path) -> None:
    """Throughput against contacts and models, latency against offered load."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    core = result.get("core", {}).get("throughput", [])
    for models in sorted({r["models"] for r in core}):
        rows = [r for r in core if r["models"] == models]
        left.plot(
            [r["contacts"] for r in rows],
            [r["events_per_s"] for r in rows],
            marker="o",
            label=f"core, {models} model(s)",
        )
    tp = result.get("e2e", {}).get("throughput")
    if tp:
        left.axhline(
            tp["worker_events_per_s"],
            color="k",
            ls="--",
            label="worker end to end (4 models)",
        )
        left.axhline(
            tp["bare_faust_events_per_s"],
            color="grey",
            ls=":",
            label="bare Faust agent",
        )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("contacts")
    left.set_ylabel("events/s")
    left.set_title("Throughput")
    left.legend(fontsize=7)
    lat = result.get("e2e", {}).get("latency", [])
    if lat:
        x = [r["offered_per_s"] for r in lat]
        for key in ("p50_ms", "p99_ms", "max_ms"):
            right.plot(x, [r[key] for r in lat], marker="o", label=key[:-3])
        right.set_xscale("log")
        right.set_yscale("log")
    right.set_xlabel("offered load, events/s")
    right.set_ylabel("produce to score change, ms")
    right.set_title("Latency")
    if lat:
        right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
