"""A conservative static test for regexes that could backtrack exponentially."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

_QUANTIFIER = re.compile(r"\{(\d*)(,?)(\d*)\}")
_NON_LITERAL_ESCAPES = set("dDwWsSbBAZxuUNg0123456789")


@dataclass
class _Group:
    """What has been seen inside one open group so far."""

    quantified_inside: bool = False
    ambiguous_inside: bool = False
    alternatives: list[str | None] = field(default_factory=list)
    current: str | None = ""

    def close_alternative(self) -> None:
        self.alternatives.append(self.current)
        self.current = ""

    def literal(self, char: str) -> None:
        if self.current is not None:
            self.current += char.casefold()


def _prefix_free(alternatives: list[str | None]) -> bool:
    texts = [a for a in alternatives if a is not None]
    if len(texts) != len(alternatives):
        return False
    texts.sort()
    return all(not b.startswith(a) for a, b in itertools.pairwise(texts))


def _quantifier_at(pattern: str, i: int) -> tuple[int, bool, bool] | None:
    """(length, repeats more than once, is not an exact count) at pattern[i]."""
    char = pattern[i]
    if char in "*+":
        return 1, True, True
    if char == "?":
        return 1, False, True
    if char == "{":
        match = _QUANTIFIER.match(pattern, i)
        if match is None or not (match.group(1) or match.group(3)):
            return None
        low, comma, high = match.groups()
        if not comma:
            return match.end() - i, int(low) > 1, False
        repeats = not high or int(high) > 1
        return match.end() - i, repeats, True
    return None


def _skip_class(pattern: str, i: int) -> int:
    """Index just after the character class opening at pattern[i]."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _group_opening(pattern: str, i: int) -> tuple[int, bool]:
    """(index after the opening, whether it opens a group) for pattern[i] == '('."""
    if not pattern.startswith("(?", i):
        return i + 1, True
    rest = pattern[i + 2 :]
    if rest[:1] in (":", "=", "!", ">"):
        return i + 3, True
    if rest[:2] in ("<=", "<!"):
        return i + 4, True
    if rest.startswith("P<"):
        return pattern.index(">", i) + 1, True
    if rest.startswith(("P=", "#")):
        return pattern.index(")", i) + 1, False
    if rest.startswith("("):
        return pattern.index(")", i) + 1, True
    flags = re.match(r"[-aiLmsux]*", rest)
    end = i + 2 + (flags.end() if flags else 0)
    if pattern[end : end + 1] == ")":
        return end + 1, False
    return end + 1, True


def backtracking_risk(pattern: str) -> str:
    """Why `pattern` may backtrack exponentially, or '' if it looks safe.

    The pattern must already compile with `re`.

    Python's `re` engine backtracks, so a repeated group that can match the same
    text in several ways (`(a+)+`, `(a*)*`, `(a|a)*`, `(a|ab)*`) can take
    exponential time on a crafted URL. Rule values come from model authors, but
    the texts they run on come from the public, so such patterns are refused.

    The test is deliberately simple and errs on the side of refusing:

    - a group repeated by `*`, `+`, `{n,}` or `{n,m}` (m > 1) must not contain
      any quantifier other than an exact `{n}`, at any depth; and
    - a group containing alternation, at any depth inside such a repeated
      group, is accepted only when every alternative is plain literal text and
      no alternative is a prefix of another (ignoring case), as in
      `(?:blog|files)+`.

    It does not catch polynomial blow-ups such as `.*.*.*x`; those stay bounded
    by the length of a URL.
    """
    stack = [_Group()]
    last: _Group | None = None  # the group that just closed, if the last atom
    i = 0
    while i < len(pattern):
        char = pattern[i]
        top = stack[-1]
        quantifier = _quantifier_at(pattern, i)
        if quantifier is not None:
            length, repeats, varies = quantifier
            if last is not None and repeats:
                if last.quantified_inside:
                    return "a quantifier inside a repeated group"
                if last.ambiguous_inside:
                    return "alternatives that overlap inside a repeated group"
            top.quantified_inside = top.quantified_inside or varies
            top.current = None
            last = None
            i += length
            if i < len(pattern) and pattern[i] in "?+":
                i += 1
            continue

        last = None
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped in _NON_LITERAL_ESCAPES:
                top.current = None
            else:
                top.literal(escaped)
            i += 2
        elif char == "[":
            top.current = None
            i = _skip_class(pattern, i)
        elif char == "(":
            i, opens = _group_opening(pattern, i)
            top.current = None
            if opens:
                stack.append(_Group())
        elif char == ")" and len(stack) > 1:
            group = stack.pop()
            group.close_alternative()
            if len(group.alternatives) > 1 and not _prefix_free(group.alternatives):
                group.ambiguous_inside = True
            parent = stack[-1]
            parent.quantified_inside |= group.quantified_inside
            parent.ambiguous_inside |= group.ambiguous_inside
            last = group
            i += 1
        elif char == "|":
            top.close_alternative()
            i += 1
        else:
            if char in ".^$":
                top.current = None
            else:
                top.literal(char)
            i += 1
    return ""
