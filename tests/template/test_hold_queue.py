"""The hold queue of read incidents' pages: encrypted with the pipeline key, which the evaluator may
use through SQS only, received by the evaluator's event source mapping, least privilege, parked in
the failure queue after its retries, and alarmed when pages wait past their hold.

Source for the key: SQS Developer Guide, "Amazon SQS key management" (sqs-key-management.html):
producers need kms:GenerateDataKey and kms:Decrypt, consumers kms:Decrypt; Lambda's event source
mapping receives as the function's execution role.
"""

from __future__ import annotations

from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse
from test_key_policy import ACCOUNT, EVALUATOR, Request, allowed, resolve, via

from sam_template import resources_of
from support import ROOT


@pytest.fixture(scope="module")
def policy(translated) -> dict[str, Any]:
    return resolve(translated["Resources"]["PipelineKey"]["Properties"]["KeyPolicy"])


def test_the_hold_queue_is_encrypted_with_the_pipeline_key_and_parks_in_the_failure_queue(translated) -> None:
    queue = translated["Resources"]["HoldQueue"]
    props = queue["Properties"]
    assert queue["Condition"] == "HoldsPages"
    assert props["KmsMasterKeyId"] == {
        "Fn::If": ["CreatePipelineKey", {"Ref": "PipelineKey"}, {"Ref": "PipelineKmsKeyArn"}]
    }
    assert props["DelaySeconds"] == {"Ref": "IncidentHoldSeconds"}
    assert props["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["FailureQueue", "Arn"]}
    assert props["RedrivePolicy"]["maxReceiveCount"] >= 2  # a page that fails once is retried
    function = translated["Resources"]["EvaluatorFunction"]["Properties"]
    # Lambda's documented rule for an SQS event source: visibility timeout >= 6 x function timeout
    assert props["VisibilityTimeout"] >= 6 * function["Timeout"]


def test_the_evaluator_receives_the_held_pages(translated) -> None:
    (mapping,) = resources_of(translated, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["HoldQueue", "Arn"]}
    assert mapping["Properties"]["FunctionName"] == {"Ref": "EvaluatorFunction"}
    env = translated["Resources"]["EvaluatorFunction"]["Properties"]["Environment"]["Variables"]
    assert env["INCIDENT_HOLD_SECONDS"] == {"Ref": "IncidentHoldSeconds"}
    assert env["HOLD_QUEUE_URL"] == {"Fn::If": ["HoldsPages", {"Ref": "HoldQueue"}, ""]}


def test_the_evaluator_may_use_the_hold_queue_and_nothing_else_more(translated) -> None:
    hold = translated["Resources"]["EvaluatorHoldPolicy"]
    assert hold["Condition"] == "HoldsPages" and hold["Properties"]["RoleName"] == {"Ref": "EvaluatorRole"}
    (statement,) = hold["Properties"]["PolicyDocument"]["Statement"]
    assert set(statement["Action"]) == {
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert statement["Resource"] == {"Fn::GetAtt": ["HoldQueue", "Arn"]}


@pytest.mark.parametrize("action", ["kms:GenerateDataKey", "kms:Decrypt"])
def test_the_evaluator_uses_the_key_through_sqs_only(policy, action) -> None:
    context = via("sqs", **{"aws:PrincipalArn": EVALUATOR})
    assert allowed(policy, Request(EVALUATOR, action, context))
    # not directly, not through another service, and nobody else through SQS
    assert not allowed(
        policy, Request(EVALUATOR, action, {"kms:CallerAccount": ACCOUNT, "aws:PrincipalArn": EVALUATOR})
    )
    assert not allowed(policy, Request(EVALUATOR, action, via("ssm", **{"aws:PrincipalArn": EVALUATOR})))
    other = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
    assert not allowed(policy, Request(other, action, via("sqs", **{"aws:PrincipalArn": other})))


def test_pages_that_wait_past_their_hold_raise_an_alarm(translated) -> None:
    alarm = translated["Resources"]["HeldPagesStuckAlarm"]["Properties"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["HoldQueue", "QueueName"]}}]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible" and alarm["Statistic"] == "Minimum"
    assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}]


def test_a_hold_of_zero_or_lean_mode_creates_no_queue() -> None:
    template = yaml_parse((ROOT / "template.yaml").read_text())
    # and lean mode, which delivers no Decrypt SSM made, has nothing to hold a by-path call for
    assert template["Conditions"]["HoldsPages"] == {
        "Fn::And": [{"Fn::Not": [{"Fn::Equals": [{"Ref": "IncidentHoldSeconds"}, "0"]}]}, {"Condition": "FullMode"}]
    }
    parameter = template["Parameters"]["IncidentHoldSeconds"]
    # SQS DelaySeconds: 0 to 900
    assert (parameter["MinValue"], parameter["MaxValue"]) == (0, 900) and 0 < parameter["Default"] <= 60
    conditional = {name for name, r in template["Resources"].items() if r.get("Condition") == "HoldsPages"}
    assert conditional == {"HoldQueue", "EvaluatorHoldPolicy", "HeldPagesSource", "HeldPagesStuckAlarm"}
