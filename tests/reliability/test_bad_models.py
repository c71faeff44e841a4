"""Invalid model files: the worker refuses to start and lists every problem."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from stream.app.process import WorkerProcess
from stream.app.settings import Settings
from tests.model.helpers import base_model, change
from tests.model.test_validation import BROKEN

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(120)]

# Whole files that are not models at all: (file name, bytes, piece of message).
NOT_MODELS = [
    ("syntax.yaml", b"id: x\nfit: [\n", "syntax.yaml"),
    ("empty.yaml", b"", "empty.yaml"),
    ("latin1.yaml", b"id: caf\xe9\n", "latin1.yaml"),
    ("list.json", b"[1, 2]", "list.json"),
    ("truncated.json", b'{"id": "t", "fit": [', "truncated.json"),
]


def broken_folder(folder: Path) -> dict[str, tuple[str, str]]:
    """One file per broken-model case; file name -> (reported path, shown value)."""
    folder.mkdir()
    expected = {}
    for i, (case, (name, field, value, reported, shown, _)) in enumerate(
        sorted(BROKEN.items())
    ):
        data = copy.deepcopy(base_model())
        # Distinct ids, so the files do not also clash with each other.
        data["id"] = f"demo{i}"
        change(data, field, value)
        file = f"{i:02d}-{case.replace(' ', '-')}{Path(name).suffix}"
        text = json.dumps(data) if file.endswith(".json") else yaml.safe_dump(data)
        (folder / file).write_text(text)
        expected[file] = (reported or field, shown)
    for name, content, _ in NOT_MODELS:
        (folder / name).write_bytes(content)
    return expected


def test_start_up_refuses_bad_models_and_lists_every_problem(
    tmp_path: Path,
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
) -> None:
    folder = tmp_path / "bad-models"
    expected = broken_folder(folder)
    worker = run_worker(worker_settings(models=folder))

    assert worker.proc.wait(60) == 2
    output = worker.log.read_text()
    assert "Traceback" not in output
    missing = [
        (file, path, shown)
        for file, (path, shown) in expected.items()
        if not any(
            f"{folder / file}: {path}: " in line and shown in line
            for line in output.splitlines()
        )
    ]
    assert not missing, f"not reported: {missing}\n{output}"
    for name, _, piece in NOT_MODELS:
        assert piece in output, (name, output)
    assert "`scorestream validate FILE` re-checks" in output
    assert not (tmp_path / "worker").exists(), "started before checking models"


def test_one_bad_file_among_good_ones_still_stops_start_up(
    tmp_path: Path,
    models: Path,
    worker_settings: Callable[..., Settings],
    run_worker: Callable[[Settings], WorkerProcess],
) -> None:
    data = base_model()
    change(data, "fit[0].weight", 10)
    (models / "typo.yaml").write_text(yaml.safe_dump(data))
    worker = run_worker(worker_settings(models=models))

    assert worker.proc.wait(60) == 2
    output = worker.log.read_text()
    assert "typo.yaml: fit: " in output and "add up to 60" in output, output
