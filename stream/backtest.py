"""Backtest: replay the same history through two models and compare grades."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from stream.errors import ScoringError
from stream.model.types import GRADES, Model
from stream.replay import Rejection, Replay, ReplayStats
from stream.scoring.changes import ScoreChange
from stream.scoring.engine import Engine
from stream.state import ContactState
from stream.timestamps import format_timestamp

LETTERS = "ABCD"
DIGITS = "1234"
CAUSES = ("event", "property_change", "decay", "model")


@dataclass(frozen=True, slots=True)
class ContactResult:
    """One contact's final grade and fit score under each model, and its label.

    A grade is None when that model never graded the contact (every input
    of it was rejected there); `label` is None when the label property is
    missing or blank, or no label was asked for.
    """

    contact_id: str
    grades: tuple[str | None, str | None]
    fit_scores: tuple[float | None, float | None]
    label: bool | None


@dataclass(slots=True)
class ChangeCounts:
    """The score-change events one model would have emitted."""

    total: int = 0
    first: int = 0
    by_cause: Counter[str] = field(default_factory=Counter)

    def add(self, change: ScoreChange) -> None:
        self.total += 1
        if change.previous_grade is None:
            self.first += 1
        self.by_cause[change.cause] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "first_grades": self.first,
            "by_cause": {c: self.by_cause.get(c, 0) for c in CAUSES},
        }


@dataclass(frozen=True, slots=True)
class Share:
    """How many labelled contacts fall in a cell, and how many are positive."""

    contacts: int
    positives: int

    @property
    def share(self) -> float | None:
        return self.positives / self.contacts if self.contacts else None

    def to_dict(self) -> dict[str, Any]:
        share = self.share
        return {
            "contacts": self.contacts,
            "positives": self.positives,
            "share": None if share is None else round(share, 4),
        }


@dataclass(frozen=True, slots=True)
class LabelReport:
    """How well one model's grades and fit score separate the label."""

    by_grade: dict[str, Share]
    by_letter: dict[str, Share]
    letter_spread: float | None
    fit_auc: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "by_grade": {g: s.to_dict() for g, s in self.by_grade.items()},
            "by_letter": {k: s.to_dict() for k, s in self.by_letter.items()},
            "letter_spread": _round(self.letter_spread),
            "fit_auc": _round(self.fit_auc),
        }


