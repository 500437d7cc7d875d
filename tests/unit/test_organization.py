"""Organization mode in the pure library: account fields, account names, grants for every account,
and memory kept per account."""

from __future__ import annotations

import json

import pytest

from paramwatch.allowlist import AllowlistError, parse, validate
from paramwatch.detector import Detector, Tuning, judge
from paramwatch.render import body, table, verdict_json
from paramwatch.state import MemoryState
from support import ORG_ACCOUNTS, ORG_REGIONS, org_envelope, org_read

A, B, C = ORG_ACCOUNTS
EAST, WEST = ORG_REGIONS


def allowlist(**extra):
    return validate({"version": 1, "honeytokens": ["/decoy/*"], **extra})


def test_finding_carries_account_region_and_name_everywhere() -> None:
    # GIVEN an allowlist that names account B and a read in B, eu-west-1
    rules = allowlist(accounts={B: "payments-prod"})
    detector = Detector(rules, MemoryState(), Tuning(learning_days=0))
    # WHEN the detector judges it
    (verdict,) = detector.process(org_read("e1", B, WEST, "/pay/db"), now=0).verdicts
    finding = verdict.finding
    # THEN the finding says where, and every output shows it
    assert (finding.account, finding.region, finding.account_name) == (B, WEST, "payments-prod")
    row = json.loads(verdict_json(verdict))
    assert (row["account"], row["region"], row["account_name"]) == (B, WEST, "payments-prod")
    assert f"Where:      account {B} (payments-prod), {WEST}" in body(finding)
    header, line = table([verdict])
    assert "ACCOUNT" in header and "REGION" in header
    assert "payments-prod" in line and WEST in line


def test_unnamed_account_shows_its_id() -> None:
    finding = judge(org_read("e1", C, EAST, "/x"), allowlist(accounts={B: "payments-prod"}))
    assert (finding.account, finding.account_name) == (C, None)
    assert f"account {C}, {EAST}" in body(finding)


def test_envelope_account_fills_a_record_without_recipient() -> None:
    from paramwatch.cloudtrail import detail_of

    record = org_read("e1", C, EAST, "/x")
    envelope = org_envelope(record)
    del envelope["detail"]["recipientAccountId"]
    assert judge(detail_of(envelope), allowlist()).account == C


def test_account_ids_must_be_quoted_in_yaml() -> None:
    with pytest.raises(AllowlistError) as caught:
        parse("version: 1\naccounts:\n  111122223333: payments-prod\n")
    assert any(p.startswith("accounts:") and "quoted" in p for p in caught.value.problems)
    with pytest.raises(AllowlistError) as caught:
        parse("version: 1\naccounts:\n  '1111': short\n")
    assert any(p.startswith("accounts.1111") for p in caught.value.problems), caught.value.problems
    assert parse(f"version: 1\naccounts:\n  '{A}': payments-prod\n").account_name(A) == "payments-prod"


EVERY_ACCOUNT = {"name": "backup", "principals": ["arn:aws:iam::*:role/platform/backup"], "parameters": ["/db/*"]}


@pytest.mark.parametrize("account", ORG_ACCOUNTS)
def test_one_grant_covers_the_role_in_every_account(account: str) -> None:
    finding = judge(org_read("e", account, EAST, "/db/x", role="platform/backup"), allowlist(grants=[EVERY_ACCOUNT]))
    assert finding is None


@pytest.mark.parametrize(
    "arn",
    [
        # the wildcard must not cross ':' (IAM role paths may hold ':') or '/'
        f"arn:aws:iam::{A}:role/evil:role/platform/backup",
        f"arn:aws:iam::{A}:role/x/arn:aws:iam::{B}:role/platform/backup",
        "arn:aws:iam::1/2:role/platform/backup",
        f"arn:aws:iam::{A}:role/platform/backup-2",
        f"arn:aws:iam::{A}:role/other/platform/backup",
        f"arn:aws:iam::{A}:user/platform/backup",
    ],
)
def test_every_account_wildcard_cannot_widen(arn: str) -> None:
    grant = validate({"version": 1, "grants": [EVERY_ACCOUNT]}).grants[0]
    assert not grant.allows_principal(arn)


def test_accounts_list_limits_a_grant() -> None:
    grant = {**EVERY_ACCOUNT, "accounts": [A, B]}
    rules = allowlist(grants=[grant])
    assert judge(org_read("e", A, EAST, "/db/x", role="platform/backup"), rules) is None
    finding = judge(org_read("e", C, EAST, "/db/x", role="platform/backup"), rules)
    assert finding is not None and finding.account == C


def test_a_grant_for_one_account_never_covers_another() -> None:
    grant = {"name": "g", "principals": [f"arn:aws:iam::{A}:role/app/reader"], "parameters": ["/x"]}
    rules = allowlist(grants=[grant])
    assert judge(org_read("e", A, EAST, "/x"), rules) is None
    assert judge(org_read("e", B, EAST, "/x"), rules).rule == "unauthorized-read"


def test_accounts_list_rejects_bad_ids() -> None:
    with pytest.raises(AllowlistError) as caught:
        validate({"version": 1, "grants": [{**EVERY_ACCOUNT, "accounts": ["12"]}]})
    assert any(p.startswith("grants[0].accounts[0]:") for p in caught.value.problems)
