"""Test support: paths, the verdict cases, and EventBridge wrapping."""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from paramwatch.detector import Detector, Tuning, Verdict
from paramwatch.own import Own
from paramwatch.state import Claim, Delivery, MemoryState

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
CASES = sorted((EVENTS / "cases").glob("*.json"))
# PARAMWATCH_DATASET points a checkout elsewhere (a git worktree) at the same logs
DATASET = Path(
    os.environ.get("PARAMWATCH_DATASET", ROOT.parent / "shared" / "datasets" / "invictus-sigma-aws" / "CloudTrail")
)


# Cases marked "stack": "paramwatch" are judged as the stack named paramwatch sees them: its own
# resources by the names CloudFormation derives (replay --stack), plus its pipeline key.
PIPELINE_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OWN = replace(Own.for_stack("paramwatch"), keys=(PIPELINE_KEY, PIPELINE_KEY.rsplit("/", 1)[-1]))


def load_case(path: Path) -> dict:
    """One verdict case: a CloudTrail record, its expected finding, the rules that deliver it."""
    return json.loads(path.read_text())


def eventbridge_event(record: object) -> dict:
    """Wrap a CloudTrail record the way EventBridge delivers it."""
    source = record.get("eventSource", "unknown") if isinstance(record, dict) else "unknown"
    source = str(source).split(".")[0]
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "AWS API Call via CloudTrail",
        "source": f"aws.{source}",
        "account": "111122223333",
        "time": "2026-11-02T10:15:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": record,
    }


ACCOUNT = "111122223333"
ALICE = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLE",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "accountId": ACCOUNT,
    "userName": "alice",
}


def ssm_read(event_id: str, names: list[str], time: str = "2026-11-02T10:15:00Z", **extra: object) -> dict:
    """A GetParameter(s) call with decryption by alice (granted /platform/* in the sample allowlist)."""
    params = {"name": names[0]} if len(names) == 1 else {"names": names}
    return {
        "eventVersion": "1.09",
        "userIdentity": ALICE,
        "eventTime": time,
        "eventSource": "ssm.amazonaws.com",
        "eventName": "GetParameter" if len(names) == 1 else "GetParameters",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.5",
        "userAgent": "aws-cli/2.17.0",
        "requestParameters": {**params, "withDecryption": True},
        "eventID": event_id,
        "recipientAccountId": ACCOUNT,
        **extra,
    }


def by_path(
    event_id: str, path: str, time: str = "2026-11-02T10:15:00Z", recursive: bool = True, token: str | None = None
) -> dict:
    """Alice's `GetParametersByPath` with decryption (SSM API reference: `path`, `recursive`,
    `withDecryption`, and `nextToken` for the pages after the first)."""
    record = ssm_read(event_id, [path], time=time)
    record["eventName"] = "GetParametersByPath"
    record["requestParameters"] = {"path": path, "recursive": recursive, "withDecryption": True}
    if token:
        record["requestParameters"]["nextToken"] = token
    return record


def by_event(verdicts: list[Verdict]) -> dict[str, Verdict]:
    """Verdicts by the event ID of their finding."""
    return {v.finding.event_id: v for v in verdicts}


def kms_decrypt(event_id: str, name: str, time: str = "2026-11-02T10:15:00Z") -> dict:
    """The Decrypt that SSM makes for alice's read of `name`."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {**ALICE, "invokedBy": "AWS Internal"},
        "eventTime": time,
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "AWS Internal",
        "userAgent": "AWS Internal",
        "requestParameters": {
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"PARAMETER_ARN": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{name}"},
        },
        "eventID": event_id,
        "recipientAccountId": ACCOUNT,
    }


class _NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs only when a template names them by name."""

    def load(self) -> dict[str, str]:
        return {}


def translate_template(path: Path) -> dict[str, Any]:
    """Run the real SAM translator, with local code paths replaced by S3 URIs as `sam deploy` does."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(path.read_text())
    for resource in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key"
    return transform(template, {}, _NoManagedPolicies())


def deploy_rule_patterns(
    translated: dict[str, Any], stack: str = "paramwatch", parameters: dict[str, str] | None = None
) -> dict[str, str]:
    """Each EventBridge rule's pattern with parameters and intrinsics resolved by moto's CloudFormation.

    Only the rules (without targets, all on the default bus) are deployed, with the template's
    default parameters unless `parameters` overrides some; rules whose condition is false are absent.
    """
    import boto3
    from moto import mock_aws

    rules = {
        n: r
        for n, r in translated["Resources"].items()
        if r["Type"] == "AWS::Events::Rule" and "EventPattern" in r["Properties"]
    }
    mini = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": translated["Parameters"],
        "Conditions": translated.get("Conditions", {}),
        "Resources": {},
    }
    for name, rule in rules.items():
        rule = copy.deepcopy(rule)
        rule["Properties"].pop("Targets", None)
        rule["Properties"].pop("EventBusName", None)
        mini["Resources"][name] = rule
    overrides = [{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()]
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(mini), Parameters=overrides)
        physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
            if "LogicalResourceId" in r  # moto lists resources whose condition is false without one
        }
        events = boto3.client("events", region_name="us-east-1")
        return {
            name: events.describe_rule(Name=physical[name].split("/")[-1])["EventPattern"]
            for name in rules
            if name in physical
        }


ORG_ACCOUNTS = ("111122223333", "444455556666", "777788889999")
ORG_REGIONS = ("us-east-1", "eu-west-1")


def org_read(
    event_id: str,
    account: str,
    region: str,
    name: str,
    role: str = "app/reader",
    time: str = "2026-11-02T10:15:00Z",
    caller: str | None = None,
    **extra: object,
) -> dict:
    """A GetParameter with decryption by `role` of `caller` (default: `account`), recorded in
    `account` and `region`. A caller from another account names the parameter by ARN, as it must."""
    caller = caller or account
    issuer = f"arn:aws:iam::{caller}:role/{role}"
    if caller != account:
        name = f"arn:aws:ssm:{region}:{account}:parameter{name}"
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:session",
            "arn": f"arn:aws:sts::{caller}:assumed-role/{role.rsplit('/', 1)[-1]}/session",
            "accountId": caller,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": issuer, "accountId": caller}},
        },
        "eventTime": time,
        "eventSource": "ssm.amazonaws.com",
        "eventName": "GetParameter",
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-sdk-go-v2/1.30.0",
        "requestParameters": {"name": name, "withDecryption": True},
        "eventID": event_id,
        "recipientAccountId": account,
        **extra,
    }


def org_envelope(record: dict) -> dict:
    """A record as the central bus receives it from a member account's default bus."""
    event = eventbridge_event(record)
    return {**event, "account": record["recipientAccountId"], "region": record["awsRegion"]}


