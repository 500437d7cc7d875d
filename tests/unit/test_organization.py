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


# ---------------------------------------------------------------- memory per account


def run(records: list[dict], rules=None, **tuning) -> list:
    detector = Detector(rules or allowlist(), MemoryState(), Tuning(learning_days=0, **tuning))
    verdicts = []
    for record in records:
        outcome = detector.process(record, now=0)
        verdicts += outcome.verdicts
        if outcome.begun:
            detector.finish(outcome.begun)
    return verdicts


def minute(i: int) -> str:
    return f"2026-11-02T10:{i:02d}:00Z"


def rules_of(verdicts, rule: str) -> list:
    return [v for v in verdicts if v.finding.rule == rule]


def test_same_role_name_in_two_accounts_is_two_principals_for_bulk() -> None:
    # GIVEN app/reader in A and app/reader in B, each decrypting 12 parameters (threshold 20)
    records = [org_read(f"{acct}-{i}", acct, EAST, f"/p/{i}", time=minute(i % 5)) for acct in (A, B) for i in range(12)]
    # THEN neither crosses the threshold: they are two principals
    assert rules_of(run(records, bulk_threshold=20), "bulk-retrieval") == []


def test_one_principal_reading_across_accounts_is_one_bulk_read() -> None:
    # GIVEN one role of A reading the same 12 names in B and in C (24 distinct secrets)
    records = [
        org_read(f"{acct}-{i}", acct, EAST, f"/p/{i}", caller=A, time=minute(i % 5))
        for acct in (B, C)
        for i in range(12)
    ]
    # THEN it is one principal over the threshold, and the finding says where the read crossed it
    (bulk,) = [v for v in rules_of(run(records, bulk_threshold=20), "bulk-retrieval") if v.paged]
    assert bulk.finding.principal == f"arn:aws:iam::{A}:role/app/reader"
    assert bulk.finding.account == C


def test_honeytoken_pages_once_per_account() -> None:
    records = [
        org_read("a1", A, EAST, "/decoy/key", caller=C),
        org_read("b1", B, EAST, "/decoy/key", caller=C),
        org_read("b2", B, EAST, "/decoy/key", caller=C, time=minute(20)),
        org_read("b3", B, WEST, "/decoy/key", caller=C, time=minute(21)),
    ]
    verdicts = rules_of(run(records), "honeytoken")
    assert [(v.finding.account, v.finding.region, v.paged) for v in verdicts] == [
        (A, EAST, True),
        (B, EAST, True),
        (B, EAST, False),  # the same decoy in the same account: suppressed
        (B, WEST, True),  # the same name in another region is another parameter
    ]


def test_first_seen_is_per_account() -> None:
    grant = {
        "name": "every",
        "principals": [f"arn:aws:iam::{A}:role/app/reader"],
        "parameters": ["/x", f"arn:aws:ssm:*:{B}:parameter/x"],
    }
    records = [org_read("a1", A, EAST, "/x"), org_read("b1", B, EAST, "/x", caller=A), org_read("a2", A, EAST, "/x")]
    verdicts = rules_of(run(records, allowlist(grants=[grant])), "first-seen")
    assert [(v.finding.event_id, v.finding.account) for v in verdicts] == [("a1", A), ("b1", B)]


def test_denied_bursts_are_per_account() -> None:
    def denied(event_id: str, account: str, i: int) -> dict:
        return org_read(event_id, account, EAST, f"/n/{i}", time=minute(i % 3), errorCode="AccessDenied")

    split = [denied(f"{acct}-{i}", acct, i) for acct in (A, B) for i in range(6)]
    assert rules_of(run(split, denied_threshold=10), "denied-burst") == []
    one = [denied(f"a-{i}", A, i) for i in range(10)]
    assert len(rules_of(run(one, denied_threshold=10), "denied-burst")) >= 1


def test_a_service_principal_is_one_principal_per_account() -> None:
    def by_service(event_id: str, account: str, i: int) -> dict:
        record = org_read(event_id, account, EAST, f"/p/{i}", time=minute(i % 5))
        record["userIdentity"] = {"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}
        return record

    records = [by_service(f"{acct}-{i}", acct, i) for acct in (A, B, C) for i in range(8)]
    assert rules_of(run(records, bulk_threshold=20), "bulk-retrieval") == []


def test_account_names_from_elsewhere_go_under_the_allowlists_map() -> None:
    from paramwatch.allowlist import parse, with_account_names

    allowlist = parse('{"version": 1, "accounts": {"111122223333": "payments-prod"}}')
    merged = with_account_names(allowlist, {"111122223333": "Payments (Org)", "444455556666": "sandbox"})
    assert merged.account_name("111122223333") == "payments-prod"  # the map wins
    assert merged.account_name("444455556666") == "sandbox"
    assert allowlist.account_name("444455556666") is None  # the stored allowlist is not changed
    assert with_account_names(allowlist, {}) is allowlist
