"""`paramwatch redrive`: parked alerts are republished, parked events go back to the evaluator."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from moto import mock_aws

from harness import REGION
from paramwatch.cli import main
from support import eventbridge_event, ssm_read


@pytest.fixture
def deployed(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(config={"lambda": {"use_docker": False}}):
        iam = boto3.client("iam")
        role = iam.create_role(RoleName="evaluator", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        boto3.client("lambda").create_function(
            FunctionName="paramwatch-evaluator",
            Runtime="python3.13",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        )
        sqs, sns = boto3.client("sqs"), boto3.client("sns")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
        yield {
            "sqs": sqs,
            "topic": topic,
            "inbox": inbox,
            "failures": sqs.create_queue(QueueName="failures")["QueueUrl"],
            "dlq": sqs.create_queue(QueueName="rules-dlq")["QueueUrl"],
        }


def test_redrive_republishes_alerts_and_reinvokes_events(deployed) -> None:
    # GIVEN a parked alert, a Lambda destination record and an EventBridge dead letter
    event = eventbridge_event(ssm_read("parked-1", ["/billing/key"]))
    parked_alert = {
        "kind": "paramwatch-parked-alert",
        "error": "KMSDisabled: injected",
        "publish": {
            "TopicArn": deployed["topic"],
            "Subject": "paramwatch HIGH root-access: root /x",
            "Message": "body",
        },
        "verdict": {"event_id": "e9", "rule": "root-access"},
    }
    sqs = deployed["sqs"]
    sqs.send_message(QueueUrl=deployed["failures"], MessageBody=json.dumps(parked_alert))
    sqs.send_message(QueueUrl=deployed["failures"], MessageBody=json.dumps({"requestPayload": event}))
    sqs.send_message(QueueUrl=deployed["dlq"], MessageBody=json.dumps(event))
    sqs.send_message(QueueUrl=deployed["dlq"], MessageBody="not ours")
    out, err = io.StringIO(), io.StringIO()
    # WHEN redrive runs over both queues
    code = main(
        ["redrive", "--function", "paramwatch-evaluator", "--queue", deployed["failures"], "--queue", deployed["dlq"]],
        out=out,
        err=err,
    )
    # THEN the alert is published again, both events were handed back, and the foreign message stays
    assert "1 alert republished" in out.getvalue() and "2 event re-evaluated" in out.getvalue()
    inbox = sqs.receive_message(QueueUrl=deployed["inbox"], MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["Subject"] for m in inbox] == ["paramwatch HIGH root-access: root /x"]
    assert code == 2 and "not a paramwatch record" in err.getvalue()
    assert "Messages" not in sqs.receive_message(QueueUrl=deployed["failures"])
    attributes = sqs.get_queue_attributes(QueueUrl=deployed["dlq"], AttributeNames=["All"])["Attributes"]
    assert (
        int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 1
    )


def test_redrive_hands_a_parked_held_page_back_to_the_evaluator(deployed, monkeypatch) -> None:
    # GIVEN a held page the hold queue's redrive policy moved to the failure queue
    import botocore.handlers

    from paramwatch.allowlist import EMPTY
    from paramwatch.detector import Verdict, judge
    from paramwatch_aws.held_pages import HoldQueue, held_page

    verdict = Verdict(judge(ssm_read("held-1", ["/billing/key"]), EMPTY), paged=True)
    HoldQueue(deployed["sqs"], deployed["failures"]).send("unauthorized-read#held-1", verdict)
    payloads = []
    monkeypatch.setattr(
        botocore.handlers,
        "BUILTIN_HANDLERS",
        [
            ("before-parameter-build.lambda.Invoke", lambda params, **_: payloads.append(params["Payload"])),
            *botocore.handlers.BUILTIN_HANDLERS,
        ],
    )
    out, err = io.StringIO(), io.StringIO()
    # WHEN redrive runs
    code = main(["redrive", "--function", "paramwatch-evaluator", "--queue", deployed["failures"]], out=out, err=err)
    # THEN the evaluator got it as the SQS event source delivers it, and the queue is empty
    assert code == 0 and "1 held page sent" in out.getvalue()
    ((record,),) = [json.loads(payload)["Records"] for payload in payloads]
    assert record["eventSource"] == "aws:sqs" and held_page(record["body"])[0] == "unauthorized-read#held-1"
    assert "Messages" not in deployed["sqs"].receive_message(QueueUrl=deployed["failures"])


def test_redrive_needs_a_target(deployed) -> None:
    err = io.StringIO()
    assert main(["redrive"], out=io.StringIO(), err=err) == 2
    assert "--stack" in err.getvalue()


def test_redrive_on_empty_queues_says_so(deployed) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["redrive", "--function", "paramwatch-evaluator", "--queue", deployed["failures"]], out=out, err=err)
    assert (code, out.getvalue(), err.getvalue()) == (0, "nothing to redrive: the queues are empty\n", "")


def test_redrive_of_a_stack_that_does_not_exist_is_one_line(deployed) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["redrive", "--stack", "no-such-stack"], out=out, err=err) == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paramwatch: error: ") and "no-such-stack" in lines[0]


def test_redrive_without_credentials_is_one_line(monkeypatch, tmp_path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    out, err = io.StringIO(), io.StringIO()
    assert main(["redrive", "--stack", "paramwatch", "--region", REGION], out=out, err=err) == 2
    assert err.getvalue() == "paramwatch: error: Unable to locate credentials\n"
    assert out.getvalue() == ""  # it reached no queue, so it does not say they are empty


def test_redrive_goes_on_after_an_event_fails_again_and_sums_up(deployed, monkeypatch) -> None:
    # GIVEN two parked events, and an evaluator that fails on the first one it is handed again
    import botocore.handlers
    from botocore.awsrequest import AWSResponse

    calls = []

    def fail_first(**_):
        calls.append(1)
        if len(calls) == 1:
            answer = {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(b'{"errorMessage":"x"}')}
            return AWSResponse("https://lambda", 200, {}, None), answer
        return None

    monkeypatch.setattr(
        botocore.handlers,
        "BUILTIN_HANDLERS",
        [("before-call.lambda.Invoke", fail_first), *botocore.handlers.BUILTIN_HANDLERS],
    )
    sqs = deployed["sqs"]
    for event_id in ("again-1", "again-2"):
        event = eventbridge_event(ssm_read(event_id, ["/billing/key"]))
        sqs.send_message(QueueUrl=deployed["failures"], MessageBody=json.dumps({"requestPayload": event}))
    out, err = io.StringIO(), io.StringIO()
    # WHEN redrive runs
    code = main(["redrive", "--function", "paramwatch-evaluator", "--queue", deployed["failures"]], out=out, err=err)
    # THEN it handled the second, kept the first in the queue, and says both
    assert code == 2
    assert out.getvalue() == "1 event re-evaluated\n"
    assert "left in queue" in err.getvalue() and "the evaluator failed again" in err.getvalue()
    assert "Traceback" not in err.getvalue()
    attributes = sqs.get_queue_attributes(QueueUrl=deployed["failures"], AttributeNames=["All"])["Attributes"]
    assert (
        int(attributes["ApproximateNumberOfMessagesNotVisible"]) + int(attributes["ApproximateNumberOfMessages"]) == 1
    )
