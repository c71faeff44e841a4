"""Helpers shared by the CLI commands: model loading, time options, output."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from stream.errors import InputError, ModelError
from stream.model.load import load_model_dir, load_models
from stream.model.types import Model
from stream.timestamps import parse_timestamp


def load_model_args(paths: list[str]) -> list[Model]:
    """Models from files and folders; prints every problem and exits 1."""
    models: list[Model] = []
    try:
        files = [p for p in paths if not Path(p).is_dir()]
        for folder in (p for p in paths if Path(p).is_dir()):
            models.extend(load_model_dir(folder))
        models.extend(load_models(files))
    except ModelError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    return models


def time_arg(text: str) -> int:
    """argparse type: RFC 3339 with offset, or epoch milliseconds."""
    value: object = int(text) if text.lstrip("-").isdigit() else text
    try:
        return parse_timestamp(value, "time")
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None


def open_output(path: str | None, stack: Any) -> IO[bytes]:
    """A binary output file, or stdout for None and '-'."""
    if path is None or path == "-":
        return sys.stdout.buffer
    handle: IO[bytes] = stack.enter_context(open(path, "wb"))  # noqa: SIM115
    return handle


class Progress:
    """A one-line progress display on a terminal; silent otherwise."""

    def __init__(self, total_bytes: int, stream: IO[str] | None = None) -> None:
        self.total = max(total_bytes, 1)
        # Looked up per call: a default bound at import time would keep a
        # stderr that test harnesses have since replaced and closed.
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() and total_bytes > 1_000_000
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, done_bytes: int, lines: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        pct = 100 * done_bytes / self.total
        rate = lines / max(now - self.started, 1e-9)
        self.stream.write(f"\r{pct:5.1f}%  {lines:,} lines  {rate:,.0f} lines/s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


def read_lines(path: str, progress: bool = True) -> Iterator[bytes]:
    """Lines of a file ('-' for stdin), with a progress line on a terminal."""
    if path == "-":
        yield from sys.stdin.buffer
        return
    size = os.path.getsize(path)
    bar = Progress(size if progress else 0)
    done = 0
    with open(path, "rb") as handle:
        for count, line in enumerate(handle, start=1):
            done += len(line)
            if count % 1000 == 0:
                bar.update(done, count)
            yield line
    bar.close()
