"""Draw a backtest's two 4x4 grade heatmaps side by side into a PNG file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stream.backtest import DIGITS, LETTERS, Backtest
from stream.timestamps import format_timestamp


def plot_grades(result: Backtest, path: str | Path) -> None:
    """Write the heatmaps; each cell shows its count (and positive share)."""
    # Loaded on demand so the scoring core and the other commands never pay
    # for matplotlib; Agg draws to files and needs no display.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grids = [_grid(result, side) for side in (0, 1)]
    shares = [_shares(result, side) for side in (0, 1)]
    # One colour scale for both panels, so equal colours mean equal counts.
    top = max(1, *(max(row) for grid in grids for row in grid))

    fig, axes = plt.subplots(1, 2, figsize=(12.5, 6.2), constrained_layout=True)
    image: Any = None
    for side, ax in enumerate(axes):
        model = result.models[side]
        image = ax.imshow(grids[side], cmap="Blues", vmin=0, vmax=top)
        ax.set_title(
            f"{'AB'[side]}: {model.name} ({model.id} v{model.version})", fontsize=12
        )
        ax.set_xticks(range(4), [f"{d}" for d in DIGITS])
        ax.set_yticks(range(4), list(LETTERS))
        ax.set_xlabel("activity digit (1 = highest activity score)")
        ax.set_ylabel("fit letter (A = highest fit score)")
        for row, letter in enumerate(LETTERS):
            for col, digit in enumerate(DIGITS):
                count = grids[side][row][col]
                text = f"{letter}{digit}\n{count:,}"
                share = shares[side].get(f"{letter}{digit}")
                if share is not None:
                    text += f"\n{100 * share:.0f}% {result.positive}"
                dark = count > top * 0.55
                ax.text(
                    col,
                    row,
                    text,
                    ha="center",
                    va="center",
                    fontsize=10,
                    color="white" if dark else "black",
                )
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="contacts")

    title = (
        f"Grades as of {format_timestamp(result.as_of)}, "
        f"{len(result.contacts):,} contacts"
    )
    if result.label is not None:
        title += f"; share of {result.label} = {result.positive} under each count"
    fig.suptitle(title, fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _grid(result: Backtest, side: int) -> list[list[int]]:
    counts = result.distribution(side)
    return [[counts.get(f"{k}{d}", 0) for d in DIGITS] for k in LETTERS]


def _shares(result: Backtest, side: int) -> dict[str, float]:
    report = result.label_report(side)
    if report is None:
        return {}
    return {g: s.share for g, s in report.by_grade.items() if s.share is not None}
