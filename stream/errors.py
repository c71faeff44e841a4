"""Every error Scorestream raises on purpose derives from ScoringError.

ScoringError
├── ModelError          a model file is invalid (carries every problem found)
├── InputError          an input message cannot be scored (reason for the DLQ)
├── StateError          a stored contact record cannot be read
├── BrokerError         the Kafka broker cannot be started, reached or used
└── SinkError           the CRM sink cannot run as configured, or was refused
"""

from __future__ import annotations

from dataclasses import dataclass


class ScoringError(Exception):
    """Base class: the message says what was wrong, where, and what to do."""


@dataclass(frozen=True)
class Problem:
    """One problem in a model file: where, what was found, what would be valid."""

    source: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.path}" if self.path else self.source
        return f"{where}: {self.message}"


class ModelError(ScoringError):
    """A model file failed validation; `problems` lists all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        n = len(problems)
        super().__init__(
            f"{n} problem{'s' if n != 1 else ''} in model files:\n{lines}\n"
            "Fix the fields named above; `scorestream validate FILE` re-checks."
        )


class InputError(ScoringError):
    """An input message was rejected; `reason` is a short machine-usable code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class StateError(ScoringError):
    """A stored contact record could not be decoded."""


class BrokerError(ScoringError):
    """The Kafka broker could not be started, reached or used."""


class SinkError(ScoringError):
    """The CRM sink cannot run as configured, or the CRM refused its credentials."""
