"""The benchmark suite still runs and writes well-formed results (no timings)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import main


def test_smoke_run_writes_json_markdown_and_chart(tmp_path: Path) -> None:
    assert main(["--smoke", "--only", "core", "state", "--out", str(tmp_path)]) == 0

    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    result = json.loads((folder / "result.json").read_text())
    assert result["size"] == "smoke"
    assert {r["models"] for r in result["core"]["throughput"]} == {1, 5}
    assert all(r["events"] > 0 for r in result["core"]["throughput"])
    (sweep,) = result["core"]["decay"]
    # Only contacts with live activity are read by a sweep.
    assert sweep["reads"] == sweep["live_contacts"] < sweep["contacts"]
    assert result["state"]["real_data"]["contacts"] == 7043
    assert result["state"]["plateau"][0]["weeks"] == 1

    text = (folder / "result.md").read_text()
    assert text.startswith("# Scorestream benchmark")
    assert "## Pure core" in text and "## State size" in text
    assert (tmp_path / "latest.md").read_text() == text
    assert (folder / "result.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
