"""Grades: fit letter and activity digit from scores, with hysteresis."""

from __future__ import annotations

from collections.abc import Sequence

LETTERS = "ABCD"
DIGITS = "1234"
# Cut points and scores are compared at this many decimals, so float noise
# (13.6 + 6 + 5.4 = 24.999999999999996) never moves a grade.
COMPARE_DECIMALS = 9


def level(
    score: float,
    cuts: Sequence[float],
    hysteresis: float = 0.0,
    previous: int | None = None,
) -> int:
    """0 (best) .. 3 (worst) for `score` against three descending cut points.

    With a previous level, the score moves up as soon as it reaches a cut
    point, but moves down past each cut point only once it is below that
    cut point minus the hysteresis.
    """
    s = round(score, COMPARE_DECIMALS)
    plain = 0
    while plain < 3 and s < round(cuts[plain], COMPARE_DECIMALS):
        plain += 1
    if previous is None or plain <= previous or hysteresis <= 0:
        return plain
    lowered = previous
    while lowered < 3 and s < round(cuts[lowered] - hysteresis, COMPARE_DECIMALS):
        lowered += 1
    return lowered


def grade_of(
    fit: float,
    activity: float,
    fit_cuts: Sequence[float],
    activity_cuts: Sequence[float],
    hysteresis: float = 0.0,
    previous: str | None = None,
) -> str:
    """The two-character grade, e.g. 'B2'."""
    prev_fit = LETTERS.index(previous[0]) if previous else None
    prev_act = DIGITS.index(previous[1]) if previous else None
    letter = LETTERS[level(fit, fit_cuts, hysteresis, prev_fit)]
    digit = DIGITS[level(activity, activity_cuts, hysteresis, prev_act)]
    return letter + digit


class Grader:
    """`grade_of` for one model, with its cut points rounded once."""

    __slots__ = ("_act", "_act_low", "_fit", "_fit_low", "_hysteresis")

    def __init__(
        self,
        fit_cuts: Sequence[float],
        activity_cuts: Sequence[float],
        hysteresis: float = 0.0,
    ) -> None:
        self._fit = tuple(round(c, COMPARE_DECIMALS) for c in fit_cuts)
        self._act = tuple(round(c, COMPARE_DECIMALS) for c in activity_cuts)
        self._fit_low = tuple(round(c - hysteresis, COMPARE_DECIMALS) for c in fit_cuts)
        self._act_low = tuple(
            round(c - hysteresis, COMPARE_DECIMALS) for c in activity_cuts
        )
        self._hysteresis = hysteresis > 0

    def grade(self, fit: float, activity: float, previous: str | None) -> str:
        """The same grade as grade_of() with this model's cut points."""
        if previous is None or not self._hysteresis:
            return LETTERS[_plain(fit, self._fit)] + DIGITS[_plain(activity, self._act)]
        return (
            LETTERS[_held(fit, self._fit, self._fit_low, LETTERS.index(previous[0]))]
            + DIGITS[
                _held(activity, self._act, self._act_low, DIGITS.index(previous[1]))
            ]
        )


def _plain(score: float, cuts: tuple[float, ...]) -> int:
    # Written as `not <` so that it agrees with level() for every float.
    s = round(score, COMPARE_DECIMALS)
    if not s < cuts[0]:
        return 0
    if not s < cuts[1]:
        return 1
    return 3 if s < cuts[2] else 2


def _held(
    score: float, cuts: tuple[float, ...], lowered: tuple[float, ...], previous: int
) -> int:
    plain = _plain(score, cuts)
    if plain <= previous:
        return plain
    s = round(score, COMPARE_DECIMALS)
    level = previous
    while level < 3 and s < lowered[level]:
        level += 1
    return level
