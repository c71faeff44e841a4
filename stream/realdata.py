"""Derive a replay file from the real access log and telco table (docs/data.md)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream import jsonutil
from stream.decode import encode_message
from stream.messages import ActivityEvent, InputMessage, PropertyChange

log = logging.getLogger(__name__)

ACCESS_LOG = "access_log_2015.txt"
TELCO_TABLE = "telco_customers.csv"

# Only the fields a visit needs are read; a user agent cut off mid-string
# (the log has one) therefore does not cost the whole visit.
_LOG_LINE = re.compile(
    r"(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?:\d+|-)'
    r'(?: "(?P<referrer>(?:[^"\\]|\\.)*)")?'
)
_LOG_TIME = re.compile(
    r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"
)
# Month names are fixed English abbreviations in the log, whatever the locale.
_MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip
_FEED_FLAVOURS = ("flav=rss20", "flav=atom")
# A talk's slide deck: /presentations/<talk>/ and nothing below it.
_TALK = re.compile(r"/presentations/[^/]+/")


@dataclass(frozen=True)
class Stats:
    """What a build read and produced, so nothing is dropped unnoticed."""

    log_lines: int
    unparsed_lines: tuple[int, ...]
    page_visits: int
    conversions: dict[str, int]
    property_changes: int
    visitors: int
    telco_rows: int
    visitors_with_properties: int
    property_only_contacts: int
    first_timestamp: int
    last_timestamp: int
    records: int


@dataclass(frozen=True, slots=True)
class _Visit:
    lineno: int
    client: str
    timestamp: int
    method: str
    target: str
    status: str
    referrer: str | None


def default_data_dir() -> Path:
    """SCORESTREAM_SAMPLE_DATA if set, else the shared data folder beside the repo."""
    env = os.environ.get("SCORESTREAM_SAMPLE_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def build_replay(
    data_dir: Path | str | None = None,
    *,
    shift_to: int | None = None,
    stretch: float = 1.0,
) -> Iterator[dict[str, Any]]:
    """Replay lines (dicts with `type`) in timestamp order; see `write_replay`."""
    records, _ = _build(_resolve(data_dir), shift_to, stretch)
    yield from records


def write_replay(
    path: Path | str,
    data_dir: Path | str | None = None,
    *,
    shift_to: int | None = None,
    stretch: float = 1.0,
) -> Stats:
    """Write the replay JSONL file to `path` and say what went into it.

    `shift_to` (epoch ms) moves every timestamp so the log ends at that
    instant; `stretch` multiplies the spacing between events (8.0 spreads
    the log's 3.5 days over four weeks). Relative order never changes.
    """
    records, stats = _build(_resolve(data_dir), shift_to, stretch)
    with open(path, "wb") as out:
        for record in records:
            out.write(jsonutil.dumps(record))
            out.write(b"\n")
    return stats


def _resolve(data_dir: Path | str | None) -> Path:
    folder = default_data_dir() if data_dir is None else Path(data_dir)
    for name in (ACCESS_LOG, TELCO_TABLE):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder / name} not found; point SCORESTREAM_SAMPLE_DATA at the "
                f"folder holding {ACCESS_LOG} and {TELCO_TABLE}"
            )
    return folder


def _build(
    folder: Path, shift_to: int | None, stretch: float
) -> tuple[list[dict[str, Any]], Stats]:
    if not stretch > 0:
        raise ValueError(f"stretch must be a positive factor, not {stretch}")

    visits, lines, unparsed = _read_log(folder / ACCESS_LOG)
    if not visits:
        raise ValueError(f"{folder / ACCESS_LOG}: no line could be read as a visit")
    if unparsed:
        log.warning(
            "%d of %d access log lines could not be read (line numbers %s)",
            len(unparsed),
            lines,
            ", ".join(map(str, unparsed[:10])),
        )
    rows = _read_telco(folder / TELCO_TABLE)

    first = min(v.timestamp for v in visits)
    last = max(v.timestamp for v in visits)
    retime = _retimer(first, last, shift_to, stretch)

    # (timestamp, group, order): property changes sort before the log's
    # records at equal timestamps, so a visit is scored with its contact's
    # properties; ties within a group keep their source order.
    keyed: list[tuple[tuple[int, int, tuple[int, int]], InputMessage]] = []
    conversions: Counter[str] = Counter()
    first_visit: dict[str, int] = {}
    for visit in visits:
        when = retime(visit.timestamp)
        if when < first_visit.get(visit.client, when + 1):
            first_visit[visit.client] = when
        for sub, message in enumerate(_messages(visit, when)):
            if message.kind == "conversion":
                conversions[message.fields["name"]] += 1
            keyed.append(((when, 1, (visit.lineno, sub)), message))

    visitors = sorted(first_visit)
    paired = min(len(visitors), len(rows))
    start = retime(first)
    for index, row in enumerate(rows):
        contact = visitors[index] if index < paired else row["customerID"]
        when = first_visit[contact] if index < paired else start
        change = PropertyChange(contact, when, _contact_properties(row))
        keyed.append(((when, 0, (index, 0)), change))

    keyed.sort(key=lambda pair: pair[0])
    records = [encode_message(message, with_type=True) for _, message in keyed]
    stats = Stats(
        log_lines=lines,
        unparsed_lines=tuple(unparsed),
        page_visits=len(visits),
        conversions=dict(sorted(conversions.items())),
        property_changes=len(rows),
        visitors=len(visitors),
        telco_rows=len(rows),
        visitors_with_properties=paired,
        property_only_contacts=len(rows) - paired,
        first_timestamp=records[0]["timestamp"],
        last_timestamp=records[-1]["timestamp"],
        records=len(records),
    )
    return records, stats


def _read_log(path: Path) -> tuple[list[_Visit], int, list[int]]:
    visits: list[_Visit] = []
    unparsed: list[int] = []
    lineno = 0
    with open(path, encoding="utf-8", errors="replace") as lines:
        for lineno, line in enumerate(lines, start=1):
            visit = _parse_log_line(lineno, line.rstrip("\r\n"))
            if visit is None:
                unparsed.append(lineno)
            else:
                visits.append(visit)
    return visits, lineno, unparsed


def _parse_log_line(lineno: int, line: str) -> _Visit | None:
    """One access log line as a visit, or None when it is not a request line."""
    match = _LOG_LINE.match(line)
    if match is None:
        return None
    parts = match["request"].split(" ")
    if len(parts) != 3 or not parts[1].startswith("/"):
        return None
    timestamp = _log_time(match["time"])
    if timestamp is None:
        return None
    referrer = match["referrer"]
    return _Visit(
        lineno=lineno,
        client=match["client"],
        timestamp=timestamp,
        method=parts[0],
        target=parts[1],
        status=match["status"],
        referrer=None if referrer in (None, "", "-") else referrer,
    )


def _log_time(text: str) -> int | None:
    """Epoch ms of an access log time such as '17/May/2015:10:05:03 +0000'."""
    match = _LOG_TIME.fullmatch(text)
    if match is None or match[2] not in _MONTHS:
        return None
    day, _, year, hour, minute, second, sign, off_h, off_m = match.groups()
    offset = dt.timedelta(hours=int(off_h), minutes=int(off_m))
    try:
        moment = dt.datetime(
            int(year),
            _MONTHS[match[2]],
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=dt.timezone(-offset if sign == "-" else offset),
        )
    except ValueError:
        return None
    return int(moment.timestamp()) * 1000


def _messages(visit: _Visit, when: int) -> list[ActivityEvent]:
    """The page visit of one log line, then any conversions it also counts as."""
    event_id = f"log-{visit.lineno}"
    properties = {"status": visit.status, "method": visit.method}
    fields = {"url": visit.target}
    if visit.referrer is not None:
        fields["referrer"] = visit.referrer
    out = [
        ActivityEvent(
            "page_visit", event_id, visit.client, when, fields, dict(properties)
        )
    ]

    out.extend(
        ActivityEvent(
            "conversion",
            event_id + ("-conv" if number == 1 else f"-conv{number}"),
            visit.client,
            when,
            {"name": name, "url": visit.target},
            dict(properties),
        )
        for number, name in enumerate(conversion_names(visit), start=1)
    )
    return out


def conversion_names(visit: _Visit) -> list[str]:
    """The conversions one log line counts as, in a fixed order.

    The blog has no webinars, briefs or support desk, so the seed models'
    conversion categories get their nearest real signals: opening a talk's
    slide deck stands for attending a webinar, any download from /files/
    for a product brief, and a failed request (404, or 5xx) for a support
    escalation named "0" (minor) or "1" (severe).
    """
    path, _, query = visit.target.partition("?")
    names: list[str] = []
    if path.startswith("/files/"):
        names.append("Download")
        names.append("Product Brief")
    if any(flavour in query.split("&") for flavour in _FEED_FLAVOURS):
        names.append("Feed Subscription")
    if _TALK.fullmatch(path):
        names.append("Webinar Registration")
    if visit.status == "404":
        names.append("0")
    elif visit.status.startswith("5"):
        names.append("1")
    return names


def _read_telco(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as table:
        return list(csv.DictReader(table))


def _contact_properties(row: dict[str, str]) -> dict[str, Any]:
    """Every telco column as written, plus the derived CRM-style properties."""
    properties: dict[str, Any] = dict(row)
    tenure = row.get("tenure", "").strip()
    months = int(tenure) if tenure.isdigit() else 0
    properties["Months Since Start Date"] = tenure
    properties["Last NPS Score"] = _nps(row)
    properties["# Of Support Cases"] = _support_cases(row, months)
    return properties


def _nps(row: dict[str, str]) -> int:
    """0..10: low for customers who left, high for long contracts with support.

    Base 3 for churned customers; otherwise 7, +1 for a two-year contract,
    -1 month-to-month, +1 with tech support; then a per-customer spread of
    -2..+2 so equal profiles do not all give the same answer.
    """
    if row.get("Churn") == "Yes":
        base = 3
    else:
        base = 7
        contract = row.get("Contract")
        if contract == "Two year":
            base += 1
        elif contract == "Month-to-month":
            base -= 1
        if row.get("TechSupport") == "Yes":
            base += 1
    return max(0, min(10, base + _spread(row, "nps", 5) - 2))


def _support_cases(row: dict[str, str], months: int) -> int:
    """0..10: more cases with fiber, without tech support, and with age.

    Fiber optic 3, DSL 1, no internet 0; +2 with internet but no tech
    support; +1 per full 24 months of tenure (at most 2); then 0..2 spread.
    """
    base = {"Fiber optic": 3, "DSL": 1}.get(row.get("InternetService", ""), 0)
    if row.get("TechSupport") == "No":
        base += 2
    base += min(months // 24, 2)
    return max(0, min(10, base + _spread(row, "support", 3)))


def _spread(row: dict[str, str], salt: str, size: int) -> int:
    """A stable 0..size-1 per customer; Python's hash() changes per process."""
    digest = hashlib.sha256(f"{salt}:{row.get('customerID', '')}".encode()).digest()
    return digest[0] % size


def _retimer(
    first: int, last: int, shift_to: int | None, stretch: float
) -> Callable[[int], int]:
    """Map a source timestamp to its replay timestamp."""
    source, target = (first, first) if shift_to is None else (last, shift_to)
    if shift_to is not None and target - (last - first) * stretch < 0:
        raise ValueError(
            f"shift_to={shift_to} with stretch={stretch} would move the log before 1970"
        )

    def retime(ms: int) -> int:
        return target + round((ms - source) * stretch)

    return retime
