"""The scoring engine: applies one input to one contact's state and says
which grades changed. Pure: the caller passes `now` and owns the state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stream.errors import InputError
from stream.messages import ActivityEvent, InputMessage, PropertyChange
from stream.model.types import Model
from stream.scoring.activity import ActivityResult, ActivityScorer
from stream.scoring.changes import Cause, ScoreChange
from stream.scoring.fit import FitResult, FitScorer
from stream.scoring.grades import Grader
from stream.scoring.matching import (
    DEFAULT_REGEX_TIMEOUT_S,
    FieldGetter,
    category_fields,
    field_getter,
)
from stream.scoring.periods import PeriodClock
from stream.state import ContactState, GradeMark, event_token, id_window_end

_NOTHING: frozenset[str] = frozenset()
# Bounds the per-kind cache of which counters an event's rule fields match.
_MATCH_CACHE_SIZE = 8192


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A contact's scores under one model at one instant, with the why."""

    fit_score: float
    activity_score: float
    fit: tuple[FitResult, ...]
    activity: tuple[ActivityResult, ...]

    def breakdown(self) -> dict[str, Any]:
        return {
            "fit": [r.to_dict() for r in self.fit],
            "activity": [r.to_dict() for r in self.activity],
        }


class ModelScorer:
    """One running model: its fit and activity scorers and grade rules."""

    def __init__(
        self, model: Model, regex_timeout: float = DEFAULT_REGEX_TIMEOUT_S
    ) -> None:
        self.model = model
        self.fit = tuple(FitScorer(c) for c in model.fit)
        self.activity = tuple(
            ActivityScorer(model, c, regex_timeout) for c in model.activity
        )
        self.keys = frozenset(a.key for a in self.activity)
        self.properties = frozenset(p for c in model.fit for p in c.mappings)
        self.shadow = model.status == "testing"
        self.grader = Grader(
            model.fit_thresholds, model.activity_thresholds, model.hysteresis
        )

    def scores(self, state: ContactState, now: int) -> tuple[float, float]:
        """(fit, activity) without the breakdown; equal to evaluate()'s."""
        return self.fit_score(state), self.activity_score(state, now)

    def fit_score(self, state: ContactState) -> float:
        # sum() as in evaluate(), so both give the same float to the last bit.
        properties = state.properties
        fit_score = sum([f.points(properties) for f in self.fit])
        return max(-100.0, min(100.0, fit_score))

    def activity_score(self, state: ContactState, now: int) -> float:
        counters = state.counters
        activity_score = sum(
            [a.points(counters.get(a.key), now) for a in self.activity]
        )
        return max(0.0, min(100.0, activity_score))

    def evaluate(self, state: ContactState, now: int) -> Evaluation:
        values = state.property_values()
        fit = tuple(f.score(values) for f in self.fit)
        activity = tuple(a.score(state.counters.get(a.key), now) for a in self.activity)
        # Clamped to the documented ranges; weights summing to 100 with
        # scores in [-100, 100] keep them there anyway.
        fit_score = max(-100.0, min(100.0, sum(r.points for r in fit)))
        activity_score = max(0.0, min(100.0, sum(r.points for r in activity)))
        return Evaluation(fit_score, activity_score, fit, activity)

    def grade(self, evaluation: Evaluation, previous: str | None) -> str:
        return self.grade_scores(
            evaluation.fit_score, evaluation.activity_score, previous
        )

    def grade_scores(self, fit: float, activity: float, previous: str | None) -> str:
        return self.grader.grade(fit, activity, previous)


@dataclass(slots=True)
class Outcome:
    """What applying one input did."""

    changes: list[ScoreChange] = field(default_factory=list)
    duplicate: bool = False
    counted: int = 0


