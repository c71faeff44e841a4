"""Contact erasure: the request that asks for it and the event announcing it.

A forget request names one contact. The worker that owns the contact
deletes everything it stores about it (counts, event ids, properties,
grades) and publishes one `contact_forgotten` event on the score-change
topics, so that consumers drop what they derived from it too. The event
carries the last seq announced per model because a contact that shows up
again afterwards starts from nothing, at seq 1.

Only the contact id and the request's own fields are in the event: no
grade, score or property of the erased contact travels further.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stream import jsonutil
from stream.decode import (
    DEFAULT_LIMITS,
    NOT_FROM_KAFKA,
    Limits,
    _check_key,
    _id,
    _load,
    _not_an_object,
    _required,
    _Unkeyed,
)
from stream.errors import InputError
from stream.state import ContactState
from stream.timestamps import format_timestamp, parse_timestamp

MAX_REASON_LENGTH = 500


@dataclass(frozen=True, slots=True)
class ForgetRequest:
    """Erase `contact_id`; `requested_at` is epoch milliseconds."""

    contact_id: str
    requested_at: int
    request_id: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "contact_id": self.contact_id,
            "requested_at": format_timestamp(self.requested_at),
        }
        if self.request_id is not None:
            out["request_id"] = self.request_id
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def decode_forget(
    data: bytes,
    *,
    key: bytes | _Unkeyed | None = NOT_FROM_KAFKA,
    limits: Limits = DEFAULT_LIMITS,
) -> ForgetRequest:
    """A forget request from a message body; InputError names what is wrong."""
    obj = _load(data, limits)
    if not isinstance(obj, dict):
        raise _not_an_object(obj)
    unknown = sorted(set(obj) - {"contact_id", "requested_at", "request_id", "reason"})
    if unknown:
        raise InputError(
            "unknown_field",
            f"{unknown[0]}: not a field of a forget request; expected contact_id, "
            "requested_at, request_id, reason",
        )
    contact_id = _id(_required(obj, "contact_id"), "contact_id", limits)
    if key is not NOT_FROM_KAFKA:
        _check_key(key, contact_id)
    requested_at = parse_timestamp(_required(obj, "requested_at"), "requested_at")
    raw_id = obj.get("request_id")
    request_id = None if raw_id is None else _id(raw_id, "request_id", limits)
    reason = obj.get("reason")
    if reason is not None and (
        not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH
    ):
        raise InputError(
            "wrong_type",
            f"reason: expected a string of at most {MAX_REASON_LENGTH} characters",
        )
    return ForgetRequest(contact_id, requested_at, request_id, reason)


def forgotten_event(request: ForgetRequest, state: ContactState) -> dict[str, Any]:
    """The event announcing that `state`, the contact's record, was erased."""
    event: dict[str, Any] = {
        "contact_id": request.contact_id,
        "forgotten": True,
        "as_of": format_timestamp(request.requested_at),
        "last_seq": {model: mark.seq for model, mark in sorted(state.grades.items())},
    }
    if request.request_id is not None:
        event["request_id"] = request.request_id
    return event


def encode_request(request: ForgetRequest) -> bytes:
    return jsonutil.dumps(request.to_dict())
