"""Account names from AWS Organizations (`AccountNamesFromOrganizations=true`), against moto's
Organizations: read with ListAccounts (paginated), cached, merged under the allowlist's `accounts`
map (the map wins), escaped like any other text, and failing soft."""

from __future__ import annotations

import json

import boto3
import pytest
from moto.core import set_initial_no_auth_action_count

from harness import REGION, LambdaContext, emf_records, log_lines, metric_sum
from paramwatch.escape import safe
from paramwatch_aws.account_names import OrganizationNames
from support import ORG_REGIONS, org_envelope, org_read

EAST = ORG_REGIONS[0]
MARKUP = "<!here> *prod* [x](http://evil.example)"


@pytest.fixture
def organization(stack) -> dict[str, str]:
    """An organization in moto with 25 member accounts (more than a page), names by ID."""
    organizations = boto3.client("organizations", region_name=REGION)
    organizations.create_organization(FeatureSet="ALL")
    names = {}
    for i in range(25):
        name = MARKUP if i == 0 else f"team-{i:02d}"
        created = organizations.create_account(AccountName=name, Email=f"team-{i}@example.com")
        names[created["CreateAccountStatus"]["AccountId"]] = name
    return names


@pytest.fixture
def named(app, stack, organization, monkeypatch):
    monkeypatch.setenv("ACCOUNT_NAMES_FROM_ORGANIZATIONS", "true")
    app.runtime.cache_clear()
    return app


def handle(app, record: dict) -> list[dict]:
    return app.lambda_handler(org_envelope(record), LambdaContext())["verdicts"]


def test_the_adapter_reads_every_page_and_caches_until_the_ttl(organization) -> None:
    client = boto3.client("organizations", region_name=REGION)
    calls = []
    paginate = client.get_paginator("list_accounts").paginate

    class Counting:
        def get_paginator(self, name: str):
            calls.append(name)

            class Pages:
                def paginate(self):
                    return paginate(PaginationConfig={"PageSize": 10})

            return Pages()

    now = [0.0]
    names = OrganizationNames(Counting(), max_age=3600, clock=lambda: now[0])
    got = names.get()
    # THEN every account of the three pages is named (and the management account too)
    assert got.error is None and organization.items() <= got.names.items()
    now[0] = 3599
    names.get()
    assert calls == ["list_accounts"]  # cached
    now[0] = 3601
    names.get()
    assert calls == ["list_accounts"] * 2  # read again after the TTL


def test_alerts_name_accounts_from_organizations_escaped(named, stack, organization) -> None:
    # GIVEN an allowlist with no accounts map, and a decoy read in the account named with markup
    account = next(a for a, n in organization.items() if n == MARKUP)
    stack.put_allowlist(json.dumps({"version": 1, "grants": [], "honeytokens": ["/decoy/*"]}))
    (verdict,) = handle(named, org_read("decoy", account, EAST, "/decoy/key"))
    # THEN the finding carries the organization's name, and the alert escapes it like any other text
    assert verdict["account_name"] == MARKUP
    (alert,) = stack.alerts()
    assert MARKUP not in alert["Message"] and "<!here>" not in alert["Message"]
    assert f"account {safe(f'{account} ({MARKUP})')}" in alert["Message"]


def test_the_allowlists_map_wins(named, stack, organization) -> None:
    account = next(a for a, n in organization.items() if n == "team-03")
    allowlist = {"version": 1, "grants": [], "honeytokens": ["/decoy/*"], "accounts": {account: "payments-prod"}}
    stack.put_allowlist(json.dumps(allowlist))
    (verdict,) = handle(named, org_read("decoy", account, EAST, "/decoy/key"))
    assert verdict["account_name"] == "payments-prod"


def test_a_failed_read_keeps_judging_with_the_maps_names(app, stack, organization, monkeypatch, capsys) -> None:
    # GIVEN the evaluator's role may not call ListAccounts (moto enforcing IAM: the account is not
    # the management account or a delegated administrator, or the permission was removed)
    monkeypatch.setenv("ACCOUNT_NAMES_FROM_ORGANIZATIONS", "true")
    allowlist = {"version": 1, "grants": [], "honeytokens": ["/decoy/*"], "accounts": {"444455556666": "payments"}}
    stack.put_allowlist(json.dumps(allowlist))
    denied = {"Effect": "Deny", "Action": "organizations:ListAccounts", "Resource": "*"}
    results = []

    @set_initial_no_auth_action_count(3)
    def judged_as_a_role_without_the_permission() -> None:
        iam = boto3.client("iam", region_name=REGION)
        iam.create_user(UserName="evaluator")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, denied]}
        iam.put_user_policy(UserName="evaluator", PolicyName="evaluator", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="evaluator")["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        app.runtime.cache_clear()
        results.append(handle(app, org_read("decoy-1", "444455556666", EAST, "/decoy/key")))
        results.append(handle(app, org_read("decoy-2", "777788889999", EAST, "/decoy/key")))

    judged_as_a_role_without_the_permission()
    app.runtime.cache_clear()
    # THEN both are judged and alerted, the map's name is used, and the failure is one warning and
    # one metric point (the read is retried after a pause, not on every event)
    first, second = results
    assert first[0]["account_name"] == "payments" and second[0]["account_name"] is None
    assert len(stack.alerts()) == 2
    out = capsys.readouterr().out
    warnings = [line for line in log_lines(out) if line["message"] == "account names unavailable from Organizations"]
    assert len(warnings) == 1 and warnings[0]["level"] == "WARNING" and warnings[0]["error"]
    assert metric_sum(emf_records(out), "AccountNamesUnavailable") == 1


def test_off_by_default_no_organizations_call(app, stack, organization) -> None:
    app.runtime.cache_clear()
    assert app.runtime().account_names is None
