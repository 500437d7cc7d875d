"""Names built from the stack name stay within each service's limit for any stack name CloudFormation accepts.

`${AWS::StackName}-honeytoken-reads` passed EventBridge's 64-character rule-name limit only for
stack names up to 47 characters. CloudFormation accepts stack names of up to 128 characters; a
resource without a name gets one CloudFormation generates within the limit.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

LONGEST_STACK = "p" * 128  # CloudFormation's limit on stack names
PSEUDO = {"AWS::StackName": LONGEST_STACK, "AWS::Region": "ap-southeast-2", "AWS::AccountId": "111122223333"}
# (resource type, name property) -> the service's documented maximum length
LIMITS = {
    ("AWS::Events::Rule", "Name"): 64,
    ("AWS::Scheduler::Schedule", "Name"): 64,
    ("AWS::Lambda::Function", "FunctionName"): 64,
    ("AWS::IAM::Role", "RoleName"): 64,
    ("AWS::SQS::Queue", "QueueName"): 80,
    ("AWS::SNS::Topic", "TopicName"): 256,
    ("AWS::KMS::Alias", "AliasName"): 256,
    ("AWS::DynamoDB::Table", "TableName"): 255,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::SSM::Parameter", "Name"): 1011,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
}


def _resolve(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([^}]+)\}", lambda m: PSEUDO.get(m.group(1), "x" * 20), value["Fn::Sub"])
    return None


@pytest.mark.parametrize(("kind", "prop"), sorted(LIMITS))
def test_names_fit_for_the_longest_stack_name(translated, kind: str, prop: str) -> None:
    for logical, resource in translated["Resources"].items():
        if resource["Type"] != kind or prop not in resource.get("Properties", {}):
            continue
        name = _resolve(resource["Properties"][prop])
        assert name is not None, f"{logical}.{prop}: cannot check {resource['Properties'][prop]!r}"
        assert len(name) <= LIMITS[kind, prop], f"{logical}.{prop} is {len(name)} characters for a 128-character stack"


def test_no_rule_is_named_after_the_stack(translated) -> None:
    for logical, resource in translated["Resources"].items():
        if resource["Type"] == "AWS::Events::Rule":
            assert "Name" not in resource["Properties"], logical