@dataclass(slots=True)
class Backtest:
    """Everything a backtest found; the reports are computed on demand."""

    models: tuple[Model, Model]
    as_of: int
    stats: tuple[ReplayStats, ReplayStats]
    changes: tuple[ChangeCounts, ChangeCounts]
    contacts: list[ContactResult]
    label: str | None = None
    positive: str | None = None

    def compared(self) -> list[ContactResult]:
        """The contacts graded under both models."""
        return [c for c in self.contacts if None not in c.grades]

    def only(self, side: int) -> int:
        """How many contacts only the model on `side` graded."""
        return sum(
            1 for c in self.contacts if c.grades[side] and not c.grades[1 - side]
        )

    def transitions(self) -> Counter[tuple[str, str]]:
        """(grade under A, grade under B) -> number of contacts."""
        out: Counter[tuple[str, str]] = Counter()
        for c in self.contacts:
            a, b = c.grades
            if a is not None and b is not None:
                out[(a, b)] += 1
        return out

    def differing(self) -> int:
        """How many contacts graded by both models get different grades."""
        return sum(n for (a, b), n in self.transitions().items() if a != b)

    def distribution(self, side: int) -> Counter[str]:
        return Counter(g for c in self.contacts if (g := c.grades[side]) is not None)

    def label_totals(self) -> tuple[int, int, int]:
        """(labelled, positives, unlabelled) over all contacts."""
        labelled = [c.label for c in self.contacts if c.label is not None]
        return len(labelled), sum(labelled), len(self.contacts) - len(labelled)

    def label_report(self, side: int) -> LabelReport | None:
        if self.label is None:
            return None
        rows = [
            (g, c.label, c.fit_scores[side])
            for c in self.contacts
            if c.label is not None and (g := c.grades[side]) is not None
        ]
        by_grade = _shares((g, label) for g, label, _ in rows)
        by_letter = _shares((g[0], label) for g, label, _ in rows)
        ordered = [by_letter[k] for k in LETTERS if k in by_letter]
        spread = None
        if len(ordered) >= 2:
            best, worst = ordered[0].share, ordered[-1].share
            if best is not None and worst is not None:
                spread = best - worst
        auc = rank_auc((s, label) for _, label, s in rows if s is not None)
        return LabelReport(
            {g: by_grade[g] for g in GRADES if g in by_grade},
            {k: by_letter[k] for k in LETTERS if k in by_letter},
            spread,
            auc,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary; grades and causes always in the same order."""
        sides: list[dict[str, Any]] = []
        for i, model in enumerate(self.models):
            stats = self.stats[i]
            dist = self.distribution(i)
            side: dict[str, Any] = {
                "side": "AB"[i],
                "model_id": model.id,
                "name": model.name,
                "version": model.version,
                "source": model.source,
                "replay": {
                    "lines": stats.lines,
                    "applied": stats.applied,
                    "duplicates": stats.duplicates,
                    "rejected": stats.rejected,
                    "reasons": dict(sorted(stats.reasons.items())),
                },
                "graded_contacts": sum(dist.values()),
                "changes": self.changes[i].to_dict(),
                "distribution": {g: dist.get(g, 0) for g in GRADES},
            }
            report = self.label_report(i)
            if report is not None:
                side["label"] = report.to_dict()
            sides.append(side)

        nested: dict[str, dict[str, int]] = {}
        for (a, b), n in sorted(self.transitions().items()):
            nested.setdefault(a, {})[b] = n
        out: dict[str, Any] = {
            "as_of": format_timestamp(self.as_of),
            "contacts": len(self.contacts),
            "compared": len(self.compared()),
            "grade_differs": self.differing(),
            "models": sides,
            "transitions": nested,
        }
        if self.label is not None:
            labelled, positives, unlabelled = self.label_totals()
            out["label"] = {
                "property": self.label,
                "positive": self.positive,
                "labelled": labelled,
                "positives": positives,
                "unlabelled": unlabelled,
            }
        return out


def rank_auc(scored: Iterable[tuple[float, bool]]) -> float | None:
    """The chance that a random positive outscores a random negative.

    Computed from ranks (the Mann-Whitney form): equal scores share their
    mean rank, so a tied positive-negative pair counts one half. None when
    either class is empty, since no pair can then be compared.
    """
    # Rounded as the grades are, so float noise in a sum never splits a tie.
    items = sorted((round(score, 9), positive) for score, positive in scored)
    n_pos = sum(1 for _, positive in items if positive)
    n_neg = len(items) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None

    rank_sum = 0.0
    below = 0
    for _, group in groupby(items, key=lambda item: item[0]):
        flags = [positive for _, positive in group]
        mean_rank = below + (len(flags) + 1) / 2
        rank_sum += mean_rank * sum(flags)
        below += len(flags)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def run_backtest(
    lines: Iterable[bytes],
    model_a: Model,
    model_b: Model,
    *,
    as_of: int | None = None,
    label: str | None = None,
    positive: str | None = None,
    wall_now: int | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
) -> Backtest:
    """Replay `lines` through both models side by side and collect results.

    Each model runs in its own engine, so two versions of one model id can
    be compared; the lines are read once and fed to both in step, which
    also lets the input be a pipe. `as_of` (default: the last input's time)
    must not precede the input: decay is caught up to it, never rewound.
    """
    if (label is None) != (positive is None):
        raise ScoringError("a label needs both the property name and its value")
    replays = (
        Replay(Engine([_runnable(model_a)]), wall_now=wall_now),
        Replay(Engine([_runnable(model_b)]), wall_now=wall_now),
    )
    counts = (ChangeCounts(), ChangeCounts())

    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        reported = False
        for replay, count in zip(replays, counts, strict=True):
            result = replay.feed(line, lineno)
            if isinstance(result, Rejection):
                # Both engines decode alike, so one report per line is enough.
                if on_reject is not None and not reported:
                    on_reject(result)
                reported = True
                continue
            for change in result:
                count.add(change)

    clocks = [r.processor.now for r in replays if r.processor.now is not None]
    if not clocks:
        raise ScoringError(
            "no input line could be scored, so there is nothing to compare; "
            "check the rejected lines reported above"
        )
    clock = max(clocks)
    if as_of is None:
        as_of = clock
    elif as_of < clock:
        raise ScoringError(
            f"--as-of {format_timestamp(as_of)} is before the input's last time "
            f"{format_timestamp(clock)}; give a later instant, or cut the input "
            "file at the date you want to look at"
        )
    for replay, count in zip(replays, counts, strict=True):
        for change in replay.finish(as_of):
            count.add(change)

    return Backtest(
        models=(model_a, model_b),
        as_of=as_of,
        stats=(replays[0].stats, replays[1].stats),
        changes=counts,
        contacts=_final(replays, as_of, label, positive),
        label=label,
        positive=positive,
    )


def _runnable(model: Model) -> Model:
    # A draft is exactly what one backtests before activating it, but the
    # engine skips drafts; here it runs as a shadow model would.
    if model.status == "draft":
        return dataclasses.replace(model, status="testing")
    return model


def _final(
    replays: tuple[Replay, Replay],
    as_of: int,
    label: str | None,
    positive: str | None,
) -> list[ContactResult]:
    ids = sorted(set(replays[0].store.states) | set(replays[1].store.states))
    wanted = None if positive is None else positive.strip().casefold()
    results: list[ContactResult] = []
    for contact_id in ids:
        grades: list[str | None] = []
        fits: list[float | None] = []
        states: list[ContactState] = []
        for replay in replays:
            state = replay.store.get(contact_id)
            if state is None:
                grades.append(None)
                fits.append(None)
                continue
            states.append(state)
            scorer = replay.engine.models[0]
            fit, activity = scorer.scores(state, as_of)
            mark = state.grades.get(scorer.model.id)
            grades.append(
                scorer.grade_scores(fit, activity, mark.grade if mark else None)
            )
            fits.append(fit)

        flag: bool | None = None
        if label is not None and wanted is not None:
            # Properties do not depend on the model, so either state will do.
            value = states[0].property_values().get(label)
            text = "" if value is None else str(value).strip().casefold()
            flag = None if text == "" else text == wanted
        results.append(
            ContactResult(contact_id, (grades[0], grades[1]), (fits[0], fits[1]), flag)
        )
    return results


def _shares(pairs: Iterable[tuple[str, bool]]) -> dict[str, Share]:
    contacts: Counter[str] = Counter()
    positives: Counter[str] = Counter()
    for key, flag in pairs:
        contacts[key] += 1
        positives[key] += flag
    return {k: Share(n, positives[k]) for k, n in contacts.items()}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