class Engine:
    """Scores contacts under every non-draft model."""

    def __init__(
        self,
        models: Sequence[Model],
        *,
        regex_timeout: float = DEFAULT_REGEX_TIMEOUT_S,
    ) -> None:
        self.regex_timeout = regex_timeout
        self.models = tuple(
            ModelScorer(m, regex_timeout) for m in models if m.status != "draft"
        )
        # Categories with the same counter key share one matcher and counter.
        self._counters: dict[str, ActivityScorer] = {}
        self._periods: dict[str, int] = {}
        for ms in self.models:
            for a in ms.activity:
                self._counters.setdefault(a.key, a)
                self._periods[a.key] = max(
                    self._periods.get(a.key, 0), a.category.periods
                )
        self._by_kind: dict[str, tuple[ActivityScorer, ...]] = {
            kind: tuple(a for a in self._counters.values() if a.category.event == kind)
            for kind in ("page_visit", "conversion")
        }
        # Which counters an event matches depends only on the text of the
        # fields its kind's rules read, and a stream repeats those (the same
        # pages, the same conversion names) far more than it varies them.
        self._match_fields: dict[str, tuple[FieldGetter, ...]] = {
            kind: tuple(
                field_getter(name)
                for name in sorted(
                    {f for a in scorers for f in category_fields(a.category)}
                )
            )
            for kind, scorers in self._by_kind.items()
        }
        self._match_cache: dict[str, dict[tuple[str | None, ...], Any]] = {
            kind: {} for kind in self._by_kind
        }
        self._clocks = {key: a.clock for key, a in self._counters.items()}
        self._model_ids = frozenset(m.model.id for m in self.models)
        self.retention_ms = max(
            (a.retention_ms for a in self._counters.values()), default=0
        )
        self.future_tolerance_ms = int(
            max((m.model.future_tolerance_seconds for m in self.models), default=300)
            * 1000
        )

    def clock_of(self, key: str) -> PeriodClock:
        return self._counters[key].clock

    # -- inputs ---------------------------------------------------------------

    def check(self, msg: InputMessage, now: int) -> tuple[ActivityScorer, ...]:
        """Reject `msg` at `now` (InputError), else the activity counters it
        matches. Changes nothing, so a rejection leaves no trace anywhere."""
        if msg.timestamp > now + self.future_tolerance_ms:
            raise InputError(
                "timestamp_in_future",
                f"timestamp is {(msg.timestamp - now) / 1000:.0f} s ahead of the "
                f"scoring clock (tolerance {self.future_tolerance_ms / 1000:.0f} s); "
                "check the producer's clock or time zone",
            )
        if not isinstance(msg, ActivityEvent):
            return ()
        kind = msg.kind
        key = tuple([get(msg) for get in self._match_fields[kind]])
        cache = self._match_cache[kind]
        hits: tuple[ActivityScorer, ...] | None = cache.get(key)
        if hits is None:
            # Every rule runs before any counter moves: a regex rule that
            # gives up half-way through the categories must not leave the
            # earlier ones counted (and an input that fails is not cached).
            hits = tuple(s for s in self._by_kind[kind] if s.matches(msg))
            if len(cache) >= _MATCH_CACHE_SIZE:
                cache.clear()
            cache[key] = hits
        return hits

    def apply(
        self,
        state: ContactState,
        contact_id: str,
        msg: InputMessage,
        now: int,
        hits: tuple[ActivityScorer, ...] | None = None,
    ) -> Outcome:
        """Apply one decoded input at processing time `now` (epoch ms).

        `hits` is what `check(msg, now)` returned, when the caller ran it.
        """
        if hits is None:
            hits = self.check(msg, now)
        # No pruning here: contacts with live activity are re-graded, and
        # pruned, at every period boundary by the decay schedule, which keeps
        # the per-event path short.
        outcome = Outcome()

        event = isinstance(msg, ActivityEvent)
        matched: set[str] | frozenset[str]
        changed: set[str] | frozenset[str]
        if isinstance(msg, ActivityEvent):
            matched = self._count(state, msg, now, outcome, hits)
            if outcome.duplicate:
                return outcome
            changed = _NOTHING
            cause: Cause = "event"
        else:
            matched = _NOTHING
            changed = self._set_properties(state, msg)
            cause = "property_change"

        grades = state.grades
        if event and not matched and grades.keys() >= self._model_ids:
            # Nothing counted and every model already graded: no grade moves.
            return outcome
        for scorer in self.models:
            if event:
                unaffected = scorer.keys.isdisjoint(matched)
            else:
                unaffected = scorer.properties.isdisjoint(changed)
            if unaffected and scorer.model.id in grades:
                continue
            # A property change may have moved this model's fit: no reuse.
            grade = self._moved(scorer, state, now, reuse_fit=event)
            if grade is None:
                continue
            # Built only for an actual change: most inputs move no grade.
            trigger: dict[str, Any]
            if isinstance(msg, ActivityEvent):
                trigger = {
                    "event_id": msg.event_id,
                    "kind": msg.kind,
                    "categories": [
                        a.category.name for a in scorer.activity if a.key in matched
                    ],
                }
            else:
                trigger = {"properties": sorted(scorer.properties & changed)}
            outcome.changes.append(
                self._change(scorer, state, contact_id, now, cause, trigger, grade)
            )
        return outcome

    def _count(
        self,
        state: ContactState,
        event: ActivityEvent,
        now: int,
        outcome: Outcome,
        hits: tuple[ActivityScorer, ...],
    ) -> set[str] | frozenset[str]:
        seen = state.seen
        token = event_token(event.event_id) if seen or hits else 0
        if seen and token in seen:
            outcome.duplicate = True
            return _NOTHING
        if not hits:
            return _NOTHING
        matched: set[str] = set()
        periods = self._periods
        counters = state.counters
        for scorer in hits:
            key = scorer.key
            clock = scorer.clock
            current = clock.bucket(now)
            # Within the future tolerance an event counts in the current period.
            bucket = min(clock.bucket(event.timestamp), current)
            if current - bucket >= periods[key]:
                continue
            counts = counters.get(key)
            if counts is None:
                counts = counters[key] = {}
            counts[bucket] = counts.get(bucket, 0) + 1
            matched.add(key)
        if matched:
            seen[token] = event.timestamp
            outcome.counted = 1
        return matched

    @staticmethod
    def _set_properties(state: ContactState, change: PropertyChange) -> set[str]:
        changed: set[str] = set()
        ts = change.timestamp
        for name, value in change.properties.items():
            stored = state.properties.get(name)
            # Last writer wins per property by timestamp; a late, older
            # change (including an older clear) never overwrites a newer one.
            if stored is not None and stored[1] > ts:
                continue
            if stored is None or stored[0] != value or stored[1] != ts:
                state.properties[name] = (value, ts)
                changed.add(name)
        return changed

    # -- time -----------------------------------------------------------------

    def prune(self, state: ContactState, now: int) -> None:
        """Forget expired periods and event ids that can no longer count."""
        for key in list(state.counters):
            scorer = self._counters.get(key)
            if scorer is None:
                # No running model counts this any more (model removed).
                del state.counters[key]
                continue
            oldest = scorer.clock.bucket(now) - self._periods[key] + 1
            counts = state.counters[key]
            for bucket in [b for b in counts if b < oldest]:
                del counts[bucket]
            if not counts:
                del state.counters[key]
        if state.seen:
            # Ids go a storage window at a time (see stream.state), never
            # before the event behind them has expired.
            horizon = now - self.retention_ms
            for token in [
                t for t, ts in state.seen.items() if id_window_end(ts) < horizon
            ]:
                del state.seen[token]

    def next_due(self, state: ContactState, after: int) -> int | None:
        """The next period boundary after `after` that can move a grade."""
        due: int | None = None
        clocks = self._clocks
        for key, counts in state.counters.items():
            clock = clocks.get(key)
            if clock is None or not counts:
                continue
            boundary = clock.next_boundary(after)
            if due is None or boundary < due:
                due = boundary
        if due is None and state.seen:
            # Counts have expired but ids are kept a period longer; one more
            # visit from the schedule forgets them, so the record shrinks.
            latest = id_window_end(max(state.seen.values()))
            due = max(after + 1, latest + self.retention_ms + 1)
        return due

    # -- grading --------------------------------------------------------------

    def regrade(
        self,
        state: ContactState,
        contact_id: str,
        now: int,
        cause: Cause,
        model_ids: Iterable[str] | None = None,
    ) -> list[ScoreChange]:
        """Re-grade at `now` (decay or model change); returns the changes."""
        wanted = set(model_ids) if model_ids is not None else None
        moved = self._boundary_keys(state, now) if cause == "decay" else None
        self.prune(state, now)
        changes = []
        grades = state.grades
        for scorer in self.models:
            model = scorer.model
            if wanted is not None and model.id not in wanted:
                continue
            if moved is not None and scorer.keys.isdisjoint(moved):
                # None of this model's live counts changes period at `now`,
                # so its scores are those it was last graded with: the decay
                # schedule visits every boundary of every live count, and an
                # input that changes its scores grades it on the spot.
                mark = grades.get(model.id)
                if mark is not None and mark.version == model.version:
                    continue
            change = self._regrade_one(scorer, state, contact_id, now, cause, None)
            if change is not None:
                changes.append(change)
        return changes

    def _boundary_keys(self, state: ContactState, now: int) -> set[str]:
        """The live counters whose period changes at instant `now`."""
        clocks = self._clocks
        moved: set[str] = set()
        for key, counts in state.counters.items():
            clock = clocks.get(key)
            if (
                clock is not None
                and counts
                and clock.bucket_start(clock.bucket(now)) == now
            ):
                moved.add(key)
        return moved

    def _regrade_one(
        self,
        scorer: ModelScorer,
        state: ContactState,
        contact_id: str,
        now: int,
        cause: Cause,
        trigger: dict[str, Any] | None,
    ) -> ScoreChange | None:
        # Time and model changes never touch properties; a changed model
        # has a new version, which the kept fit score does not match.
        grade = self._moved(scorer, state, now, reuse_fit=True)
        if grade is None:
            return None
        return self._change(scorer, state, contact_id, now, cause, trigger, grade)

    @staticmethod
    def _moved(
        scorer: ModelScorer, state: ContactState, now: int, reuse_fit: bool
    ) -> str | None:
        """The new grade if it differs from the last one announced, else None.

        With `reuse_fit`, the caller knows the properties did not change
        since the fit score kept in the grade mark was computed.
        """
        model = scorer.model
        mark = state.grades.get(model.id)
        if mark is None:
            fit = scorer.fit_score(state)
            return scorer.grader.grade(fit, scorer.activity_score(state, now), None)
        if reuse_fit and mark.fit is not None and mark.version == model.version:
            fit = mark.fit
        else:
            fit = scorer.fit_score(state)
        previous = mark.grade
        grade = scorer.grader.grade(fit, scorer.activity_score(state, now), previous)
        if grade == previous:
            mark.version = model.version
            mark.fit = fit
            return None
        return grade

    @staticmethod
    def _change(
        scorer: ModelScorer,
        state: ContactState,
        contact_id: str,
        now: int,
        cause: Cause,
        trigger: dict[str, Any] | None,
        grade: str,
    ) -> ScoreChange:
        """Record `grade` as announced and describe the change, with the why."""
        model = scorer.model
        mark = state.grades.get(model.id)
        evaluation = scorer.evaluate(state, now)
        seq = mark.seq + 1 if mark else 1
        state.grades[model.id] = GradeMark(
            grade, seq, model.version, evaluation.fit_score, cause
        )
        return ScoreChange(
            contact_id=contact_id,
            model_id=model.id,
            model_version=model.version,
            previous_grade=mark.grade if mark else None,
            grade=grade,
            fit_score=evaluation.fit_score,
            activity_score=evaluation.activity_score,
            breakdown=evaluation.breakdown(),
            cause=cause,
            recommended_action=model.action_for(grade),
            seq=seq,
            as_of=now,
            trigger=trigger,
            shadow=scorer.shadow,
        )

    def evaluate(self, state: ContactState, now: int) -> dict[str, Evaluation]:
        """Scores under every model at `now`, without changing the state."""
        return {m.model.id: m.evaluate(state, now) for m in self.models}

    def current_grade(self, scorer: ModelScorer, state: ContactState, now: int) -> str:
        mark = state.grades.get(scorer.model.id)
        return scorer.grade(scorer.evaluate(state, now), mark.grade if mark else None)
