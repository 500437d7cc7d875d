"""What the template derives from the stack name stays within each service's limit for any stack
name CloudFormation accepts (128 characters).

`${AWS::StackName}-honeytoken-reads` passed EventBridge's 64-character rule-name limit only for
stack names up to 47 characters; the rules now have no name (CloudFormation generates one within
the limit). The stack name also lands in names of other resources, in SSM parameter names (whose
limit counts the whole ARN), in the tamper rule's event pattern (EventBridge quota: 2,048
characters) and in the evaluator's settings (Lambda: 4 KB of environment), so each is checked here
with the longest stack name (and the longest parameter values the template accepts). The member
template (member.yaml) is checked the same way: StackSets name its stacks
StackSet-<stack set>-<id>, about 100 characters.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from paramwatch.own import MEMBER_PREFIX
from support import ROOT, deploy_rule_patterns

LONGEST_STACK = "p" * 128  # CloudFormation: a stack name holds at most 128 characters
PSEUDO = {
    "AWS::StackName": LONGEST_STACK,
    "AWS::Region": "us-isob-east-1",
    "AWS::AccountId": "111122223333",
    "AWS::Partition": "aws-iso-b",
}
# (resource type, name property) -> the documented maximum length of the name:
NAME_LIMITS = {
    ("AWS::Events::Rule", "Name"): 64,  # EventBridge API PutRule, Name: 1-64
    ("AWS::Events::EventBus", "Name"): 256,  # EventBridge API CreateEventBus, Name: 1-256
    ("AWS::Scheduler::Schedule", "Name"): 64,  # Scheduler API CreateSchedule, Name: 1-64
    ("AWS::Lambda::Function", "FunctionName"): 64,  # Lambda: "a function name is limited to 64 characters"
    ("AWS::IAM::Role", "RoleName"): 64,  # IAM API CreateRole, RoleName: 1-64
    ("AWS::SQS::Queue", "QueueName"): 80,  # SQS CreateQueue: "a queue name can have up to 80 characters"
    ("AWS::SNS::Topic", "TopicName"): 256,  # SNS CreateTopic: "up to 256 characters"
    ("AWS::KMS::Alias", "AliasName"): 256,  # KMS CreateAlias: "string of 1-256 characters"
    ("AWS::DynamoDB::Table", "TableName"): 255,  # DynamoDB naming rules: 3-255 characters
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,  # CloudWatch Logs CreateLogGroup: 1-512
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,  # CloudWatch PutMetricAlarm, AlarmName: 1-255
    ("AWS::CloudWatch::Dashboard", "DashboardName"): 255,  # PutDashboard: "the maximum length is 255"
    # SSM PutParameter: "The maximum length for a parameter name, including the full length of
    # the parameter ARN, is 1011 characters", checked on the ARN below.
    ("AWS::SSM::Parameter", "Name"): 1011,
}
SSM_HIERARCHY_DEPTH = 15  # SSM: "Parameter hierarchies are limited to a maximum depth of fifteen levels"
EVENT_PATTERN_QUOTA = 2048  # EventBridge quotas, "Event pattern size": 2,048 characters (default)
ORGANIZATION = "o-a1b2c3d4e5"
CENTRAL_BUS = "arn:aws:events:us-east-1:999988887777:event-bus/paramwatch-organization"


@pytest.fixture(scope="module", params=["template.yaml", "member.yaml"])
def template(request, translated) -> dict[str, Any]:
    """The central template after the SAM transform, and the member template (no transform)."""
    return translated if request.param == "template.yaml" else yaml_parse((ROOT / "member.yaml").read_text())


def _resolve(value: Any) -> str | None:
    """A name as CloudFormation would resolve it, None when it depends on more than pseudo parameters."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in PSEUDO:
        return PSEUDO[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        text = value["Fn::Sub"]
        if any(m.group(1) not in PSEUDO for m in re.finditer(r"\$\{([^}!]+)\}", text)):
            return None
        return re.sub(r"\$\{([^}!]+)\}", lambda m: PSEUDO[m.group(1)], text)
    return None


def _length(kind: str, prop: str, name: str) -> int:
    if (kind, prop) == ("AWS::SSM::Parameter", "Name"):
        return len(_parameter_arn(name))
    return len(name)


def _parameter_arn(name: str) -> str:
    return f"arn:{PSEUDO['AWS::Partition']}:ssm:{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}:parameter{name}"


def _stack_derived_names(template: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """Every resource property that names the resource (Name, *Name) and is built from the stack name."""
    out = []
    for logical, resource in template["Resources"].items():
        for prop, value in resource.get("Properties", {}).items():
            if (prop == "Name" or prop.endswith("Name")) and "AWS::StackName" in json.dumps(value):
                out.append((logical, resource["Type"], prop, value))
    return out


def test_every_name_built_from_the_stack_name_has_a_documented_limit(template) -> None:
    for logical, kind, prop, _ in _stack_derived_names(template):
        assert (kind, prop) in NAME_LIMITS, f"{logical}.{prop}: add the documented limit of {kind} names"


@pytest.mark.parametrize(("kind", "prop"), sorted(NAME_LIMITS))
def test_names_fit_for_the_longest_stack_name(template, kind: str, prop: str) -> None:
    for logical, resource in template["Resources"].items():
        if resource["Type"] != kind or prop not in resource.get("Properties", {}):
            continue
        name = _resolve(resource["Properties"][prop])
        assert name is not None, f"{logical}.{prop}: cannot check {resource['Properties'][prop]!r}"
        size = _length(kind, prop, name)
        assert size <= NAME_LIMITS[kind, prop], f"{logical}.{prop} is {size} characters for a 128-character stack"


def _parameter_names(node: Any) -> set[str]:
    """Every SSM parameter name the template builds from the stack name: resources, settings, outputs."""
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str) and node["Fn::Sub"].startswith("/paramwatch/"):
            return {node["Fn::Sub"]}
        return set().union(*(_parameter_names(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_parameter_names(v) for v in node))
    return set()


def test_parameter_names_fit_ssm_with_the_longest_stack_name(translated) -> None:
    # GIVEN every /paramwatch/STACK/... name: allowlist, resources, grants path, canary
    names = _parameter_names(translated)
    assert {"/paramwatch/${AWS::StackName}/allowlist", "/paramwatch/${AWS::StackName}/canary"} <= names
    for template in names:
        resolved = _resolve({"Fn::Sub": template})
        assert resolved is not None, template
        # (a setting may list several names, comma-separated: the members' canary in organization mode)
        for name in resolved.split(","):
            # THEN the ARN fits SSM's limit, the hierarchy its depth, and the name SSM's characters
            assert len(_parameter_arn(name)) <= NAME_LIMITS["AWS::SSM::Parameter", "Name"], template
            assert name.rstrip("/").count("/") <= SSM_HIERARCHY_DEPTH, template
            assert re.fullmatch(r"[a-zA-Z0-9_.\-/]+", name), template


def _longest_honeytoken_prefix(parameter: dict[str, Any]) -> str:
    """A three-level prefix exactly as long as HoneytokenPrefix allows, and matching its pattern."""
    length = int(parameter["MaxLength"])
    first = length - 4 - 2 * 40
    prefix = f"/{'a' * first}/{'b' * 40}/{'c' * 40}/"
    assert len(prefix) == length and re.fullmatch(parameter["AllowedPattern"], prefix)
    return prefix


@pytest.mark.parametrize("stack", ["standalone", "organization", "member"])
def test_event_patterns_fit_eventbridge_for_the_longest_names(template, translated, stack: str) -> None:
    # GIVEN the rules deployed by moto's CloudFormation under a 128-character stack name, with the
    # longest honeytoken prefix the templates accept: the central stack alone and in organization
    # mode, and the member stack
    if (stack == "member") != ("CentralBusArn" in template["Parameters"]):
        pytest.skip("the other template")
    prefix = _longest_honeytoken_prefix(template["Parameters"]["HoneytokenPrefix"])
    parameters = {
        "standalone": {"HoneytokenPrefix": prefix},
        "organization": {"HoneytokenPrefix": prefix, "OrganizationId": ORGANIZATION},
        "member": {"HoneytokenPrefix": prefix, "CentralBusArn": CENTRAL_BUS},
    }[stack]
    patterns = deploy_rule_patterns(template, stack=LONGEST_STACK, parameters=parameters)
    assert "HoneytokenReadRule" in patterns and prefix in patterns["HoneytokenReadRule"]
    if stack != "member":
        assert LONGEST_STACK in patterns["TamperRule"]
    if stack == "organization":
        assert prefix in patterns["OrganizationHoneytokenReadRule"]
    for name, raw in patterns.items():
        # THEN each pattern, spaced or compact (however CloudFormation serializes it), fits the quota
        parsed = json.loads(raw)
        size = max(len(json.dumps(parsed)), len(json.dumps(parsed, separators=(",", ":"))))
        assert size <= EVENT_PATTERN_QUOTA, f"{name}: {size} characters"


# The longest value each reference can take, for the functions' environment (Lambda: "the total
# size of all environment variables doesn't exceed 4 KB"). Generated names are at their limits above.
LAMBDA_ENVIRONMENT_QUOTA = 4096
ARN = f"arn:{PSEUDO['AWS::Partition']}:{{}}:{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}:{{}}"
LONGEST_REF = {
    "AWS::Lambda::Function": "f" * 64,
    "AWS::SNS::Topic": ARN.format("sns", "t" * 256),
    "AWS::SQS::Queue": f"https://sqs.{PSEUDO['AWS::Region']}.amazonaws.com/{PSEUDO['AWS::AccountId']}/{'q' * 80}",
}
LONGEST_ARN = {
    "AWS::IAM::Role": f"arn:{PSEUDO['AWS::Partition']}:iam::{PSEUDO['AWS::AccountId']}:role/{'r' * 64}",
    "AWS::KMS::Key": ARN.format("kms", f"key/mrk-{'k' * 32}"),
}
LONGEST_PARAMETER = {"FindingsBusName": "b" * 256, "PipelineKmsKeyArn": LONGEST_ARN["AWS::KMS::Key"]}


def _longest(template: dict[str, Any], value: Any) -> str:
    """The longest string `value` resolves to for the longest stack name and parameter values."""
    if isinstance(value, str):
        return value
    if set(value) == {"Fn::If"}:
        branches = [b for b in value["Fn::If"][1:] if b != {"Ref": "AWS::NoValue"}]
        return max((_longest(template, b) for b in branches), key=len)
    if set(value) == {"Fn::GetAtt"}:
        logical, attribute = value["Fn::GetAtt"]
        assert attribute == "Arn", value
        return LONGEST_ARN[template["Resources"][logical]["Type"]]
    if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([^}!.]+)\}", lambda m: _longest(template, {"Ref": m.group(1)}), value["Fn::Sub"])
    name = value["Ref"]
    if name in PSEUDO:
        return PSEUDO[name]
    if name in template["Parameters"]:
        parameter = template["Parameters"][name]
        if name in LONGEST_PARAMETER:
            return LONGEST_PARAMETER[name]
        if "MaxLength" in parameter:
            return "x" * int(parameter["MaxLength"])
        if "AllowedValues" in parameter:
            return max(map(str, parameter["AllowedValues"]), key=len)
        assert parameter["Type"] == "Number", f"{name}: give the test its longest value"
        return str(parameter.get("MaxValue", 10**6))
    resource = template["Resources"][name]
    named = {
        "AWS::DynamoDB::Table": "TableName",
        "AWS::SSM::Parameter": "Name",
        "AWS::Logs::LogGroup": "LogGroupName",
        "AWS::Events::EventBus": "Name",
    }
    if resource["Type"] in named:
        return _longest(template, resource["Properties"][named[resource["Type"]]])
    return LONGEST_REF[resource["Type"]]


def test_function_settings_fit_lambdas_4_kb_for_the_longest_names(translated) -> None:
    functions = {n: r for n, r in translated["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    assert "EvaluatorFunction" in functions
    for name, function in functions.items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        # the variables as JSON, as Lambda stores them: a little more than the keys and values alone
        size = len(json.dumps({key: _longest(translated, value) for key, value in variables.items()}))
        assert size <= LAMBDA_ENVIRONMENT_QUOTA, f"{name}: {size} bytes of environment"


def test_no_rule_is_named_after_the_stack(template) -> None:
    # a StackSet's stack names run past EventBridge's 64 characters: a rule is unnamed (generated)
    # or has a fixed name of its own (member.yaml's paramwatch-member-*, which the evaluator knows)
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Events::Rule" and "Name" in resource["Properties"]:
            name = resource["Properties"]["Name"]
            assert isinstance(name, str) and name.startswith(MEMBER_PREFIX) and len(name) <= 64, logical
