"""Fixtures of the fault tests: the seed models and worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.conftest import run_worker, worker_settings
from tests.reliability.compare import seed_models

__all__ = ["models", "run_worker", "worker_settings"]


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A folder with the upsell and cross_sell seed models only."""
    return seed_models(tmp_path / "models")
