"""Held pages against moto: a sweep judged by two warm containers at once pages once, naming the path
and what its Decrypts revealed; the hold fails closed, a held page that cannot be sent is retried,
and a redelivered hold message sends nothing again.

Failures are injected through botocore's own event hooks (`before-call.*`), as in test_failures.py;
every call that is not failed goes through to moto.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from test_incident_pages import in_order, invoke, rules_of, sweep

from harness import STATE_TABLE, LambdaContext, emf_records, metric_sum, release_held, sqs_event
from paramwatch.allowlist import EMPTY
from paramwatch.detector import Detector, Tuning, Verdict
from paramwatch.hold import Holds
from paramwatch_aws.cached_state import CachedState
from paramwatch_aws.dynamo_state import DynamoState
from support import eventbridge_event


def fail(client: Any, operation: str, codes: list[str]) -> list[str]:
    """Fail the next calls of `operation` with these error codes ('ok' lets one through to moto)."""
    pending, calls = list(codes), []

    def before(**_: Any) -> None:
        outcome = pending.pop(0) if pending else "ok"
        calls.append(outcome)
        if outcome != "ok":
            raise ClientError({"Error": {"Code": outcome, "Message": "injected"}}, operation)

    client.meta.events.register(f"before-call.{client.meta.service_model.service_name}.{operation}", before)
    return calls


def test_a_hold_the_queue_refuses_pages_at_once(app, stack, held, capsys) -> None:
    # GIVEN the hold queue refusing the message (a key policy without the SQS statement, say)
    calls = fail(app.runtime().hold_queue.sqs, "SendMessage", ["KMS.AccessDeniedException"])
    # WHEN the first by-path call of a sweep is judged
    invoke(app, sweep()[0])
    # THEN it pages at once (fail closed), and says why
    assert calls == ["KMS.AccessDeniedException"]
    assert rules_of(stack.alerts()) == ["unauthorized-read"]
    assert metric_sum(emf_records(capsys.readouterr().out), "HoldsFailed") == 1
    assert release_held(app, stack, held) == []


def test_a_held_page_that_cannot_be_sent_is_retried_then_sent_once(app, stack, held) -> None:
    for record in sweep():
        invoke(app, record)
    (message,) = stack.sqs.receive_message(QueueUrl=held, MaxNumberOfMessages=10)["Messages"]
    calls = fail(app.runtime().alerts.sns, "Publish", ["Throttled"])
    # WHEN SNS throttles the held page, THEN the delivery fails, so SQS delivers it again
    with pytest.raises(ClientError):
        app.lambda_handler(sqs_event([message]), LambdaContext())
    assert stack.alerts() == []
    # WHEN it is delivered again (and once more, as SQS may), THEN one page, complete
    for _ in range(2):
        app.lambda_handler(sqs_event([message]), LambdaContext())
    assert calls == ["Throttled", "ok"]
    (alert,) = stack.alerts()
    assert "Its Decrypts revealed 50 secret(s)" in alert["Message"]


def test_a_hold_message_paramwatch_did_not_write_fails_the_delivery(app, stack, held) -> None:
    message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": '{"kind": "something else"}', "MD5OfBody": "x"}
    with pytest.raises(ValueError, match="not a paramwatch hold message"):
        app.lambda_handler(sqs_event([message]), LambdaContext())


def test_a_foreign_message_does_not_hold_back_the_pages_after_it_in_its_batch(app, stack, held) -> None:
    for record in sweep():
        invoke(app, record)
    (message,) = stack.sqs.receive_message(QueueUrl=held, MaxNumberOfMessages=10)["Messages"]
    foreign = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": '{"kind": "something else"}', "MD5OfBody": "x"}
    # WHEN a batch holds a message paramwatch did not write before a real held page
    with pytest.raises(ValueError, match="not a paramwatch hold message"):
        app.lambda_handler(sqs_event([foreign, message]), LambdaContext())
    # THEN the delivery fails (SQS keeps the batch), but the real page went out, once
    (alert,) = stack.alerts()
    assert "Its Decrypts revealed 50 secret(s)" in alert["Message"]
    with pytest.raises(ValueError):
        app.lambda_handler(sqs_event([foreign, message]), LambdaContext())
    assert stack.alerts() == []  # alerts() drains the subscribed queue: nothing new was sent


class Container:
    """One warm evaluator: its own cache in front of the shared table, its own detector and holds."""

    def __init__(self, table: Any, hold_seconds: int = 20) -> None:
        self.state = CachedState(DynamoState(table))
        self.detector = Detector(EMPTY, self.state, Tuning())
        self.holds = Holds(self.state, hold_seconds)
        self.opened: list[tuple[str, Verdict]] = []

    def judge(self, record: dict, now: float) -> list[Verdict]:
        outcome = self.detector.process(record, now)
        verdicts = []
        for verdict in outcome.verdicts:
            held = self.holds.take(verdict, now)
            if held.opened:
                self.opened.append((held.opened, held.verdict))
            verdicts.append(held.verdict)
        if outcome.begun:
            self.detector.finish(outcome.begun)
        return verdicts


class PausedIndex(CachedState):
    """A container that stops just before it writes its incident index, until told to go on: the
    moment when another container judging the other half of the read cannot see it yet."""

    def __init__(self, inner: Any, reached: threading.Event, go: threading.Event) -> None:
        super().__init__(inner)
        self.reached, self.go = reached, go

    def add_members(self, key: str, members: Any, expires: float, cap: int) -> int:
        if key.startswith("recent#") and not self.go.is_set():
            self.reached.set()
            assert self.go.wait(10)
        return super().add_members(key, members, expires, cap)


@pytest.fixture
def table(stack) -> Any:
    return boto3.resource("dynamodb", region_name="us-east-1").Table(STATE_TABLE)


@pytest.mark.parametrize("paused", ["call", "decrypt"])
def test_two_containers_judging_the_two_halves_at_once_page_once(table, paused) -> None:
    # GIVEN two warm containers sharing the state table, judging the two halves of mallory's first
    # by-path read at once: one stops just before it records its half in the incident index (so
    # it has decided to page, and the other cannot see it), while the other judges its half
    records = sweep()
    halves = {"call": records[0], "decrypt": records[1]}
    other = "decrypt" if paused == "call" else "call"
    reached, go = threading.Event(), threading.Event()
    slow, fast = Container(table), Container(table)
    slow.state = PausedIndex(DynamoState(table), reached, go)
    slow.detector, slow.holds = Detector(EMPTY, slow.state, Tuning()), Holds(slow.state, 20)
    got: dict[str, list[Verdict]] = {}
    thread = threading.Thread(target=lambda: got.setdefault(paused, slow.judge(halves[paused], 1000.0)))
    thread.start()
    assert reached.wait(10)
    got[other] = fast.judge(halves[other], 1000.0)
    go.set()
    thread.join(10)
    # THEN each half alone would have paged, but exactly one holds the incident's page: the one
    # that pointed first; the other joined it
    (first,) = got[other]
    (second,) = got[paused]
    assert first.paged and not second.paged
    assert second.reason == f"part of the incident held for event {first.finding.event_id}"
    # WHEN the rest of the sweep is judged, alternately by the two containers, and the hold ends
    for i, record in enumerate(records[2:]):
        (slow, fast)[i % 2].judge(record, 1001.0)
    ((incident, lead),) = slow.opened + fast.opened
    page = slow.holds.release(incident, lead)
    # THEN the page is the by-path call's, with the count and first names of what it revealed,
    # whichever half opened the incident
    assert page.finding.event_id == "call-0" and page.finding.parameters == ("/prod",)
    assert page.notes[-1].startswith("Its Decrypts revealed 50 secret(s): /prod/svc0/s0, /prod/svc0/s3, ")


def test_a_second_path_read_while_held_is_named_on_the_same_page(app, stack, held) -> None:
    records = sweep()[:11]
    other = {**records[0], "eventID": "call-dev", "requestParameters": {"path": "/dev", "withDecryption": True}}
    for record in [*records, other]:
        invoke(app, record)
    release_held(app, stack, held)
    (alert,) = stack.alerts()
    assert "The same principal also read by path: /dev." in alert["Message"]
    assert "Its Decrypts revealed 10 secret(s)" in alert["Message"]


def test_a_sweep_after_the_page_went_opens_a_new_incident(app, stack, held) -> None:
    # GIVEN a sweep of /prod whose page went out
    for record in sweep()[:11]:
        invoke(app, record)
    release_held(app, stack, held)
    assert len(stack.alerts()) == 1
    # WHEN the same principal reads /dev by path later the same hour, THEN a page of its own
    late = {**sweep()[0], "eventID": "call-dev", "eventTime": "2026-11-02T10:35:00Z"}
    late["requestParameters"] = {"path": "/dev", "recursive": True, "withDecryption": True}
    invoke(app, late)
    release_held(app, stack, held)
    (alert,) = stack.alerts()
    assert json.loads(alert["Message"].splitlines()[-1])["parameters"] == ["/dev"]


def test_a_honeytoken_read_by_path_pages_at_once(app, stack, held) -> None:
    call = {**sweep()[0], "eventID": "decoy-sweep"}
    call["requestParameters"] = {"path": "/decoy", "recursive": True, "withDecryption": True}
    app.lambda_handler(eventbridge_event(call), LambdaContext())
    assert rules_of(stack.alerts()) == ["honeytoken"]
    assert release_held(app, stack, held) == []


def test_without_a_hold_a_sweep_still_pages_once(app, stack) -> None:
    for record in in_order(sweep(), decrypts_first=False):
        invoke(app, record)
    assert rules_of(stack.alerts()) == ["unauthorized-read"]


def test_a_held_page_that_keeps_failing_lands_in_the_failure_queue_and_is_sent_from_there(app, stack, held) -> None:
    # GIVEN the hold queue's redrive policy as the template writes it (moto applies it on receive)
    from samtranslator.yaml_helper import yaml_parse

    from support import ROOT

    policy = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]["HoldQueue"]["Properties"]["RedrivePolicy"]
    failures_arn = stack.sqs.get_queue_attributes(QueueUrl=stack.failure_queue_url, AttributeNames=["QueueArn"])
    redrive = {**policy, "deadLetterTargetArn": failures_arn["Attributes"]["QueueArn"]}
    stack.sqs.set_queue_attributes(QueueUrl=held, Attributes={"RedrivePolicy": json.dumps(redrive)})
    for record in sweep()[:11]:
        invoke(app, record)
    # WHEN SNS fails every delivery of the held page
    calls = fail(app.runtime().alerts.sns, "Publish", ["InternalError"] * policy["maxReceiveCount"])
    deliveries = 0
    while messages := stack.sqs.receive_message(QueueUrl=held, VisibilityTimeout=0).get("Messages"):
        deliveries += 1
        with pytest.raises(ClientError):
            app.lambda_handler(sqs_event(messages), LambdaContext())
    # THEN after its retries the page is in the failure queue, not lost, and nothing was sent
    assert deliveries == policy["maxReceiveCount"] and len(calls) == deliveries and stack.alerts() == []
    (parked,) = stack.sqs.receive_message(QueueUrl=stack.failure_queue_url)["Messages"]
    # AND handed back once the cause is fixed (as `paramwatch redrive` does), it is sent, complete
    app.lambda_handler(sqs_event([parked]), LambdaContext())
    (alert,) = stack.alerts()
    assert "Its Decrypts revealed 10 secret(s)" in alert["Message"]
