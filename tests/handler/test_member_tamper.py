"""Tamper inside a member account (organization mode): member.yaml forwards changes to its own rules
(paramwatch-member-*) and to trails; the central evaluator judges them like its own, in that account."""

from __future__ import annotations

import json

import pytest

from harness import LambdaContext
from support import EVENTS, load_case, org_envelope

MEMBER, REGION = "444455556666", "eu-west-1"


@pytest.fixture
def organization(app, stack, monkeypatch):
    monkeypatch.setenv("MEMBER_RULE_PREFIX", "paramwatch-member-")
    app.runtime.cache_clear()
    return app


def in_member(case: str, **params: object) -> dict:
    """A bundled case as the member account records it (made by a role of that account)."""
    record = json.loads(
        json.dumps(load_case(EVENTS / "cases" / f"{case}.json")["record"]).replace("111122223333", MEMBER)
    )
    record.update(recipientAccountId=MEMBER, awsRegion=REGION)
    record["requestParameters"] = {**(record.get("requestParameters") or {}), **params}
    return org_envelope(record)


@pytest.mark.parametrize(
    ("case", "params", "severity"),
    [
        ("tamper-rule-disabled", {"name": "paramwatch-member-reads"}, "high"),
        ("tamper-rule-deleted", {"name": "paramwatch-member-tamper"}, "high"),
        ("tamper-rule-targets-removed", {"rule": "paramwatch-member-decrypts"}, "high"),
        ("tamper-rule-state-enabled", {"name": "paramwatch-member-reads"}, "high"),  # a read rule re-Stated
        ("tamper-trail-stop-logging", {}, "high"),
    ],
)
def test_a_change_that_blinds_a_member_pages_with_its_account(organization, stack, case, params, severity) -> None:
    (verdict,) = organization.lambda_handler(in_member(case, **params), LambdaContext())["verdicts"]
    assert (verdict["rule"], verdict["severity"], verdict["paged"]) == ("tamper", severity, True)
    assert (verdict["account"], verdict["region"]) == (MEMBER, REGION)
    (alert,) = stack.alerts()
    assert alert["MessageAttributes"]["account"]["Value"] == MEMBER
    if params:
        assert "update-stack-instances" in alert["Message"]  # the fix is the member stack, not sam deploy


def test_another_rule_in_a_member_account_is_no_finding(organization, stack) -> None:
    assert organization.lambda_handler(in_member("tamper-rule-disabled", name="orders-nightly"), LambdaContext()) == {
        "verdicts": []
    }


def test_standalone_does_not_know_member_rules(app, stack) -> None:
    app.runtime.cache_clear()
    assert app.lambda_handler(in_member("tamper-rule-disabled", name="paramwatch-member-reads"), LambdaContext()) == {
        "verdicts": []
    }


def test_the_finding_names_the_member_account_from_the_allowlist(organization, stack) -> None:
    allowlist = {"version": 1, "grants": [], "accounts": {MEMBER: "payments-prod"}}
    stack.put_allowlist(json.dumps(allowlist))
    event = in_member("tamper-rule-disabled", name="paramwatch-member-reads")
    (verdict,) = organization.lambda_handler(event, LambdaContext())["verdicts"]
    assert verdict["account_name"] == "payments-prod"
    (alert,) = stack.alerts()
    assert f"account {MEMBER} (payments-prod), {REGION}" in alert["Message"]