LIVE_MARKUP = frozenset("<>&`*~|[]")
"""Characters that start markup in mail (HTML), Slack/Chime/Teams markdown or Amazon Q chat."""
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def markup_in_json(line: str) -> set[str]:
    """Markup characters in a JSON line's strings; outside them only JSON's own brackets may appear."""
    json.loads(line)
    strings = _JSON_STRING.findall(line)
    outside = _JSON_STRING.sub("", line)
    return {c for s in strings for c in s if c in LIVE_MARKUP} | (set(outside) & LIVE_MARKUP - {"[", "]"})


def markup_in_text(text: str, own: tuple[str, ...] = ()) -> set[str]:
    """Markup characters in plain text once the tokens paramwatch writes itself (`own`) are removed."""
    for token in own:
        text = text.replace(token, "")
    return set(text) & LIVE_MARKUP


def markup_in_outputs(verdict: Any) -> dict[str, set[str]]:
    """Live markup in every output a verdict has: SNS subject, body (with its JSON appendix), the
    e-mail as sent, a table row and a jsonl line. Empty sets everywhere is the only right answer."""
    from paramwatch.render import body, subject, table, verdict_json

    finding = verdict.finding
    tags = (f"[{finding.rule}]",)  # the summary opens with the rule's name in brackets
    text = body(finding, verdict.notes).splitlines()
    return {
        "subject": markup_in_text(subject(finding)),
        "body": markup_in_text("\n".join(text[:-1]), tags),
        "body-json": markup_in_json(text[-1]),
        "table": markup_in_text(list(table([verdict]))[1], (" -> ",)),
        "jsonl": markup_in_json(verdict_json(verdict)),
    }


NO_LEARNING = Tuning(learning_days=0)


def run(detector: Detector, records: list[dict]) -> list[Verdict]:
    """Process records in order, finishing each event, as the handler does after a publish."""
    verdicts = []
    for record in records:
        outcome = detector.process(record, now=0.0)
        verdicts += outcome.verdicts
        if outcome.begun:
            detector.finish(outcome.begun)
    return verdicts


@dataclass
class ExpiringState(MemoryState):
    """MemoryState with the state table's semantics: an item vanishes once `now` reaches its
    `expires` (DynamoDB's TTL), and an event begun and neither finished nor abandoned is busy
    until its lease ends.

    Every write must name an expiry (the table has a TTL on every item), so a write without one
    raises. An item keeps the expiry of the write that created it, as a conditional put does.
    """

    now: float = 0.0
    expiry: dict[str, float] = field(default_factory=dict)
    lease: float = 120.0  # the evaluator's lease on an event in progress (DynamoState's default)
    leases: dict[str, float] = field(default_factory=dict)

    def begin(self, event_id: str, now: float, expires: float) -> Delivery:
        self._needs(expires, "event")
        key = f"event#{event_id}"
        if key in self.expiry and self.expiry[key] <= self.now:  # the TTL removed the event's item
            del self.expiry[key]
            self.events.pop(event_id, None)
        if self.events.get(event_id) is Delivery.BUSY and now < self.leases[event_id]:
            return Delivery.BUSY
        if self.events.get(event_id) is not Delivery.DONE:  # a conditional put: a new item, a new lease
            self.leases[event_id] = now + self.lease
            self.expiry[key] = expires
        return super().begin(event_id, now, expires)

    def _live(self, key: str, expires: float | None = None) -> None:
        if key in self.expiry and self.expiry[key] <= self.now:
            for table in (self.claims, self.sets, self.counters):
                table.pop(key, None)
            del self.expiry[key]
        if expires is not None and key not in self.expiry:
            self.expiry[key] = expires

    @staticmethod
    def _needs(expires: float | None, what: str) -> None:
        if expires is None:
            raise TypeError(f"{what} without an expiry")

    def claim(self, key: str, claim: Claim, expires: float) -> Claim:
        self._needs(expires, "claim")
        self._live(key, expires)
        return super().claim(key, claim, expires)

    def add_members(self, key: str, members: Iterable[str], expires: float, cap: int) -> int:
        self._needs(expires, "members")
        self._live(key, expires)
        return super().add_members(key, members, expires, cap)

    def increment(self, key: str, expires: float) -> int:
        self._needs(expires, "counter")
        self._live(key, expires)
        return super().increment(key, expires)

    def peek(self, key: str) -> Claim | None:
        self._live(key)
        return super().peek(key)

    def members(self, key: str) -> frozenset[str]:
        self._live(key)
        return super().members(key)

    def count(self, key: str) -> int:
        self._live(key)
        return super().count(key)
