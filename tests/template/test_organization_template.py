"""Organization mode in the templates: the central bus, its rules, the member template and the StackSet.

Patterns are compared as moto's CloudFormation resolves them (parameters, conditions, `Fn::If`
with `AWS::NoValue`), and their behaviour through moto's EventBridge matcher, so the member rules
cannot drift from the central ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern
from samtranslator.yaml_helper import yaml_parse
from test_least_privilege import as_list, statements

from paramwatch import cost
from paramwatch.access import to_access
from paramwatch.own import MEMBER_PREFIX, MEMBER_RULES
from paramwatch.rules import parse_record
from sam_template import resources_of
from support import CASES, ROOT, deploy_rule_patterns, eventbridge_event, load_case

MEMBER = ROOT / "member.yaml"
ORG = "o-a1b2c3d4e5"
BUS = "arn:aws:events:us-east-1:999988887777:event-bus/paramwatch-organization"
READ_ONLY = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
# central default-bus rule -> the same rule on the organization bus
ORG_RULES = {
    "DecryptingReadRule": "OrganizationDecryptingReadRule",
    "ParameterDecryptRule": "OrganizationParameterDecryptRule",
    "HoneytokenReadRule": "OrganizationHoneytokenReadRule",
}


def member_template() -> dict[str, Any]:
    return yaml_parse(MEMBER.read_text())


@pytest.fixture(scope="module", params=["full", "lean"])
def patterns(request, translated) -> dict[str, dict[str, str]]:
    """Resolved patterns of the three rule sets, in one forwarding mode."""
    mode = request.param
    central = deploy_rule_patterns(translated, parameters={"OrganizationId": ORG, "ForwardMode": mode})
    member = deploy_rule_patterns(member_template(), parameters={"CentralBusArn": BUS, "ForwardMode": mode})
    return {
        "mode": mode,
        "default": {name: central[name] for name in ORG_RULES},
        "organization": {name: central[org] for name, org in ORG_RULES.items()},
        "member": {name: member[name] for name in ORG_RULES},
        "member_tamper": {"TamperForwardRule": member["TamperForwardRule"]},
        "organization_tamper": {"TamperForwardRule": central["OrganizationTamperRule"]},
    }


def delivered_by(rules: dict[str, str], event: dict) -> set[str]:
    return {name for name, raw in rules.items() if EventPattern.load(raw).matches_event(event)}


def test_standalone_deploys_only_the_default_bus_rules(translated) -> None:
    # GIVEN the template with OrganizationId empty (the default)
    rules = deploy_rule_patterns(translated)
    # THEN it deploys the default-bus rules, and nothing of organization mode
    assert set(ORG_RULES) <= set(rules)
    assert not [name for name in rules if name.startswith("Organization")]


def test_every_organization_resource_depends_on_the_organization_id(translated) -> None:
    conditions = translated["Conditions"]
    org_only = {"OrganizationMode", "OrganizationHoneytokens", "DeployMembers"}
    for name, resource in translated["Resources"].items():
        if name.startswith("Organization") or name == "MemberStackSet":
            assert resource.get("Condition") in org_only, name
    for name in org_only - {"OrganizationMode"}:
        assert {"Condition": "OrganizationMode"} in conditions[name]["Fn::And"], name


def test_the_bus_admits_the_organization_in_one_statement(translated) -> None:
    (policy,) = resources_of(translated, "AWS::Events::EventBusPolicy").values()
    statement = policy["Properties"]["Statement"]
    assert isinstance(statement, dict), "one statement, not one per account"
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {"Fn::GetAtt": ["OrganizationBus", "Arn"]}
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
    assert len(json.dumps(statement)) < 10240


def test_organization_rules_run_on_the_bus_with_the_read_only_state(translated) -> None:
    resources = translated["Resources"]
    for org in ORG_RULES.values():
        props = resources[org]["Properties"]
        assert props["EventBusName"] == {"Ref": "OrganizationBus"}, org
        assert props["State"] == READ_ONLY, org
        (target,) = props["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["EvaluatorFunction", "Arn"]}


def test_the_three_rule_sets_have_the_same_patterns(patterns) -> None:
    # Patterns as deployed, with the same parameters: the member rules forward exactly what the
    # central default-bus rules deliver, and the organization bus delivers it on.
    assert patterns["member"] == patterns["default"]
    assert patterns["organization"] == patterns["default"]


@pytest.mark.parametrize("path", [p for p in CASES if load_case(p)["delivered_by"] is not None], ids=lambda p: p.stem)
def test_member_rules_deliver_what_central_rules_deliver(path: Path, patterns) -> None:
    # GIVEN a bundled case as a member account's default bus sees it
    record = load_case(path)["record"]
    event = eventbridge_event(record)
    # WHEN moto's matcher runs the member rules and the central rules over it
    member = delivered_by(patterns["member"], event)
    # THEN both deliver it through the same rules, which the organization bus repeats
    assert member == delivered_by(patterns["default"], event)
    assert member == delivered_by(patterns["organization"], event)
    if patterns["mode"] == "full":
        assert member == set(load_case(path)["delivered_by"]) & set(ORG_RULES)


def test_the_member_tamper_rule_forwards_what_the_organization_bus_delivers(patterns) -> None:
    assert patterns["member_tamper"] == patterns["organization_tamper"]


TAMPER_CASES = [p for p in CASES if p.stem.startswith(("tamper-rule-", "tamper-trail-", "benign-other-rule"))]


@pytest.mark.parametrize("path", TAMPER_CASES, ids=lambda p: p.stem)
def test_member_tamper_rule_forwards_changes_to_member_rules_and_trails_only(path: Path, patterns) -> None:
    # GIVEN a bundled tamper case as a member account records it, on a member rule when it names a rule
    record = json.loads(json.dumps(load_case(path)["record"]))
    params = record.get("requestParameters") or {}
    key = "name" if "name" in params else "rule"
    ours = record["eventSource"] == "events.amazonaws.com" and not path.stem.startswith("benign-other")
    if ours:
        params[key] = MEMBER_PREFIX + "reads"
    event = eventbridge_event(record)
    # WHEN moto's matcher runs the member's tamper rule and the organization bus's
    forwarded = delivered_by(patterns["member_tamper"], event)
    # THEN changes to a member rule and to any trail are forwarded and delivered; other rules are not
    expected = {"TamperForwardRule"} if ours or record["eventSource"] == "cloudtrail.amazonaws.com" else set()
    assert forwarded == expected
    assert delivered_by(patterns["organization_tamper"], event) == expected


def test_the_member_rules_are_the_ones_the_evaluator_knows() -> None:
    names = {
        r["Properties"]["Name"]
        for r in resources_of(member_template(), "AWS::Events::Rule").values()
        if "Name" in r["Properties"]
    }
    assert names == {MEMBER_PREFIX + rule for rule in MEMBER_RULES}


DECRYPTS = [
    ({"invokedBy": "AWS Internal"}, "AWS Internal"),
    ({"invokedBy": "ssm.amazonaws.com"}, "ssm.amazonaws.com"),
    ({}, "AWS Internal"),
    ({"invokedBy": "AWS Internal"}, "203.0.113.9"),
    ({}, "203.0.113.9"),
    ({"invokedBy": "lambda.amazonaws.com"}, "203.0.113.9"),
    ({}, None),
]


@pytest.mark.parametrize(("invoked", "source"), DECRYPTS)
def test_lean_mode_forwards_exactly_the_direct_decrypts(invoked: dict, source: str | None, patterns) -> None:
    record = {
        "eventID": "e1",
        "eventTime": "2026-11-02T10:15:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/a", **invoked},
        "requestParameters": {"encryptionContext": {"PARAMETER_ARN": "arn:aws:ssm:us-east-1:1:parameter/a"}},
    }
    if source is not None:
        record["sourceIPAddress"] = source
    delivered = "ParameterDecryptRule" in delivered_by(patterns["member"], eventbridge_event(record))
    direct = to_access(parse_record(record)).direct_decrypt
    assert delivered == (direct if patterns["mode"] == "lean" else True)


# ---------------------------------------------------------------- the member template


def test_member_template_has_no_transform() -> None:
    assert "Transform" not in member_template(), "service-managed StackSets refuse macros"


def test_member_template_holds_nothing_that_costs_when_idle() -> None:
    # the forwarding costs nothing while idle; the heartbeat (issue "Watch the watcher") is the one
    # deliberate exception: a canary function every few minutes, cents a month per account and region
    heartbeat = {"CanaryLogGroup", "CanaryRole", "CanaryFunction", "CanarySchedule", "CanaryPermission"}
    resources = member_template()["Resources"]
    kinds = {r["Type"] for name, r in resources.items() if name not in heartbeat}
    assert kinds == {"AWS::IAM::Role", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "AWS::Events::Rule"}
    assert heartbeat <= set(resources)


def test_member_rules_target_the_central_bus_with_retries_and_a_dead_letter_queue() -> None:
    # the forwarding rules (the heartbeat's schedule targets the canary: test_member_heartbeat.py)
    rules = {
        n: r
        for n, r in resources_of(member_template(), "AWS::Events::Rule").items()
        if "EventPattern" in r["Properties"]
    }
    assert len(rules) == 4
    for name, rule in rules.items():
        props = rule["Properties"]
        # the read rules need the read-only State; the tamper rule's write events reach plain ENABLED
        assert props["State"] == ("ENABLED" if name == "TamperForwardRule" else READ_ONLY), name
        assert props["Name"].startswith(MEMBER_PREFIX), name
        assert "EventBusName" not in props, f"{name} must run on the default bus"
        (target,) = props["Targets"]
        assert target["Arn"] == {"Ref": "CentralBusArn"}, name
        assert target["RoleArn"] == {"Fn::GetAtt": ["ForwardRole", "Arn"]}, name
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0, name
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ForwardDeadLetterQueue", "Arn"]}}, name


def test_member_role_may_only_put_events_on_the_central_bus() -> None:
    role = member_template()["Resources"]["ForwardRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert as_list(statement["Action"]) == ["events:PutEvents"]
    assert as_list(statement["Resource"]) == [{"Ref": "CentralBusArn"}]
    assert not role.get("ManagedPolicyArns")


def test_member_template_least_privilege() -> None:
    found = statements(member_template())
    assert {kind for _, kind, _ in found} == {"AWS::IAM::Role", "AWS::SQS::QueuePolicy"}
    for name, _, statement in found:
        for action in as_list(statement.get("Action", [])):
            assert "*" not in action, f"{name}: {action}"
        assert "NotAction" not in statement and "*" not in as_list(statement.get("Resource", [])), name


def test_member_stack_deploys_on_moto_with_the_documented_parameters(monkeypatch_session) -> None:
    """What a management account runs (README, 'Organization'), as moto's CloudFormation takes it."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
        cloudformation.create_stack(
            StackName="paramwatch-member",
            TemplateBody=MEMBER.read_text(),
            Parameters=[{"ParameterKey": "CentralBusArn", "ParameterValue": BUS}],
            Capabilities=["CAPABILITY_IAM"],
        )
        stack = cloudformation.describe_stacks(StackName="paramwatch-member")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        targets = [
            t["Arn"]
            for rule in boto3.client("events", region_name="eu-west-1").list_rules()["Rules"]
            for t in boto3.client("events", region_name="eu-west-1").list_targets_by_rule(Rule=rule["Name"])["Targets"]
        ]
        # three read rules and the tamper rule to the central bus, the heartbeat's schedule to the canary
        assert sorted(targets) == sorted([BUS] * 4 + [t for t in targets if ":function:" in t and "Canary" in t])
        assert len(targets) == 5


