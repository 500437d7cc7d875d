"""The heartbeat in organization mode: every member account and region runs its own canary, and
the central stack recognizes it (template side; the handler side is in tests/handler/test_watch.py)."""

from __future__ import annotations

import json
import types

import boto3
import pytest
from moto import mock_aws
from samtranslator.yaml_helper import yaml_parse
from test_least_privilege import as_list

from support import ROOT

MEMBER = ROOT / "member.yaml"
CANARY = "/paramwatch/member/canary"


def member() -> dict:
    return yaml_parse(MEMBER.read_text())


def test_the_member_canary_code_creates_reads_and_labels_the_canary(monkeypatch) -> None:
    # GIVEN the member template's inline canary code, run as Lambda would run it, against moto
    code = member()["Resources"]["CanaryFunction"]["Properties"]["Code"]["ZipFile"]
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("CANARY_PARAMETER", CANARY)
    with mock_aws():
        module = types.ModuleType("index")
        exec(compile(code, "index.py", "exec"), module.__dict__)
        # WHEN the schedule invokes it twice
        first, second = module.lambda_handler({}, None), module.lambda_handler({}, None)
        ssm = boto3.client("ssm", region_name="eu-west-1")
        parameter = ssm.get_parameter(Name=CANARY, WithDecryption=True)["Parameter"]
        history = ssm.get_parameter_history(Name=CANARY)["Parameters"]
    # THEN it created the SecureString once, read it each time, and labelled it (the write leg)
    assert (first["beat"], second["beat"]) == ("created and read", "read")
    assert parameter["Type"] == "SecureString"
    assert [(h["Version"], h.get("Labels")) for h in history] == [(1, ["heartbeat"])]


def test_the_member_canary_role_may_touch_only_its_canary() -> None:
    role = member()["Resources"]["CanaryRole"]["Properties"]
    assert role["Path"] == "/paramwatch/"  # how the central evaluator recognizes member canaries
    statements = [s for p in role["Policies"] for s in as_list(p["PolicyDocument"]["Statement"])]
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ssm:GetParameter",
        "ssm:LabelParameterVersion",
        "ssm:PutParameter",
    }
    ssm = next(s for s in statements if "ssm:GetParameter" in as_list(s["Action"]))
    assert ssm["Resource"]["Fn::Sub"].endswith(":parameter/paramwatch/member/canary")


def test_the_central_evaluator_knows_member_canaries_in_organization_mode(translated) -> None:
    env = translated["Resources"]["EvaluatorFunction"]["Properties"]["Environment"]["Variables"]
    parameters, roles = env["CANARY_PARAMETER"], env["CANARY_ROLE_ARN"]
    assert parameters["Fn::If"][0] == roles["Fn::If"][0] == "OrganizationMode"
    assert CANARY in json.dumps(parameters["Fn::If"][1])
    assert ":role/paramwatch/*" in json.dumps(roles["Fn::If"][1])


@pytest.mark.parametrize("name", ["CanaryFunction", "CanarySchedule", "CanaryPermission", "CanaryLogGroup"])
def test_the_member_heartbeat_resources_exist(name: str) -> None:
    assert name in member()["Resources"]


def test_the_member_schedule_runs_every_heartbeat_period() -> None:
    resources = member()["Resources"]
    schedule = resources["CanarySchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Fn::Sub": "rate(${HeartbeatMinutes} minutes)"}
    assert schedule["State"] == "ENABLED"
    assert schedule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["CanaryFunction", "Arn"]}
    assert resources["CanaryPermission"]["Properties"]["SourceArn"] == {"Fn::GetAtt": ["CanarySchedule", "Arn"]}


def test_the_canary_checks_every_heartbeat_leg(translated) -> None:
    resources = translated["Resources"]
    env = resources["CanaryFunction"]["Properties"]["Environment"]["Variables"]
    assert env["FORWARD_MODE"] == {"Ref": "ForwardMode"}  # lean mode has no KMS leg
    assert env["STATE_TABLE"] == {"Ref": "StateTable"} and env["OPERATIONS_TOPIC_ARN"] == {"Ref": "OperationsTopic"}
    # AND its role may read and mark the state table and page the operations topic, nothing more
    policy = resources["CanaryHeartbeatPolicy"]
    assert "Condition" not in policy and policy["Properties"]["RoleName"] == {"Ref": "CanaryRole"}
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert {(tuple(as_list(s["Action"])), json.dumps(s["Resource"])) for s in statements} == {
        (("dynamodb:BatchGetItem", "dynamodb:UpdateItem"), json.dumps({"Fn::GetAtt": ["StateTable", "Arn"]})),
        (("sns:Publish",), json.dumps({"Ref": "OperationsTopic"})),
    }


def test_one_alarm_watches_every_leg_through_one_series(translated) -> None:
    # no Heartbeat series and alarm per leg, member account or region: one SilentHeartbeats count,
    # published on every run, so that a check that stopped (missing data) alarms too
    assert not [n for n, r in translated["Resources"].items() if n.startswith("Heartbeat") and n != "HeartbeatAlarm"]
    alarms = translated["Resources"]["ResourcesParameter"]["Properties"]["Value"]
    assert "HeartbeatAlarm" in json.dumps(alarms)  # its deletion is a tamper finding
