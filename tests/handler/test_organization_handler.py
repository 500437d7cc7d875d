"""The evaluator in organization mode: events from three accounts and two regions, and the whole
path from a member account's default bus to an alert, as far as moto goes.
"""

from __future__ import annotations

import json

import boto3
import pytest
from samtranslator.yaml_helper import yaml_parse

from harness import REGION, LambdaContext
from support import ORG_ACCOUNTS, ORG_REGIONS, ROOT, deploy_rule_patterns, org_envelope, org_read, translate_template

A, B, C = ORG_ACCOUNTS
EAST, WEST = ORG_REGIONS
ALLOWLIST = {
    "version": 1,
    "grants": [{"name": "reader", "principals": ["arn:aws:iam::*:role/app/reader"], "parameters": ["/app/*"]}],
    "honeytokens": ["/decoy/*"],
    "accounts": {A: "shared-services", B: "payments-prod", C: "sandbox"},
}


def handle(app, record: dict) -> list[dict]:
    return app.lambda_handler(org_envelope(record), LambdaContext())["verdicts"]


@pytest.fixture
def org(app, stack):
    stack.put_allowlist(json.dumps(ALLOWLIST))
    return app


def test_reads_from_three_accounts_and_two_regions(org, stack) -> None:
    # GIVEN the role app/reader in every account reading its own /app secrets, in both regions
    for account in ORG_ACCOUNTS:
        for region in ORG_REGIONS:
            assert handle(org, org_read(f"ok-{account}-{region}", account, region, "/app/db")) == []
    assert stack.alerts() == [], "one grant covers the role in every account"
    # WHEN a decoy is read in each account (us-east-1), and once more in B
    for account in ORG_ACCOUNTS:
        handle(org, org_read(f"decoy-{account}", account, EAST, "/decoy/key"))
    repeat = handle(org, org_read("decoy-again", B, EAST, "/decoy/key", time="2026-11-02T10:20:00Z"))
    # THEN each account pages once, and every alert says which account and region
    alerts = stack.alerts()
    assert len(alerts) == 3
    by_account = {a["MessageAttributes"]["account"]["Value"]: a for a in alerts}
    assert set(by_account) == set(ORG_ACCOUNTS)
    for account, name in ALLOWLIST["accounts"].items():
        alert = by_account[account]
        assert alert["MessageAttributes"]["region"]["Value"] == EAST
        assert f"account {account} ({name}), {EAST}" in alert["Message"]
        appended = json.loads(alert["Message"].splitlines()[-1])
        assert (appended["account"], appended["account_name"], appended["region"]) == (account, name, EAST)
    assert [v["paged"] for v in repeat] == [False]


def test_a_role_reading_into_another_account_is_judged_where_it_read(org, stack) -> None:
    # GIVEN app/reader of A reading B's /app/db (its grant covers its own account's paths only)
    (verdict,) = handle(org, org_read("cross", B, WEST, "/app/db", caller=A))
    # THEN it is reported as a cross-account read, in B, by A's role
    assert verdict["rule"] == "unauthorized-read"
    assert (verdict["account"], verdict["account_name"], verdict["region"]) == (B, "payments-prod", WEST)
    assert verdict["principal"] == f"arn:aws:iam::{A}:role/app/reader"
    (alert,) = stack.alerts()
    assert alert["MessageAttributes"]["account"]["Value"] == B


def test_state_is_kept_per_account(org, stack) -> None:
    # GIVEN the same role name in three accounts, each decrypting 12 secrets (bulk threshold 20)
    for account in ORG_ACCOUNTS:
        for i in range(12):
            handle(org, org_read(f"{account}-{i}", account, EAST, f"/app/{i}"))
    # THEN the DynamoDB memory counts three principals: nothing pages
    assert stack.alerts() == []
    # AND 12 more in A alone take A's role over the threshold
    for i in range(12, 24):
        handle(org, org_read(f"{A}-{i}", A, EAST, f"/app/{i}"))
    (alert,) = stack.alerts()
    assert alert["MessageAttributes"]["rule"]["Value"] == "bulk-retrieval"
    assert alert["MessageAttributes"]["account"]["Value"] == A


