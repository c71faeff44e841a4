"""How many contacts hold each grade, per model, in this worker's partitions.

The counts follow the last *emitted* grade of each contact (the one stored
in its record and known to consumers), not a grade recomputed on request.
They are recounted from the local store whenever partitions are assigned
and then kept up to date from every emitted change, so answering costs
nothing. They are kept per partition, so a revoked partition is simply
dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from stream.app.store import TableStore
from stream.model.types import GRADES
from stream.scoring.changes import ScoreChange
from stream.state import ContactState

LETTERS = "ABCD"
DIGITS = "1234"


class GradeCounts:
    """partition -> model id -> Counter of grades."""

    def __init__(self) -> None:
        self._counts: dict[int, dict[str, Counter[str]]] = {}

    def partitions(self) -> set[int]:
        return set(self._counts)

    def recount(self, store: TableStore, partitions: Iterable[int]) -> int:
        """Count the stored records of `partitions` afresh; how many were read."""
        read = 0
        for partition in partitions:
            counts: dict[str, Counter[str]] = {}
            for _, _, state in store.scan([partition]):
                read += 1
                for model_id, mark in state.grades.items():
                    counts.setdefault(model_id, Counter())[mark.grade] += 1
            self._counts[partition] = counts
        return read

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._counts.pop(partition, None)

    def observe(self, change: ScoreChange, partition: int) -> None:
        """Move one contact from its previous grade to its new one."""
        by_model = self._counts.setdefault(partition, {})
        counts = by_model.setdefault(change.model_id, Counter())
        if change.previous_grade is not None:
            counts[change.previous_grade] -= 1
        counts[change.grade] += 1

    def remove(self, state: ContactState, partition: int) -> None:
        """Take an erased contact out of the grades it held."""
        by_model = self._counts.get(partition, {})
        for model_id, mark in state.grades.items():
            counts = by_model.get(model_id)
            if counts is not None:
                counts[mark.grade] -= 1

    def totals(self, model_id: str) -> Counter[str]:
        total: Counter[str] = Counter()
        for by_model in self._counts.values():
            total.update(by_model.get(model_id, Counter()))
        return total


def matrix(counts: Counter[str]) -> dict[str, Any]:
    """The 4x4 table (rows A..D, columns 1..4) with row, column and grand totals."""
    rows = [
        [counts.get(f"{letter}{digit}", 0) for digit in DIGITS] for letter in LETTERS
    ]
    return {
        "rows": list(LETTERS),
        "columns": list(DIGITS),
        "counts": rows,
        "by_grade": {grade: counts.get(grade, 0) for grade in GRADES},
        "row_totals": {
            letter: sum(row) for letter, row in zip(LETTERS, rows, strict=True)
        },
        "column_totals": {
            digit: sum(row[i] for row in rows) for i, digit in enumerate(DIGITS)
        },
        "total": sum(sum(row) for row in rows),
    }


def contacts_in(
    store: TableStore, partitions: Iterable[int], model_id: str, grade: str
) -> Iterator[str]:
    """Contact ids whose last emitted grade under `model_id` is `grade`.

    Reads stored records until the caller stops: cheap for the first few,
    a full scan of the partitions when the cell is empty.
    """
    for _, contact_id, state in store.scan(sorted(partitions)):
        mark = state.grades.get(model_id)
        if mark is not None and mark.grade == grade:
            yield contact_id
