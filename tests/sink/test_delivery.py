"""Targets and the delivery policy against scripted answers on an injected clock."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from stream import jsonutil
from stream.errors import SinkError
from stream.sink.coalesce import Change, parse_change
from stream.sink.delivery import Delivery, Stopped
from stream.sink.metrics import SinkMetrics
from stream.sink.ratelimit import Backoff, TokenBucket
from stream.sink.settings import SinkSettings
from stream.sink.targets import (
    HubSpotTarget,
    Request,
    Response,
    WebhookTarget,
    property_name,
    sign,
)
from tests.sink.helpers import TOKEN, change


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return True


class Script:
    """A transport answering from a list; an exception in it is raised."""

    def __init__(self, *answers: Response | OSError) -> None:
        self.answers = list(answers)
        self.requests: list[Request] = []

    def send(self, request: Request, timeout: float) -> Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else Response(200, b"{}")
        if isinstance(answer, OSError):
            raise answer
        return answer

    def contacts(self, index: int) -> list[str]:
        body = jsonutil.loads(self.requests[index].body)
        return [i["id"] for i in body["inputs"]]


def _changes(
    contacts: Sequence[str], models: Sequence[str] = ("upsell",)
) -> list[Change]:
    return [
        parse_change(jsonutil.dumps(change(c, m, 1, "B2")))
        for c in contacts
        for m in models
    ]


def _settings(**overrides: object) -> SinkSettings:
    values: dict[str, object] = {"token": TOKEN, "base_url": "http://127.0.0.1:9"}
    values.update(overrides)
    return SinkSettings(**values)  # type: ignore[arg-type]


def _delivery(script: Script, clock: Clock, **overrides: object) -> Delivery:
    settings = _settings(**overrides)
    return Delivery(
        HubSpotTarget(settings),
        script,
        TokenBucket(settings.rate_requests, settings.rate_period_s, clock),
        Backoff(0.5, 8.0, 3, rand=lambda: 1.0),
        SinkMetrics(),
        timeout=1.0,
        wait=clock.wait,
    )


def test_hubspot_request_shape_merges_a_contacts_models() -> None:
    target = HubSpotTarget(_settings())
    [batch] = target.batches(_changes(["101", "102"], ["upsell", "churn-risk"]))
    request = target.build(batch)

    assert request.url == "http://127.0.0.1:9/crm/v3/objects/contacts/batch/update"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(request)
    body = jsonutil.loads(request.body)
    assert [i["id"] for i in body["inputs"]] == ["101", "102"]
    assert body["inputs"][0]["properties"] == {
        "upsell_grade": "B2",
        "upsell_fit_score": "60",
        "upsell_activity_score": "30.5",
        "upsell_action": "in_product_offer",
        "upsell_changed_at": "2015-05-17T10:05:03.000Z",
        "churn_risk_grade": "B2",
        "churn_risk_fit_score": "60",
        "churn_risk_activity_score": "30.5",
        "churn_risk_action": "in_product_offer",
        "churn_risk_changed_at": "2015-05-17T10:05:03.000Z",
    }


def test_property_templates_can_rename_and_leave_out() -> None:
    target = HubSpotTarget(
        _settings(grade_property="ss_{model}_Grade", fit_score_property="")
    )
    props = target.properties(_changes(["1"])[0])
    assert set(props) == {
        "ss_upsell_grade",
        "upsell_activity_score",
        "upsell_action",
        "upsell_changed_at",
    }
    assert property_name("{model}_x", "Cross Sell") == "cross_sell_x"


def test_batches_hold_at_most_batch_size_contacts_and_never_split_one() -> None:
    target = HubSpotTarget(_settings(batch_size=3))
    batches = target.batches(_changes([f"{i}" for i in range(7)], ["a", "b"]))
    assert [len({c.contact_id for c in b}) for b in batches] == [3, 3, 1]
    assert [len(b) for b in batches] == [6, 6, 2]


def test_a_429_waits_retry_after_then_succeeds() -> None:
    clock = Clock()
    script = Script(
        Response(429, b"{}", {"retry-after": "7"}),
        Response(429, b"{}", {"retry-after": "2"}),
        Response(200, b"{}"),
    )
    delivery = _delivery(script, clock)
    report = delivery.deliver(_changes(["1", "2"]))

    assert [c.contact_id for c in report.accepted] == ["1", "2"]
    assert len(script.requests) == 3
    # Retry-After plus one token interval (100 per 10 s).
    assert clock.waits == pytest.approx([7.1, 2.1])
    assert delivery.metrics.tally.retried == 2


def test_5xx_and_network_errors_back_off_exponentially_and_never_give_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    failures: list[Response | OSError] = [Response(503)] * 4 + [TimeoutError()] * 3
    script = Script(*failures, Response(200, b"{}"))
    delivery = _delivery(script, clock, rate_requests=1000)

    with caplog.at_level(logging.WARNING):
        report = delivery.deliver(_changes(["1"]))

    assert len(report.accepted) == 1
    assert clock.waits == pytest.approx([0.5, 1.0, 2.0, 8.0, 8.0, 8.0, 8.0])
    assert delivery.metrics.tally.retried == 7
    assert "still retrying" in caplog.text


def test_a_stop_during_a_retry_wait_raises_stopped() -> None:
    clock = Clock()
    script = Script(Response(500))
    delivery = _delivery(script, clock)
    delivery.wait = lambda seconds: False
    with pytest.raises(Stopped):
        delivery.deliver(_changes(["1"]))


def test_bad_credentials_stop_the_sink_without_showing_the_token() -> None:
    script = Script(Response(401, b'{"message": "expired"}'))
    with pytest.raises(SinkError, match=r"crm\.objects\.contacts\.write") as caught:
        _delivery(script, Clock()).deliver(_changes(["1"]))
    assert TOKEN not in str(caught.value)


def test_multi_status_rejects_only_the_named_contacts() -> None:
    answer = {
        "status": "COMPLETE",
        "results": [{"id": "1"}, {"id": "3"}],
        "errors": [{"category": "OBJECT_NOT_FOUND", "context": {"ids": ["2"]}}],
    }
    script = Script(Response(207, jsonutil.dumps(answer)))
    report = _delivery(script, Clock()).deliver(_changes(["1", "2", "3"]))

    assert [c.contact_id for c in report.accepted] == ["1", "3"]
    [rejection] = report.rejected
    assert rejection.change.contact_id == "2"
    assert rejection.status == 207
    assert rejection.answer["category"] == "OBJECT_NOT_FOUND"


def test_multi_status_without_ids_rejects_contacts_missing_from_results() -> None:
    answer = {"results": [{"id": "1"}], "errors": [{"message": "bad value"}]}
    script = Script(Response(207, jsonutil.dumps(answer)))
    report = _delivery(script, Clock()).deliver(_changes(["1", "2"]))
    assert [r.change.contact_id for r in report.rejected] == ["2"]


def test_a_refused_batch_is_halved_until_the_bad_contact_is_alone() -> None:
    bad = Response(400, b'{"category": "VALIDATION_ERROR"}')

    class Refuse4(Script):
        def send(self, request: Request, timeout: float) -> Response:
            self.requests.append(request)
            ids = [i["id"] for i in jsonutil.loads(request.body)["inputs"]]
            return bad if "4" in ids else Response(200, b"{}")

    script = Refuse4()
    report = _delivery(script, Clock()).deliver(_changes([str(i) for i in range(8)]))

    assert sorted(c.contact_id for c in report.accepted) == [
        "0",
        "1",
        "2",
        "3",
        "5",
        "6",
        "7",
    ]
    assert [r.change.contact_id for r in report.rejected] == ["4"]
    assert report.rejected[0].answer == {"category": "VALIDATION_ERROR"}
    # 8 -> 4+4 -> (4 ok) 2+2 -> (2 ok) 1+1: 7 requests, not 8 single ones.
    assert len(script.requests) == 7


def test_webhook_signs_the_exact_body() -> None:
    settings = SinkSettings(
        target="webhook", webhook_url="http://127.0.0.1:9/hook", webhook_secret="k3y"
    )
    target = WebhookTarget(settings)
    changes = _changes(["1", "2"])
    request = target.build(changes)
    assert jsonutil.loads(request.body) == [c.event for c in changes]
    assert request.headers["X-Scorestream-Signature"] == "sha256=" + sign(
        b"k3y", request.body
    )


def test_a_missing_hubspot_property_stops_the_sink_instead_of_rejecting_all() -> None:
    answer = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": 'Property values were not valid: [{"error": '
        '"PROPERTY_DOESNT_EXIST", "name": "upsell_grade"}]',
    }
    script = Script(Response(400, jsonutil.dumps(answer)))
    with pytest.raises(SinkError, match="Create the properties"):
        _delivery(script, Clock()).deliver(_changes(["1", "2"]))
    assert len(script.requests) == 1