def test_member_bus_to_central_bus_to_evaluator_to_alert(org, stack, monkeypatch) -> None:
    """The whole path, hop by hop, as far as moto allows.

    moto delivers a rule's target on another account's event bus (member default bus -> central
    bus), but it invokes no Lambda target: the central rule's target here is an SQS queue, and the
    evaluator is called with what that queue received. moto also drops the envelope's `account`
    on delivery, where AWS keeps the member's; the record's own `recipientAccountId` carries the
    member account either way, and that is what the evaluator reads. moto ignores the rules' State, enforces neither the bus policy's aws:PrincipalOrgID
    condition nor the member role's permissions, and does not retry or dead-letter: those are
    checked on the templates (tests/template/test_organization_template.py) instead.
    """
    central_account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    bus_arn = f"arn:aws:events:{REGION}:{central_account}:event-bus/paramwatch-organization"
    # the central account: its bus, and its organization rule as the template deploys it
    central_events = boto3.client("events", region_name=REGION)
    central_events.create_event_bus(Name="paramwatch-organization")
    patterns = deploy_rule_patterns(
        translate_template(ROOT / "template.yaml"), parameters={"OrganizationId": "o-a1b2c3d4e5"}
    )
    capture = stack.sqs.create_queue(QueueName="evaluator-stand-in")["QueueUrl"]
    capture_arn = stack.sqs.get_queue_attributes(QueueUrl=capture, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    central_events.put_rule(
        Name="org-decrypting-reads",
        EventBusName="paramwatch-organization",
        EventPattern=patterns["OrganizationDecryptingReadRule"],
    )
    central_events.put_targets(
        Rule="org-decrypting-reads",
        EventBusName="paramwatch-organization",
        Targets=[{"Id": "evaluator", "Arn": capture_arn}],
    )
    # a member account (B) with member.yaml deployed by CloudFormation, as the StackSet would
    member = boto3.Session(**_credentials_in(B), region_name=REGION)
    member.client("cloudformation").create_stack(
        StackName="paramwatch-member",
        TemplateBody=(ROOT / "member.yaml").read_text(),
        Parameters=[{"ParameterKey": "CentralBusArn", "ParameterValue": bus_arn}],
        Capabilities=["CAPABILITY_IAM"],
    )
    # the three read rules and the tamper rule (the fifth, the heartbeat's schedule, has no pattern). moto would
    # match that schedule-only rule against every PutEvents and fail on it; EventBridge never does.
    from moto.events.models import Rule

    deliver = Rule.send_to_targets
    monkeypatch.setattr(
        Rule,
        "send_to_targets",
        lambda rule, *a, **k: None if rule.event_pattern.dump() is None else deliver(rule, *a, **k),
    )
    rules = [r for r in member.client("events").list_rules()["Rules"] if r.get("EventPattern")]
    assert len(rules) == 4 and all(r.get("EventBusName", "default") == "default" for r in rules)
    # hop 1: CloudTrail puts an unauthorized read on B's default bus
    record = org_read("member-read", B, REGION, "/payments/db")
    envelope = org_envelope(record)
    member.client("events").put_events(
        Entries=[{"Source": envelope["source"], "DetailType": envelope["detail-type"], "Detail": json.dumps(record)}]
    )
    # hop 2: the member rule forwarded it to the central bus, whose organization rule delivered it
    (message,) = stack.drain(capture)
    assert message["detail"] == record
    assert "account" not in message, "moto drops the envelope's account (AWS keeps the member's)"
    # hop 3: the evaluator judges it
    (verdict,) = org.lambda_handler(message, LambdaContext())["verdicts"]
    assert (verdict["rule"], verdict["account"], verdict["account_name"]) == ("unauthorized-read", B, "payments-prod")
    # hop 4: the alert names the member account
    (alert,) = stack.alerts()
    assert alert["MessageAttributes"]["account"]["Value"] == B
    assert f"account {B} (payments-prod)" in alert["Message"]
    # AND tamper in B: someone disables B's read rule; the member tamper rule forwards it, the
    # organization bus's tamper rule delivers it, and the evaluator (knowing member rules) pages
    central_events.put_rule(
        Name="org-tamper", EventBusName="paramwatch-organization", EventPattern=patterns["OrganizationTamperRule"]
    )
    central_events.put_targets(
        Rule="org-tamper", EventBusName="paramwatch-organization", Targets=[{"Id": "evaluator", "Arn": capture_arn}]
    )
    tamper = {
        **record,
        "eventID": "member-tamper",
        "eventSource": "events.amazonaws.com",
        "eventName": "DisableRule",
        "requestParameters": {"name": "paramwatch-member-reads"},
    }
    member.client("events").put_events(
        Entries=[{"Source": "aws.events", "DetailType": envelope["detail-type"], "Detail": json.dumps(tamper)}]
    )
    (message,) = stack.drain(capture)
    monkeypatch.setenv("MEMBER_RULE_PREFIX", "paramwatch-member-")
    org.runtime.cache_clear()
    (verdict,) = org.lambda_handler(message, LambdaContext())["verdicts"]
    assert (verdict["rule"], verdict["severity"], verdict["account"]) == ("tamper", "high", B)
    assert len(stack.alerts()) == 1


def _credentials_in(account: str) -> dict[str, str]:
    """moto treats credentials from assuming a role in another account as that account's."""
    assumed = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="test"
    )["Credentials"]
    return {
        "aws_access_key_id": assumed["AccessKeyId"],
        "aws_secret_access_key": assumed["SecretAccessKey"],
        "aws_session_token": assumed["SessionToken"],
    }


def test_member_template_is_plain_cloudformation() -> None:
    assert "Transform" not in yaml_parse((ROOT / "member.yaml").read_text())
