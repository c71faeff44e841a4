"""The Maven fetch of the broker jars runs once and fails with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream.errors import BrokerError
from stream.kafka import jars


def test_complete_cache_skips_maven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(jars.CACHE_ENV, str(tmp_path))
    lib = jars.lib_dir("9.9.9")
    lib.mkdir(parents=True)
    (lib.parent / jars.COMPLETE_MARKER).write_text("kafka_2.13-9.9.9.jar\n")

    def no_maven(version: str, lib: Path) -> None:
        raise AssertionError("Maven must not run for a complete cache")

    monkeypatch.setattr(jars, "_run_maven", no_maven)

    assert jars.ensure_jars("9.9.9") == tmp_path / "kafka" / "9.9.9" / "lib"


def test_missing_maven_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(jars.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    with pytest.raises(BrokerError, match="`mvn` is not on PATH"):
        jars.ensure_jars("9.9.9")

    assert not (tmp_path / "kafka" / "9.9.9" / jars.COMPLETE_MARKER).exists()