# ---------------------------------------------------------------- the StackSet


def test_stack_set_deploys_the_member_template_to_the_organization(translated) -> None:
    stack_set = translated["Resources"]["MemberStackSet"]
    props = stack_set["Properties"]
    assert props["PermissionModel"] == "SERVICE_MANAGED"
    assert props["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert props["TemplateURL"] == "member.yaml" and (ROOT / props["TemplateURL"]).is_file()
    assert props["Capabilities"] == ["CAPABILITY_IAM"]
    passed = {p["ParameterKey"]: p["ParameterValue"] for p in props["Parameters"]}
    assert passed["CentralBusArn"] == {"Fn::GetAtt": ["OrganizationBus", "Arn"]}
    assert set(passed) == set(member_template()["Parameters"])
    (group,) = props["StackInstancesGroup"]
    assert group["DeploymentTargets"] == {"OrganizationalUnitIds": {"Ref": "MemberOrganizationalUnitIds"}}


def alarm_metrics(template: dict[str, Any], organization: bool) -> int:
    """Metrics CloudWatch bills alarms for: one per single-metric alarm, each metric of a math alarm."""
    total = 0
    for alarm in resources_of(template, "AWS::CloudWatch::Alarm").values():
        if (alarm.get("Condition") == "OrganizationMode") != organization:
            continue
        queries = alarm["Properties"].get("Metrics")
        total += sum("MetricStat" in q for q in queries) if queries else 1
    return total


def test_cost_model_counts_the_alarms_the_template_has(translated) -> None:
    assert alarm_metrics(translated, organization=False) == cost.ALARM_METRICS + cost.HEARTBEAT_ALARMS
    assert alarm_metrics(translated, organization=True) == cost.ORGANIZATION_ALARM_METRICS


def test_member_parameters_accept_what_the_central_stack_passes(translated) -> None:
    central, member = translated["Parameters"], member_template()["Parameters"]
    for name in ("HoneytokenPrefix", "ForwardMode"):
        for key in ("AllowedPattern", "AllowedValues", "Default"):
            assert member[name].get(key) == central[name].get(key), (name, key)


# ---------------------------------------------------------------- the README's commands


def readme_line(start: str, marker: str) -> list[str]:
    import shlex

    lines = (ROOT / "README.md").read_text().splitlines()
    (line,) = [row for row in lines if row.startswith(start) and marker in row]
    return shlex.split(line)


def test_readme_organization_deploy_parses_with_sam_cli(tmp_path: Path, translated) -> None:
    """The security account's one command, read by SAM CLI's own `deploy` parser and samconfig.toml."""
    import os
    import re

    from samcli.commands.deploy.command import cli

    from paramwatch.cli import main

    argv = readme_line(".venv/bin/sam deploy", "OrganizationId=")
    assert argv[:2] == [".venv/bin/sam", "deploy"]
    params = tmp_path / "params.yaml"
    assert main(["deploy-args", str(ROOT / "events" / "allowlist.yaml"), "--output", str(params)]) == 0
    args = [a.replace("file://params.yaml", f"file://{params}") for a in argv[2:]]
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        overrides = cli.make_context("deploy", args).params["parameter_overrides"]
    finally:
        os.chdir(cwd)
    assert "AllowlistGrants" in overrides
    declared = translated["Parameters"]
    for name in ("OrganizationId", "MemberOrganizationalUnitIds", "MemberRegions"):
        assert name in declared
        pattern = declared[name].get("AllowedPattern")
        assert pattern is None or re.fullmatch(pattern, overrides[name]), name
    assert overrides["MemberRegions"].split(",") == ["us-east-1", "eu-west-1", "eu-central-1"]
    assert overrides["MemberOrganizationalUnitIds"].startswith("r-")


def test_readme_management_account_command_deploys_the_member_stack(monkeypatch_session) -> None:
    import boto3
    from moto import mock_aws

    argv = readme_line("aws cloudformation deploy", "member.yaml")
    options = {argv[i]: argv[i + 1] for i in range(3, len(argv) - 1) if argv[i].startswith("--")}
    overrides = dict(o.split("=", 1) for o in argv[argv.index("--parameter-overrides") + 1 :])
    assert options["--template-file"] == "member.yaml" and options["--capabilities"] == "CAPABILITY_IAM"
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=options["--region"])
        cloudformation.create_stack(
            StackName=options["--stack-name"],
            TemplateBody=(ROOT / options["--template-file"]).read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in overrides.items()],
            Capabilities=[options["--capabilities"]],
        )
        (stack,) = cloudformation.describe_stacks(StackName=options["--stack-name"])["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
