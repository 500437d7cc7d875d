"""Nothing lost, nothing sent twice: SNS errors injected into the evaluator's publish calls.

Errors are raised from botocore's own event hook (`before-call.sns.Publish`); calls that are not
failed go through to moto. Lambda's async retry policy is taken from the template's
EventInvokeConfig and applied as Lambda applies it: the handler is invoked again on an exception,
and once retries are spent the event goes to the on-failure destination (the failure queue).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from samtranslator.yaml_helper import yaml_parse

from harness import LambdaContext
from paramwatch.allowlist import parse
from paramwatch.detector import Detector, Tuning
from paramwatch.state import MemoryState
from support import EVENTS, ROOT, eventbridge_event, ssm_read

RETRIES = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]["EvaluatorFunction"]["Properties"][
    "EventInvokeConfig"
]["MaximumRetryAttempts"]


def inject(app, outcomes: list[str]) -> list[str]:
    """Fail the next SNS publishes with these error codes ('ok' lets one through to moto)."""
    pending = list(outcomes)
    calls: list[str] = []

    def before_publish(**_: Any) -> None:
        outcome = pending.pop(0) if pending else "ok"
        calls.append(outcome)
        if outcome == "connection":
            raise EndpointConnectionError(endpoint_url="https://sns.us-east-1.amazonaws.com")
        if outcome != "ok":
            raise ClientError({"Error": {"Code": outcome, "Message": "injected"}}, "Publish")

    app.runtime().alerts.sns.meta.events.register("before-call.sns.Publish", before_publish)
    return calls


def lambda_async(app, stack, event: dict) -> None:
    """Invoke as Lambda does for an async event: retry on error, then park in the destination."""
    for _ in range(1 + RETRIES):
        try:
            app.lambda_handler(event, LambdaContext())
            return
        except Exception as exc:  # noqa: BLE001 - Lambda retries on any exception
            error = exc
    stack.sqs.send_message(
        QueueUrl=stack.failure_queue_url,
        MessageBody=json.dumps(
            {
                "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 1 + RETRIES},
                "requestPayload": event,
                "responseContext": {"functionError": "Unhandled"},
                "responsePayload": {"errorType": type(error).__name__, "errorMessage": str(error)},
            }
        ),
    )


def expected_pages(records: list[dict]) -> Counter:
    """(event_id, rule) of every finding that pages, from the pure library (BULK_THRESHOLD=2)."""
    detector = Detector(parse((EVENTS / "allowlist.yaml").read_text()), MemoryState(), Tuning(bulk_threshold=2))
    pages: Counter = Counter()
    for record in records:
        outcome = detector.process(record, now=0.0)
        pages.update((v.finding.event_id, str(v.finding.rule)) for v in outcome.verdicts if v.paged)
        detector.finish(outcome.begun)
    return pages


# an event with two paging findings: the third distinct read by mallory crosses BULK_THRESHOLD=2
RECORDS = [
    ssm_read(
        f"m{i}",
        [f"/billing/k{i}"],
        userIdentity={"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/mallory", "accountId": "111122223333"},
    )
    for i in range(3)
]

TABLE = [
    # (SNS outcomes in call order, published, parked)
    (["ok"], 4, 0),
    (["Throttled"], 4, 0),
    (["InternalError"], 4, 0),
    (["connection"], 4, 0),
    (["ok", "ok", "ok", "Throttled"], 4, 0),  # the bulk alert fails once after the read alert went out
    (["Throttled"] * 3, 3, 1),  # retries spent: the event is parked by Lambda
    (["KMSThrottling"] * 3, 3, 1),
    (["InternalError"] * 6, 2, 2),
    (["AuthorizationError"], 3, 1),  # permanent: the alert itself is parked, finding intact
    (["NotFound"], 3, 1),
    (["InvalidParameter"], 3, 1),
    (["KMSDisabled"], 3, 1),
    (["KMSNotFound"], 3, 1),
    (["KMSAccessDenied"], 3, 1),
    (["KMSInvalidState"], 3, 1),
]


@pytest.mark.parametrize(
    ("outcomes", "published", "parked"), TABLE, ids=lambda v: "+".join(v) if isinstance(v, list) else str(v)
)
def test_every_finding_is_published_or_parked_exactly_once(
    app, stack, monkeypatch, outcomes, published, parked
) -> None:
    # GIVEN three reads by mallory; the third also crosses the bulk threshold (4 alerts in all)
    monkeypatch.setenv("BULK_THRESHOLD", "2")
    app.runtime.cache_clear()
    calls = inject(app, outcomes)
    # WHEN each is delivered the way Lambda delivers async events
    for record in RECORDS:
        lambda_async(app, stack, eventbridge_event(record))
    alerts, parked_records = stack.alerts(), stack.parked()
    # THEN published + parked is exactly one for every finding
    assert (len(alerts), len(parked_records)) == (published, parked), calls
    totals = Counter()
    for alert in alerts:
        finding = json.loads(alert["Message"].splitlines()[-1])
        totals[(finding["event_id"], finding["rule"])] += 1
    for record in parked_records:
        if "verdict" in record:
            assert record["verdict"]["summary"] and json.loads(record["publish"]["Message"])["default"]  # intact
            totals[(record["verdict"]["event_id"], record["verdict"]["rule"])] += 1
        else:
            parked_id = record["requestPayload"]["detail"]["eventID"]
            totals.update(key for key in expected_pages(RECORDS) if key[0] == parked_id)
    assert totals == expected_pages(RECORDS)
    assert set(totals.values()) == {1}
