"""Hashing or dropping the query string and fragment of the URLs in inputs.

Query strings are where personal data hides in a URL (an e-mail address
in `?email=`, a search term, a session or reset token), and the engine
scores paths, not queries. With `url_query` set to `hash` or `drop`, the
decoder rewrites `url` and `referrer` before any rule sees them, so
nothing downstream (scoring, state, score changes, the replayed inputs of
a restart) ever holds the original query.

`hash` keeps queries comparable without keeping them readable: each is
replaced by a token from HMAC-SHA-256 under a secret key. A plain SHA-256
would be reversible for the queries that matter most, since anyone with
the topic can hash a list of candidate e-mail addresses and compare.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from stream import jsonutil
from stream.errors import InputError
from stream.model.types import Model, Rule

UrlQuery = Literal["keep", "hash", "drop"]
URL_QUERY_MODES: tuple[UrlQuery, ...] = ("keep", "hash", "drop")

# The input fields that hold a URL the visitor's browser sent.
URL_FIELDS = ("url", "referrer")

# The HMAC key must be unguessable, or the tokens are as weak as plain hashes.
MIN_KEY_LENGTH = 16
# 128 bits of the HMAC: no two real queries collide, and the URL stays short.
TOKEN_HEX_DIGITS = 32
TOKEN_PREFIX = "hash="

# In bytes that are not a JSON object, a query or fragment runs from its
# `?` or `#` to the first quote, blank, angle bracket or control byte: the
# characters that end a URL inside JSON, HTML or a log line.
_RAW_TAIL = re.compile(rb"([?#])[^\s\"'<>\x00-\x1f\x7f]+")
RAW_REDACTED = b"redacted"


def redact_url(url: str, mode: UrlQuery, key: bytes) -> str:
    """`url` with its query and fragment hashed (`hash`) or removed (`drop`).

    The query is what follows the first `?` before any `#`; the fragment
    what follows the first `#`. An empty query or fragment stays empty.
    """
    if mode == "keep" or ("?" not in url and "#" not in url):
        return url

    head, hash_mark, fragment = url.partition("#")
    path, question_mark, query = head.partition("?")
    if mode == "drop":
        return path

    out = path
    if question_mark:
        out += "?" + (_token(b"?", query, key) if query else "")
    if hash_mark:
        out += "#" + (_token(b"#", fragment, key) if fragment else "")
    return out


def redact_fields(fields: dict[str, str], mode: UrlQuery, key: bytes) -> None:
    """Rewrite the URL fields of a decoded event's `fields` in place."""
    for name in URL_FIELDS:
        value = fields.get(name)
        if value is not None:
            fields[name] = redact_url(value, mode, key)


def redact_message(value: bytes, mode: UrlQuery, key: bytes, parse_limit: int) -> bytes:
    """A rejected message's bytes with query strings hashed or removed.

    A JSON object (at most `parse_limit` bytes) gets exactly the decoder's
    treatment of its URL fields and is re-encoded; other fields are left
    alone. Anything else (not JSON, not UTF-8, a list...) cannot be read
    field by field, so every `?` or `#` run is replaced by `redacted`.
    The bytes come back unchanged when there was nothing to redact.
    """
    if mode == "keep":
        return value
    if len(value) <= parse_limit:
        try:
            obj: Any = jsonutil.loads(value)
        except InputError:
            obj = None
        if isinstance(obj, dict):
            return _redact_object(value, obj, mode, key)
    return _RAW_TAIL.sub(rb"\1" + RAW_REDACTED, value)


def rule_reads_query(rule: Rule) -> bool:
    """Does this rule look at a URL's query or fragment?

    Such a rule sees only the hashed or shortened URL when `url_query` is
    not `keep`, so it stops matching. A `?` in a glob or a regex is
    usually a wildcard or a quantifier; only a literal one counts there.
    """
    if rule.field not in URL_FIELDS or rule.op == "exists":
        return False
    if rule.op == "regex":
        return any(_regex_has_literal_mark(v) for v in rule.values)
    return any("?" in v or "#" in v for v in rule.values)


def query_rule_warnings(models: Sequence[Model], mode: UrlQuery) -> list[str]:
    """One line per rule that cannot match as written under `mode`."""
    if mode == "keep":
        return []
    done = "hashed" if mode == "hash" else "removed"
    out = []
    for model in models:
        for where, rule in _rules(model):
            if rule_reads_query(rule):
                out.append(
                    f"{model.source}: {where} ({rule.field} {rule.op} "
                    f"{list(rule.values)}) looks at the query or fragment, which "
                    f"url_query={mode} has {done} before rules run: it will not "
                    "match as written"
                )
    return out


def _token(domain: bytes, part: str, key: bytes) -> str:
    # The domain byte keeps a query and a fragment of equal text apart.
    data = domain + part.encode("utf-8", "surrogatepass")
    digest = hmac.new(key, data, hashlib.sha256).hexdigest()
    return TOKEN_PREFIX + digest[:TOKEN_HEX_DIGITS]


def _redact_object(
    value: bytes, obj: dict[str, Any], mode: UrlQuery, key: bytes
) -> bytes:
    changed = False
    for name in URL_FIELDS:
        url = obj.get(name)
        if isinstance(url, str):
            redacted = redact_url(url, mode, key)
            if redacted != url:
                obj[name] = redacted
                changed = True
    return jsonutil.dumps(obj) if changed else value


def _rules(model: Model) -> Iterator[tuple[str, Rule]]:
    for i, category in enumerate(model.activity):
        for j, rule in enumerate(category.rules):
            yield f"activity[{i}] {category.name!r} rules[{j}]", rule
        for j, group in enumerate(category.any or ()):
            for k, rule in enumerate(group):
                yield f"activity[{i}] {category.name!r} any[{j}][{k}]", rule


def _regex_has_literal_mark(pattern: str) -> bool:
    """A `?` or `#` the regex matches literally: escaped, in a character
    class that is not negated, or (for `#`) anywhere outside one."""
    in_class = negated = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if pattern[i + 1 : i + 2] in ("?", "#") and not (in_class and negated):
                return True
            i += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            elif char in "?#" and not negated:
                return True
        elif char == "[":
            in_class = True
            negated = pattern[i + 1 : i + 2] == "^"
            # A `]` right after `[` or `[^` is a literal member.
            i += 2 if negated else 1
            if pattern[i : i + 1] == "]":
                i += 1
            continue
        elif char == "#":
            return True
        i += 1
    return False
