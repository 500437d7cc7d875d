"""Helpers and fixtures for invoking the evaluator in-process against moto (SSM, SNS, SQS)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from support import EVENTS, eventbridge_event, load_case

REGION = "us-east-1"
ALLOWLIST_NAME = "/paramwatch/test/allowlist"
STATE_TABLE = "paramwatch-state"


@dataclass
class LambdaContext:
    """The attributes Powertools reads from a Lambda context object."""

    function_name: str = "paramwatch-evaluator"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:111122223333:function:paramwatch-evaluator"
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"


@dataclass
class Stack:
    """The moto resources standing in for the deployed stack."""

    ssm: Any
    sqs: Any
    topic_arn: str
    queue_url: str
    dynamodb: Any
    failure_queue_url: str

    def put_allowlist(self, text: str) -> None:
        self.ssm.put_parameter(Name=ALLOWLIST_NAME, Value=text, Type="String", Overwrite=True)

    def items(self) -> list[dict[str, Any]]:
        """Every item in the state table."""
        return self.dynamodb.scan(TableName=STATE_TABLE)["Items"]

    def alerts(self) -> list[dict[str, Any]]:
        """Every SNS notification that reached the subscribed queue, as SNS envelopes."""
        return self.drain(self.queue_url)

    def parked(self) -> list[dict[str, Any]]:
        """Every record in the failure queue."""
        return self.drain(self.failure_queue_url)

    def drain(self, queue_url: str) -> list[dict[str, Any]]:
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_SERVICE_NAME": "paramwatch",
        "POWERTOOLS_METRICS_NAMESPACE": "paramwatch",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Stack:
    ssm = boto3.client("ssm", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="paramwatch-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=STATE_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    dynamodb.update_time_to_live(
        TableName=STATE_TABLE, TimeToLiveSpecification={"AttributeName": "ttl", "Enabled": True}
    )
    failure_queue_url = sqs.create_queue(QueueName="failures")["QueueUrl"]
    built = Stack(
        ssm=ssm,
        sqs=sqs,
        topic_arn=topic_arn,
        queue_url=queue_url,
        dynamodb=dynamodb,
        failure_queue_url=failure_queue_url,
    )
    built.put_allowlist((EVENTS / "allowlist.yaml").read_text())
    monkeypatch.setenv("ALLOWLIST_PARAMETER", ALLOWLIST_NAME)
    monkeypatch.setenv("ALERT_TOPIC_ARN", topic_arn)
    monkeypatch.setenv("ALLOWLIST_CACHE_SECONDS", "60")
    monkeypatch.setenv("STATE_TABLE", STATE_TABLE)
    monkeypatch.setenv("FAILURE_QUEUE_URL", failure_queue_url)
    return built


HOLD_SECONDS = 20


@pytest.fixture
def held(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    """The delay queue that holds read incidents' pages (IncidentHoldSeconds=20), as its URL.

    moto's queue has no delay of its own: `release_held` delivers what it holds when the test says
    the hold is over, as the SQS event source would.
    """
    url = stack.sqs.create_queue(QueueName="holds")["QueueUrl"]
    monkeypatch.setenv("INCIDENT_HOLD_SECONDS", str(HOLD_SECONDS))
    monkeypatch.setenv("HOLD_QUEUE_URL", url)
    return url


def sqs_event(messages: list[dict[str, Any]], queue_arn: str = "arn:aws:sqs:us-east-1:111122223333:holds") -> dict:
    """A batch as the SQS event source hands it to a function."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def release_held(app: ModuleType, stack: Stack, url: str) -> list[dict[str, Any]]:
    """Deliver every held page to the evaluator, one batch per receive, deleting each batch it took."""
    results = []
    while True:
        messages = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return results
        results.append(app.lambda_handler(sqs_event(messages), LambdaContext()))
        for message in messages:
            stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


class _CurrentStdout:
    """A stream that always writes to whatever `sys.stdout` is now (capsys swaps it per phase)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def app(stack: Stack, capsys: pytest.CaptureFixture[str]) -> Iterator[ModuleType]:
    """The evaluator module, with its warm-start caches emptied so that each test is a cold start.

    The module-level Logger keeps the stdout it saw at import; point it at the current one.
    """
    module = importlib.import_module("evaluator.app")
    module.logger.registered_handler.stream = _CurrentStdout()
    module.runtime.cache_clear()
    module.metrics.clear_metrics()  # a test that called a helper outside the handler left some unflushed
    parameters.clear_caches()
    yield module
    module.runtime.cache_clear()
    parameters.clear_caches()


def emf_records(stdout: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF blobs among the captured stdout lines."""
    out = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            out.append(json.loads(line))
    return out


def metric_sum(blobs: list[dict[str, Any]], name: str, **dimensions: str) -> float:
    """Sum of a metric over EMF blobs whose dimension values match."""
    total = 0.0
    for blob in blobs:
        names = {m["Name"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
        if name in names and all(blob.get(k) == v for k, v in dimensions.items()):
            value = blob[name]
            total += sum(value) if isinstance(value, list) else value
    return total


def log_lines(stdout: str) -> list[dict[str, Any]]:
    """Powertools JSON log lines (not EMF) among the captured stdout lines."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"_aws"' not in line]


def case_event(name: str, event_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """A verdict case wrapped as EventBridge delivers it, optionally with another eventID."""
    record = load_case(Path(EVENTS / "cases" / f"{name}.json"))["record"]
    record = {**record, **changes, **({"eventID": event_id} if event_id else {})}
    return eventbridge_event(record)
