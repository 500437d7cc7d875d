"""Tamper rules and the trail-selector check, pure: no AWS, no mocks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from paramwatch.cli import main
from paramwatch.detector import judge
from paramwatch.escape import safe
from paramwatch.tamper import allowlist_changes, api_name, calls
from paramwatch.trail import gaps
from support import EVENTS, OWN, load_case

READS = "read-only management events (GetParameter and the other reads: paramwatch sees none)"
KMS = "KMS events (kms.amazonaws.com: no Decrypt side, no direct decrypts)"
WRITES = "write management events (tamper detection goes blind)"


@pytest.mark.parametrize(
    ("basic", "advanced", "lost"),
    [
        (None, None, []),
        ([{"readWriteType": "All", "includeManagementEvents": True}], None, []),
        ([{"ReadWriteType": "All", "IncludeManagementEvents": True}], [], []),  # GetEventSelectors' answer
        ([{"readWriteType": "ReadOnly"}], None, [WRITES]),
        ([{"readWriteType": "WriteOnly"}], None, [READS, KMS]),
        ([{"readWriteType": "All", "excludeManagementEventSources": ["kms.amazonaws.com"]}], None, [KMS]),
        (
            [
                {
                    "readWriteType": "All",
                    "includeManagementEvents": False,
                    "dataResources": [{"type": "AWS::S3::Object"}],
                }
            ],
            None,
            [READS, KMS, WRITES],
        ),
        ([{"readWriteType": "WriteOnly"}, {"readWriteType": "ReadOnly"}], None, []),  # alternatives add up
        ([], None, [READS, KMS, WRITES]),
        (None, [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}]}], []),
        (
            None,
            [
                {
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Management"]},
                        {"Field": "readOnly", "Equals": ["false"]},
                    ]
                }
            ],
            [READS, KMS],
        ),
        (
            None,
            [
                {
                    "fieldSelectors": [
                        {"field": "eventCategory", "equals": ["Management"]},
                        {"field": "eventSource", "notEquals": ["kms.amazonaws.com"]},
                    ]
                }
            ],
            [KMS],
        ),
        (
            None,
            [
                {
                    "fieldSelectors": [
                        {"field": "eventCategory", "equals": ["Data"]},
                        {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                    ]
                }
            ],
            [READS, KMS, WRITES],
        ),
        (None, "not a list", ["the selectors cannot be read"]),
    ],
)
def test_selectors_are_judged_by_what_they_still_record(basic, advanced, lost) -> None:
    assert gaps(basic, advanced) == lost


def test_lambda_event_names_lose_their_api_version() -> None:
    assert api_name("lambda.amazonaws.com", "UpdateFunctionCode20150331v2") == "UpdateFunctionCode"
    assert api_name("lambda.amazonaws.com", "PutFunctionConcurrency20171031") == "PutFunctionConcurrency"
    assert api_name("events.amazonaws.com", "PutRule") == "PutRule"
    assert ("lambda.amazonaws.com", "DeleteFunction20150331") in calls(OWN)


def record(name: str) -> dict:
    return load_case(EVENTS / "cases" / f"{name}.json")["record"]


def test_attacker_chosen_names_are_escaped_in_the_summary() -> None:
    stop = {**record("tamper-trail-stop-logging"), "requestParameters": {"name": "trail<img src=x>\n[a](http://e)"}}
    finding = judge(stop, None)
    assert finding is not None and "<img" not in finding.summary and "\n" not in finding.summary
    assert safe("trail<img src=x>\n[a](http://e)", 300) in finding.summary


def test_without_the_stack_only_trail_wide_rules_apply() -> None:
    # a change to a function named like paramwatch's is not judged without knowing the stack
    assert judge(record("tamper-function-code-updated"), None) is None
    assert judge(record("tamper-function-code-updated"), None, OWN).severity.name == "HIGH"
    assert judge(record("tamper-trail-delete"), None).rule == "tamper"


def run(*argv: str) -> tuple[int, list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_replay_with_stack_judges_own_resources_and_knows_its_heartbeat(tmp_path: Path) -> None:
    names = [
        "tamper-trail-stop-logging",
        "tamper-rule-disabled",
        "tamper-function-code-updated",
        "canary-heartbeat-ssm",
    ]
    trail = tmp_path / "trail.json"
    trail.write_text(json.dumps({"Records": [record(n) for n in names]}))
    allowlist = str(EVENTS / "allowlist.yaml")
    # WITHOUT --stack: the trail change, and the canary read looks like any ungranted read
    _, rows, _ = run("replay", "--allowlist", allowlist, str(trail))
    assert sorted((r["event_name"], r["rule"]) for r in rows) == [
        ("GetParameter", "unauthorized-read"),
        ("StopLogging", "tamper"),
    ]
    # WITH --stack: its rules and functions are known (NAME-*), and the canary read is a heartbeat
    _, rows, _ = run("replay", "--allowlist", allowlist, "--stack", "paramwatch", str(trail))
    assert sorted((r["event_name"], r["rule"]) for r in rows) == [
        ("DisableRule", "tamper"),
        ("StopLogging", "tamper"),
        ("UpdateFunctionCode20150331v2", "tamper"),
    ]


GRANT = {"name": "orders", "principals": ["arn:aws:iam::111122223333:role/app/orders-api"], "parameters": ["/orders/*"]}


def doc(*grants: dict, honeytokens: tuple[str, ...] = ("/decoy/*",)) -> str:
    return json.dumps({"version": 1, "grants": list(grants), "honeytokens": list(honeytokens)})


def test_allowlist_changes_name_each_grant_change() -> None:
    narrowed = {**GRANT, "parameters": ["/orders/db"], "source_cidrs": ["203.0.113.0/24"]}
    lines, blinding = allowlist_changes(doc(GRANT), doc(narrowed))
    assert not blinding
    assert f"narrowed grant orders: parameters - {safe('/orders/*')}" in lines
    assert "widened grant orders: parameters + /orders/db" in lines
    lines, _ = allowlist_changes(doc({**GRANT, "source_cidrs": ["203.0.113.0/24"]}), doc(GRANT))
    assert lines == ["widened grant orders: no longer limited by source_cidrs"]
    lines, _ = allowlist_changes(doc(GRANT), doc())
    assert lines == ["removed grant orders"]


def test_an_invalid_allowlist_or_a_lost_honeytoken_blinds() -> None:
    lines, blinding = allowlist_changes(doc(GRANT), '{"version": 2}')
    assert blinding and lines[0].startswith("the new version does not validate")
    _, blinding = allowlist_changes(doc(GRANT), doc(GRANT, honeytokens=()))
    assert blinding
    lines, blinding = allowlist_changes(None, doc(GRANT))
    assert not blinding and "no valid previous version" in lines[0]


def test_the_readme_commands_of_knowing_it_works_parse() -> None:
    import re
    import shlex

    from paramwatch.cli import build_parser
    from support import ROOT

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Knowing it works") :]
    section = section[: section.index("\n## ", 5)]
    commands = [line for block in re.findall(r"```sh\n(.*?)```", section, re.S) for line in block.splitlines() if line]
    assert len(commands) == 2
    for command in commands:
        argv = shlex.split(re.sub(r"\[[^]]*\]", "", command))
        assert argv[0] == "paramwatch"
        args = build_parser().parse_args(argv[1:])
        assert args.stack == "paramwatch"


def test_replay_counts_where_the_canarys_heartbeat_was_read(tmp_path: Path) -> None:
    # GIVEN a trail holding only the canary's heartbeat read (no finding)
    trail = tmp_path / "trail.json"
    trail.write_text(json.dumps({"Records": [record("canary-heartbeat-ssm")]}))
    code, rows, err = run("replay", "--allowlist", str(EVENTS / "allowlist.yaml"), "--stack", "paramwatch", str(trail))
    # THEN it is a parameter read of one account and region, like any other
    assert code == 0 and rows == []
    assert "1 parameter read(s) in 1 account(s) and 1 region(s)" in err


@pytest.mark.parametrize(
    ("name", "params", "response", "says"),
    [
        # deleted: the response is the mapping, naming the evaluator (replay knows no UUID)
        (
            "DeleteEventSourceMapping20150331",
            {"uUID": "u-1"},
            {"uUID": "u-1", "functionArn": "arn:aws:lambda:us-east-1:111122223333:function:paramwatch-Ev-1:live"},
            "is deleted",
        ),
        # re-pointed at another batch size, enabled: still a change outside a deploy
        ("UpdateEventSourceMapping20150331", {"UUID": "u-2", "functionName": "paramwatch-Ev-1"}, None, "changed"),
    ],
)
def test_the_hold_queues_mapping_is_watched_by_function_or_uuid(name, params, response, says) -> None:
    change = {**record("tamper-held-pages-source-disabled"), "eventName": name}
    finding = judge({**change, "requestParameters": params, "responseElements": response}, None, OWN)
    assert finding is not None and finding.severity.name == "HIGH" and says in finding.summary
    # the same change to another function's mapping is none of paramwatch's business
    other = {k: v.replace("paramwatch-", "orders-") for k, v in params.items()}
    assert judge({**change, "requestParameters": other, "responseElements": None}, None, OWN) is None
