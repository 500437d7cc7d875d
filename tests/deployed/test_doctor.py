"""`paramwatch doctor` against the real template deployed on a moto server, reached the way a user's
AWS CLI would reach an endpoint: through `AWS_ENDPOINT_URL`, with the standard credential chain.

moto's CloudFormation creates the rules (with their State), targets, permissions, functions, topics,
queues and parameters of the SAM-translated template; it skips the alarms and the e-mail
subscription, which the test makes itself. The heartbeats are recorded as the evaluator records them.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from paramwatch.cli import main
from paramwatch.liveness import Member
from paramwatch_aws.liveness_store import LivenessStore
from support import ROOT, translate_template

STACK = "paramwatch"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()


@pytest.fixture(scope="module")
def template() -> Iterator[dict]:
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_DEFAULT_REGION", REGION)  # the SAM translator resolves pseudo parameters
    yield translate_template(ROOT / "template.yaml")
    patch.undo()


def client(name: str):
    return boto3.client(name, region_name=REGION)


@pytest.fixture
def deployed(server: str, template: dict, monkeypatch: pytest.MonkeyPatch) -> str:
    """A healthy deployment: the stack, a logging trail that records everything, a confirmed
    subscription, heartbeats on both legs, empty queues."""
    requests.post(f"{server}/moto-api/reset", timeout=10)
    for key, value in {
        "AWS_ENDPOINT_URL": server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    s3 = client("s3")
    s3.create_bucket(Bucket="bucket")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return {}\n")
    s3.put_object(Bucket="bucket", Key="key", Body=code.getvalue())
    cloudformation = client("cloudformation")
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    }
    s3.create_bucket(Bucket="trail-bucket")
    cloudtrail = client("cloudtrail")
    cloudtrail.create_trail(Name="management", S3BucketName="trail-bucket", IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name="management")
    cloudtrail.put_event_selectors(
        TrailName="management", EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}]
    )
    client("sns").subscribe(TopicArn=outputs["AlertTopicArn"], Protocol="email", Endpoint="secops@example.com")
    account = outputs["AlertTopicArn"].split(":")[4]
    for leg in ("ssm", "kms", "tamper"):
        put_member_beat(account, REGION, leg, minutes_ago=1)  # the stack's own legs, as the evaluator records them
    return server


def doctor(*extra: str) -> tuple[int, list[str], str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["doctor", "--stack", STACK, *extra], out=out, err=err)
    return code, out.getvalue().splitlines(), err.getvalue()


def failing(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


def rule_named(logical: str) -> str:
    resources = client("cloudformation").describe_stack_resources(StackName=STACK)["StackResources"]
    return next(r["PhysicalResourceId"] for r in resources if r.get("LogicalResourceId") == logical)


def test_a_healthy_deployment_passes_every_check(deployed) -> None:
    code, lines, err = doctor()
    assert (code, failing(lines), err) == (0, [], ""), lines
    checked = {line.split()[1] for line in lines}
    assert checked == {"trail", "rule", "evaluator", "allowlist", "alerts", "heartbeat", "queues"}
    assert sum(line.split()[1] == "rule" for line in lines) == 5  # 3 read rules, tamper, heartbeat schedule
    assert all(line.startswith("ok") for line in lines)


def test_a_trail_that_is_not_logging(deployed) -> None:
    client("cloudtrail").stop_logging(Name="management")
    code, lines, _ = doctor()
    assert code == 1
    (line,) = failing(lines)
    assert line.split()[1] == "trail" and "management is not logging" in line
    assert "fix: aws cloudtrail start-logging --name management" in line


def test_a_trail_whose_kms_events_are_excluded(deployed) -> None:
    client("cloudtrail").put_event_selectors(
        TrailName="management",
        EventSelectors=[
            {
                "ReadWriteType": "All",
                "IncludeManagementEvents": True,
                "ExcludeManagementEventSources": ["kms.amazonaws.com"],
            }
        ],
    )
    code, lines, _ = doctor()
    assert code == 1
    (line,) = failing(lines)
    assert line.split()[1] == "trail" and "no longer records KMS events" in line
    assert "put-event-selectors --trail-name management" in line


def test_a_disabled_rule(deployed) -> None:
    name = rule_named("DecryptingReadRule")
    client("events").disable_rule(Name=name)
    code, lines, _ = doctor()
    assert code == 1
    (line,) = failing(lines)
    assert f"DecryptingReadRule ({name}) is DISABLED, not ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" in line
    # enable-rule would make it plain ENABLED, which gets no read-only events: the fix restores the State
    assert "put-rule" in line and "--state ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" in line


def test_a_missing_subscription(deployed) -> None:
    sns = client("sns")
    topic = client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    topic_arn = next(o["OutputValue"] for o in topic if o["OutputKey"] == "AlertTopicArn")
    for sub in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    code, lines, _ = doctor()
    assert code == 1
    (line,) = failing(lines)
    assert line.split()[1] == "alerts" and "no confirmed subscription (none at all)" in line
    assert "aws sns subscribe --topic-arn" in line


def test_a_stack_that_does_not_exist_cannot_be_checked(deployed) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["doctor", "--stack", "nope"], out=out, err=err) == 2
    assert err.getvalue().strip() == "paramwatch: cannot check: stack nope not found in us-east-1"


def put_member_beat(account: str, region: str, leg: str, minutes_ago: int) -> None:
    """Record a heartbeat leg in the stack's state table, with the evaluator's own store."""
    table = boto3.resource("dynamodb", region_name=REGION).Table(rule_named("StateTable"))
    arrived = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    LivenessStore(table).record(Member(account, region, leg), arrived.timestamp())


def test_a_member_account_whose_heartbeat_stopped(deployed) -> None:
    # GIVEN organization mode: one member beats, another stopped two hours ago
    put_member_beat("444455556666", "eu-west-1", "ssm", minutes_ago=1)
    put_member_beat("777788889999", "eu-central-1", "ssm", minutes_ago=120)
    code, lines, _ = doctor()
    assert code == 1
    assert len(failing(lines)) == 1, lines
    (line,) = failing(lines)
    assert "account 777788889999 in eu-central-1, ssm leg: no heartbeat in the last 15 minutes (last " in line
    assert "fix: check the member stack there (rules, trail), then its canary's log group in eu-central-1" in line
    assert "ok   members      1 member account/region leg(s) beating" in lines


def test_a_leg_of_the_stacks_own_heartbeat_that_stopped(deployed) -> None:
    account = client("sns").list_topics()["Topics"][0]["TopicArn"].split(":")[4]
    put_member_beat(account, REGION, "kms", minutes_ago=60)
    code, lines, _ = doctor()
    assert code == 1
    (line,) = failing(lines)
    assert line.split()[1] == "heartbeat" and "kms leg: no heartbeat in the last 15 minutes" in line
    assert "whether the trail excludes KMS events" in line
    assert not [row for row in lines if row.split()[1] == "members"], "the stack's own legs are no members"


def test_a_disabled_hold_queue_source(deployed) -> None:
    """Held alerts (IncidentHoldSeconds) come back through an SQS event source; disabled, they wait unsent."""
    uuid = rule_named("HeldPagesSource")
    code, lines, _ = doctor()
    assert code == 0 and any("HeldPagesSource is Enabled and hands held alerts to" in line for line in lines)
    client("lambda").update_event_source_mapping(UUID=uuid, Enabled=False)
    code, lines, _ = doctor()
    assert code == 1
    (line,) = failing(lines)
    assert f"HeldPagesSource ({uuid}) is Disabled: held alerts wait unsent" in line
    assert f"aws lambda update-event-source-mapping --uuid {uuid} --enabled" in line


def test_a_deleted_hold_queue_source(deployed) -> None:
    uuid = rule_named("HeldPagesSource")
    client("lambda").delete_event_source_mapping(UUID=uuid)
    code, lines, _ = doctor()
    assert code == 1
    (line,) = failing(lines)
    assert f"HeldPagesSource ({uuid}) is deleted: held alerts are never sent" in line
