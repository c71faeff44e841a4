"""`scorestream forget`: ask the workers to erase contacts."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from stream.decode import DEFAULT_LIMITS, _id
from stream.erasure import MAX_REASON_LENGTH, ForgetRequest, encode_request
from stream.errors import InputError, ScoringError

SEND_TIMEOUT_S = 30.0


def register(subparsers: Any) -> None:
    from stream.cli.publish_cmd import add_connection_options

    parser = subparsers.add_parser(
        "forget",
        help="erase everything stored about contacts (right to erasure)",
        description=(
            "Sends one forget request per CONTACT_ID to the forget-requests "
            "topic, keyed like the contact's inputs. The worker owning the "
            "contact deletes its record (counts, event ids, properties, "
            "grades; a tombstone removes it from the changelog) and publishes "
            'a final event {"contact_id": ..., "forgotten": true, "last_seq": '
            "{model: seq}} on the score-change topics. Inputs that arrive for "
            "the contact afterwards start a new record at seq 1, so stop the "
            "sources first. Forgetting an unknown contact does nothing."
        ),
    )
    parser.add_argument("contact_ids", nargs="+", metavar="CONTACT_ID")
    parser.add_argument(
        "--request-id",
        default=None,
        help="your reference for the request, copied into the final event",
    )
    parser.add_argument(
        "--reason",
        default=None,
        help="free text kept with the request (not copied into any event)",
    )
    add_connection_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from confluent_kafka import Producer

    from stream.app.publish import PRODUCER_DEFAULTS
    from stream.cli.publish_cmd import connection
    from stream.kafka.topics import (
        FORGET_REQUESTS,
        SCORE_CHANGES,
        create_topics,
        topic_name,
    )

    now = int(time.time() * 1000)
    try:
        requests = [_request(c, now, args) for c in args.contact_ids]
        settings, config = connection(args)
        create_topics(config, settings.topic_prefix, settings.partitions)
    except (ScoringError, ValueError) as exc:
        print(f"scorestream forget: {exc}", file=sys.stderr)
        return 1
    topic = topic_name(FORGET_REQUESTS, settings.topic_prefix)
    producer = Producer({**config, **PRODUCER_DEFAULTS})
    failures: list[str] = []

    def report(err: Any, msg: Any) -> None:
        contact = msg.key().decode()
        if err is not None:
            failures.append(f"{contact!r}: {err}")
        else:
            print(
                f"forget request for {contact!r} sent to "
                f"{msg.topic()}[{msg.partition()}]@{msg.offset()}",
                file=sys.stderr,
            )

    for request in requests:
        producer.produce(
            topic,
            key=request.contact_id.encode(),
            value=encode_request(request),
            on_delivery=report,
        )
    left = producer.flush(SEND_TIMEOUT_S)
    if left:
        failures.append(f"{left} requests not confirmed within {SEND_TIMEOUT_S:.0f} s")
    for failure in failures:
        print(f"scorestream forget: not sent: {failure}", file=sys.stderr)
    if failures:
        return 1
    print(
        f"the worker erases them and announces each on "
        f"{topic_name(SCORE_CHANGES, settings.topic_prefix)} "
        '(an event with "forgotten": true); a contact it does not know is not '
        "announced",
        file=sys.stderr,
    )
    return 0


def _request(contact_id: str, now: int, args: argparse.Namespace) -> ForgetRequest:
    # The worker's own checks, so that an id it would refuse (and dead-letter,
    # erasing nothing) is refused here, before anything is sent.
    text = _id(contact_id, "CONTACT_ID", DEFAULT_LIMITS)
    if args.request_id is not None:
        _id(args.request_id, "--request-id", DEFAULT_LIMITS)
    if args.reason is not None and len(args.reason) > MAX_REASON_LENGTH:
        raise InputError(
            "wrong_type", f"--reason: at most {MAX_REASON_LENGTH} characters"
        )
    return ForgetRequest(text, now, args.request_id, args.reason)
