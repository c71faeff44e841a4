"""The static check that refuses regexes prone to exponential backtracking."""

from __future__ import annotations

import pytest

from stream.model.regex_safety import backtracking_risk

RISKY = [
    "(a+)+",
    "(a*)*",
    "(a|a)*",
    "(a|ab)*",
    "^/(x+y?)+$",
    "((a)+)*",
    "(a{1,3})*",
    "(.|x)+",
    "(ab|)*",
    "(?:[a-z]+/)*end",
    "(?P<p>\\d+\\.)+",
    "(a(?:b|bc))+",
]

SAFE = [
    "^/presentations/[^/?]+/$",
    "^/blog/.+\\.html$",
    "(foo|bar)+",
    "(?:/blog/|/files/)+",
    "(a+)?",
    "(a{2})*",
    "x{2,}",
    "[(]+",
    "\\(a+\\)+",
    "(?i)(x|y)*",
    "(a(b+))c*",
]


@pytest.mark.parametrize("pattern", RISKY)
def test_risky_patterns_are_refused(pattern: str) -> None:
    assert backtracking_risk(pattern)


@pytest.mark.parametrize("pattern", SAFE)
def test_safe_patterns_pass(pattern: str) -> None:
    assert backtracking_risk(pattern) == ""
