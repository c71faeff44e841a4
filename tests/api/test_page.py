"""The grade-matrix page in headless Chromium: the counts it shows, and a screenshot."""

from __future__ import annotations

import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from tests.api.conftest import base_url
from tests.api.helpers import get, known_input, wait_ready
from tests.app.helpers import publish_records, read_changes, wait_consumed

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Virtual time lets the page's fetches finish before the DOM is dumped.
    "--virtual-time-budget=15000",
)


def chromium_run(chromium: Path, *args: str, timeout: float = 120.0) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run(
            [str(chromium), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Cells(HTMLParser):
    """(model, grade) -> (count shown, action) of every matrix cell; the page state."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], tuple[int, str]] = {}
        self.legend: list[str] = []
        self.state = ""
        self._open: tuple[str, str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.state = a.get("data-state", "")
        if tag == "td" and "data-grade" in a:
            self._open = (a["data-model"], a["data-grade"], a["data-action"])
        if "data-legend" in a:
            self.legend.append(a["data-legend"])

    def handle_data(self, data: str) -> None:
        if self._open is not None and data.strip():
            model, grade, action = self._open
            self.cells[(model, grade)] = (int(data.strip()), action)
            self._open = None


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_page_shows_the_matrix_of_every_model(
    kafka_config: dict[str, str],
    kafka_topics: Callable[..., dict[str, str]],
    api_settings: Callable[..., Settings],
    api_worker: Callable[[Settings], WorkerProcess],
    chromium: Path,
    tmp_path: Path,
) -> None:
    kafka_topics(4)
    settings = api_settings()
    publish_records(kafka_config, settings.topic_prefix, known_input())
    worker = api_worker(settings)
    base = base_url(settings)
    wait_consumed(kafka_config, worker)
    wait_ready(base, worker)
    last = {
        (c["contact_id"], c["model_id"]): c["grade"]
        for c in read_changes(kafka_config, settings.topic_prefix)
    }
    expected = Counter((m, g) for (_, m), g in last.items())
    models = get(base, "/models").json()["models"]
    actions = {m["id"]: m["actions"] for m in models}

    page = Cells()
    page.feed(chromium_run(chromium, "--dump-dom", base + "/"))
    assert page.state == "ready"
    assert len(page.cells) == 16 * len(models)
    for (model_id, grade), (shown, action) in page.cells.items():
        assert shown == expected.get((model_id, grade), 0), (model_id, grade)
        assert action == actions[model_id][grade]
    assert sum(n for n, _ in page.cells.values()) == 24 * len(models)
    assert {"assign_sales_rep", "ads_and_behavioral"} <= set(page.legend)

    shot = tmp_path / "grades.png"
    chromium_run(
        chromium, f"--screenshot={shot}", "--window-size=1400,1100", base + "/"
    )
    data = shot.read_bytes()
    assert png_size(data) == (1400, 1100)
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))[:, :, :3]
    sampled = (pixels[::10, ::10] * 255).astype(int).reshape(-1, 3)
    colours = {tuple(p) for p in sampled.tolist()}
    # Not blank: white background, text, and the cells of several actions.
    assert len(colours) >= 5, colours
    assert pixels.std() > 0.05
