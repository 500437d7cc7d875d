"""The template: SAM's own validation and build, rule states, and rule patterns under moto's matcher."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from moto.events.models import EventPattern
from samtranslator.yaml_helper import yaml_parse

from paramwatch.detector import judge
from paramwatch.own import Own
from paramwatch.replay import wanted
from sam_template import TEMPLATE, raw_template, resources_of
from support import CASES, OWN, ROOT, eventbridge_event, load_case

SAM = str(Path(sys.executable).parent / "sam")
CLOUDTRAIL = "AWS API Call via CloudTrail"


def sam_env() -> dict[str, str]:
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="us-east-1", PYENV_VERSION="3.13.0")
    shims = Path.home() / ".pyenv" / "shims"
    if shims.is_dir():
        env["PATH"] = f"{shims}{os.pathsep}{env['PATH']}"
    return env


def test_sam_validate_lint() -> None:
    done = subprocess.run(
        [SAM, "validate", "--lint", "--template-file", str(TEMPLATE)],
        capture_output=True,
        text=True,
        env=sam_env(),
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_sam_build_with_python_313(tmp_path: Path) -> None:
    env = sam_env()
    assert shutil.which("python3.13", path=env["PATH"]), "sam build needs python3.13 on PATH"
    build_dir = tmp_path / "build"
    done = subprocess.run(
        [SAM, "build", "--template-file", str(TEMPLATE), "--build-dir", str(build_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    layer = build_dir / "LibraryLayer" / "python"
    assert (layer / "paramwatch" / "rules.py").is_file()
    assert list((layer / "pydantic_core").glob("*aarch64*.so")), "layer must hold arm64 wheels"
    assert (build_dir / "EvaluatorFunction" / "app.py").is_file()
    # the member template travels with the build, so that `sam deploy` uploads it for the StackSet
    built = yaml_parse((build_dir / "template.yaml").read_text())
    member = built["Resources"]["MemberStackSet"]["Properties"]["TemplateURL"]
    assert (build_dir / member).resolve() == (ROOT / "member.yaml").resolve()


READ_RULES = {
    "DecryptingReadRule",
    "ParameterDecryptRule",
    "HoneytokenReadRule",
    "OrganizationDecryptingReadRule",
    "OrganizationParameterDecryptRule",
    "OrganizationHoneytokenReadRule",
}


def test_every_read_rule_gets_read_only_events(translated) -> None:
    rules = {
        n: r for n, r in resources_of(translated, "AWS::Events::Rule").items() if "EventPattern" in r["Properties"]
    }
    assert set(rules) == READ_RULES | {"TamperRule", "OrganizationTamperRule"}
    for name in READ_RULES:
        props = rules[name]["Properties"]
        assert props["EventPattern"]["detail-type"] == [CLOUDTRAIL], name
        assert props["State"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS", name


def test_the_organization_tamper_rule_is_plain_enabled_on_the_organization_bus(translated) -> None:
    props = translated["Resources"]["OrganizationTamperRule"]["Properties"]
    assert props["State"] == "ENABLED" and props["EventBusName"] == {"Ref": "OrganizationBus"}


def test_the_tamper_rule_is_plain_enabled_for_write_events_and_says_so(translated) -> None:
    # Write events reach plain ENABLED rules (read-only ones need the other State); the template says so
    props = translated["Resources"]["TamperRule"]["Properties"]
    assert props["State"] == "ENABLED"
    assert props["EventPattern"]["detail-type"] == [CLOUDTRAIL]
    text = TEMPLATE.read_text()
    comment = text[: text.index("  TamperRule:")].rsplit("\n\n", 1)[-1]
    assert "Write events" in comment and "plain ENABLED" in comment
    names = json.dumps(props["EventPattern"])
    for read_only in ("GetParameter", "Decrypt", "DescribeParameters"):
        assert f'"{read_only}"' not in names


def test_the_heartbeat_schedule_invokes_the_canary_every_heartbeat_period(translated) -> None:
    (schedule,) = [
        r for r in resources_of(translated, "AWS::Events::Rule").values() if "ScheduleExpression" in r["Properties"]
    ]
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == {"Fn::Sub": "rate(${HeartbeatMinutes} minutes)"}
    assert props["State"] == "ENABLED"
    assert props["Targets"][0]["Arn"] == {"Fn::GetAtt": ["CanaryFunction", "Arn"]}
    assert translated["Parameters"]["HeartbeatMinutes"]["Default"] == 5


def test_no_sam_eventbridge_rule_events_hide_the_state() -> None:
    for name, fn in resources_of(raw_template(), "AWS::Serverless::Function").items():
        kinds = {e["Type"] for e in fn["Properties"].get("Events", {}).values()}
        assert not kinds & {"EventBridgeRule", "CloudWatchEvent"}, name


def test_every_rule_may_invoke_the_evaluator(translated) -> None:
    permissions = resources_of(translated, "AWS::Lambda::Permission")
    sources = {p["Properties"]["SourceArn"]["Fn::GetAtt"][0] for p in permissions.values()}
    assert sources == set(resources_of(translated, "AWS::Events::Rule"))


def delivered_by(patterns: dict[str, str], record: dict) -> set[str]:
    event = eventbridge_event(record)
    return {name for name, raw in patterns.items() if EventPattern.load(raw).matches_event(event)}


@pytest.mark.parametrize("path", [p for p in CASES if load_case(p)["delivered_by"] is not None], ids=lambda p: p.stem)
def test_rule_patterns_deliver_exactly_what_needs_judging(path: Path, deployed_patterns) -> None:
    # GIVEN a sample CloudTrail event and the rules as deployed (moto's CloudFormation)
    case = load_case(path)
    # WHEN moto's EventBridge matcher evaluates every rule against it
    # THEN exactly the expected rules deliver it (none for writes, listings, plain reads, S3 Decrypts)
    assert delivered_by(deployed_patterns, case["record"]) == set(case["delivered_by"])


@pytest.mark.parametrize("path", [p for p in CASES if load_case(p)["delivered_by"] is not None], ids=lambda p: p.stem)
def test_replay_promises_nothing_production_cannot_deliver(path: Path, deployed_patterns, sample_allowlist) -> None:
    # GIVEN a verdict case, the rules as deployed and the sample allowlist (same honeytokens as the
    # template's default prefix)
    case = load_case(path)
    record, own = case["record"], OWN if case.get("stack") else Own()
    delivered = delivered_by(deployed_patterns, record)
    # WHEN the library judges it and replay's pre-filter decides whether to judge it at all
    finding = judge(record, sample_allowlist, own)
    # THEN a finding exists only for what a rule delivers, and replay keeps exactly what they deliver
    assert finding is None or delivered, f"library reports {finding.rule} but no rule delivers the event"
    assert wanted(record, sample_allowlist, own) == bool(delivered)


@pytest.mark.parametrize(
    ("name", "request_parameters", "expected"),
    [
        ("GetParameter", {"name": "/decoy/x", "withDecryption": False}, {"HoneytokenReadRule"}),
        ("GetParameter", {"name": "/decoy/x"}, {"HoneytokenReadRule"}),
        (
            "GetParameterHistory",
            {"name": "arn:aws:ssm:eu-west-1:1:parameter/decoy/x"},
            {"HoneytokenReadRule"},
        ),
        ("GetParameters", {"names": ["/a", "/decoy/b"]}, {"HoneytokenReadRule"}),
        ("GetParametersByPath", {"path": "/decoy", "recursive": True}, {"HoneytokenReadRule"}),
        ("GetParametersByPath", {"path": "/", "recursive": True}, {"HoneytokenReadRule"}),
        ("GetParametersByPath", {"path": "/decoy/"}, {"HoneytokenReadRule"}),
        ("GetParametersByPath", {"path": "/other", "recursive": True}, set()),
        ("GetParametersByPath", {"path": "/", "recursive": True, "withDecryption": True}, {"DecryptingReadRule"}),
        ("GetParameter", {"name": "/decoy/x", "withDecryption": True}, {"DecryptingReadRule"}),
        ("GetParameter", {"name": "/not-decoy/x", "withDecryption": False}, set()),
        ("GetParameters", {"names": ["/a", "/b"], "withDecryption": False}, set()),
        ("PutParameter", {"name": "/decoy/x", "withDecryption": False}, set()),
        ("DeleteParameter", {"name": "/decoy/x"}, set()),
    ],
)
def test_honeytoken_rule(name: str, request_parameters: dict, expected: set, deployed_patterns) -> None:
    record = {
        "eventID": "e",
        "eventSource": "ssm.amazonaws.com",
        "eventName": name,
        "requestParameters": request_parameters,
    }
    assert delivered_by(deployed_patterns, record) == expected


def test_kms_calls_delivered_only_with_parameter_arn_and_not_ssm_made_encrypts(deployed_patterns) -> None:
    record = {
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "requestParameters": {"encryptionContext": {"SecretARN": "arn:aws:secretsmanager:us-east-1:1:secret:db"}},
    }
    assert delivered_by(deployed_patterns, record) == set()
    record["eventName"] = "Encrypt"
    record["requestParameters"] = {"encryptionContext": {"PARAMETER_ARN": "arn:aws:ssm:us-east-1:1:parameter/a"}}
    for ssm in ("AWS Internal", "ssm.amazonaws.com"):  # SSM's own Encrypt on PutParameter
        record["userIdentity"] = {"type": "IAMUser", "invokedBy": ssm}
        assert delivered_by(deployed_patterns, record) == set()
    record["userIdentity"] = {"type": "IAMUser"}  # anyone else's Encrypt under a parameter's context
    assert delivered_by(deployed_patterns, record) == {"ParameterDecryptRule"}
