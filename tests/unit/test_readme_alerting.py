"""The README's alert examples are what paramwatch sends, and its commands and files work as shown."""

from __future__ import annotations

import json

import pytest
from moto.events.models import EventPattern

from paramwatch.asff import Incident, to_asff
from paramwatch.chat import notification
from paramwatch.cli import build_parser
from paramwatch.detector import Verdict, judge
from paramwatch.render import body, subject
from paramwatch_aws.bus import FindingBus
from support import EVENTS, ROOT, load_case

README = (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def finding(sample_allowlist):
    return judge(load_case(EVENTS / "cases" / "wrong-network.json")["record"], sample_allowlist)


def blocks(language: str) -> list[str]:
    """The README's fenced code blocks in `language` ("" for a plain fence)."""
    found, current, fence = [], None, None
    for line in README.splitlines(keepends=True):
        stripped = line.strip()
        if current is None and stripped.startswith("```"):
            current, fence = [], stripped[3:]
        elif current is not None and stripped == "```":
            if fence == language:
                found.append("".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return found


def test_the_email_example_is_the_body_paramwatch_sends(finding) -> None:
    (example,) = [b for b in blocks("") if b.startswith("Subject: paramwatch MEDIUM unauthorized-read")]
    head, text = example.split("\n\n", 1)
    assert head == f"Subject: {subject(finding)}"
    sent = body(finding).split("\n\n")[0]
    assert text.split("\n\n")[0] == sent  # every line up to the summary, verbatim


def test_the_chat_example_is_the_notification_paramwatch_sends(finding) -> None:
    (example,) = [json.loads(b) for b in blocks("json") if '"source": "custom"' in b]
    sent = notification(finding)
    assert example["content"]["description"] == sent["content"]["description"]
    assert example["content"]["title"] == sent["content"]["title"]
    assert example["metadata"] == sent["metadata"]


def test_the_security_hub_example_is_the_finding_paramwatch_imports(finding) -> None:
    (example,) = [json.loads(b) for b in blocks("json") if '"SchemaVersion"' in b]
    incident = Incident(example["CreatedAt"], example["FirstObservedAt"])
    sent = to_asff(
        finding, partition="aws", region="us-east-1", filer="111122223333", incident=incident, now=example["UpdatedAt"]
    )
    for key in (
        "Id",
        "ProductArn",
        "AwsAccountId",
        "Types",
        "Severity",
        "Title",
        "Description",
        "ProductFields",
        "Action",
    ):
        assert example[key] == sent[key], key
    assert sorted(example["Resources"], key=str) == sorted(sent["Resources"], key=str)


@pytest.mark.parametrize(
    ("severity", "paged", "matches"),
    [("high", True, True), ("critical", True, True), ("high", False, False), ("medium", True, False)],
)
def test_the_example_rule_routes_paged_high_findings(finding, severity, paged, matches) -> None:
    pattern = (ROOT / "docs" / "examples" / "paged-high-findings-rule.json").read_text()
    assert json.loads(pattern) == json.loads(
        next(b for b in blocks("json") if '"detail-type": ["Parameter access finding"]' in b)
    )
    from dataclasses import replace

    from paramwatch.findings import Severity

    verdict = Verdict(replace(finding, severity=Severity[severity.upper()]), paged=paged)
    entry = FindingBus(events=None, bus_name="default").entry(verdict)
    event = {"source": entry["Source"], "detail-type": entry["DetailType"], "detail": json.loads(entry["Detail"])}
    assert EventPattern.load(pattern).matches_event(event) is matches


def test_the_delegation_policy_in_the_readme_is_the_example_file() -> None:
    (example,) = [json.loads(b) for b in blocks("json") if "WriteOwnAllowlistPiece" in b]
    assert example == json.loads((ROOT / "docs" / "examples" / "delegate-one-piece.json").read_text())
    write = example["Statement"][0]
    assert write["Resource"].endswith(":parameter/paramwatch/paramwatch/grants/billing")
    assert not [a for s in example["Statement"] for a in s["Action"] if "*" in a]


@pytest.mark.parametrize(
    "command",
    [
        "paramwatch check-allowlist --strict allowlist.yaml teams/",
        "paramwatch allowlist push --stack paramwatch teams/",
    ],
)
def test_readme_commands_parse(command: str) -> None:
    assert command in README
    args = build_parser().parse_args(command.split()[1:])
    assert callable(args.func)


def test_the_readme_rule_commands_create_a_rule_that_routes_findings(finding) -> None:
    # GIVEN the README's put-rule line, run with boto3 against moto on the stack's own bus
    import boto3
    from moto import mock_aws

    command = next(line for line in README.splitlines() if line.startswith("aws events put-rule"))
    assert "--event-bus-name paramwatch-findings" in command
    pattern = (ROOT / "docs" / "examples" / "paged-high-findings-rule.json").read_text()
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        events.create_event_bus(Name="paramwatch-findings")
        events.put_rule(EventBusName="paramwatch-findings", Name="paramwatch-to-pager", EventPattern=pattern)
        rule = events.describe_rule(EventBusName="paramwatch-findings", Name="paramwatch-to-pager")
    assert json.loads(rule["EventPattern"]) == json.loads(pattern)
