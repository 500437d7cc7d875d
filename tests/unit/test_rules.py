"""Rules beyond the sample cases: ordering, fail-closed paths and invalid input."""

from __future__ import annotations

import copy

import pytest

from paramwatch.allowlist import EMPTY, validate
from paramwatch.detector import judge
from paramwatch.findings import Rule, Severity
from support import EVENTS, load_case


def record(case: str) -> dict:
    return copy.deepcopy(load_case(EVENTS / "cases" / f"{case}.json")["record"])


def test_denied_attempt_by_a_granted_principal_is_still_reported(sample_allowlist) -> None:
    rec = record("granted-assumed-role")
    rec["errorCode"] = "AccessDenied"
    finding = judge(rec, sample_allowlist)
    assert finding.rule is Rule.DENIED
    assert finding.severity is Severity.LOW


def test_honeytoken_outranks_root(sample_allowlist) -> None:
    rec = record("root-user")
    rec["requestParameters"]["name"] = "/decoy/x"
    assert judge(rec, sample_allowlist).rule is Rule.HONEYTOKEN


def test_root_is_high_even_when_granted() -> None:
    allow_all = validate({"version": 1, "grants": [{"name": "all", "principals": ["*"], "parameters": ["*"]}]})
    assert judge(record("root-user"), allow_all).severity is Severity.HIGH


def test_direct_decrypt_is_high_even_when_granted() -> None:
    allow_all = validate({"version": 1, "grants": [{"name": "all", "principals": ["*"], "parameters": ["*"]}]})
    assert judge(record("direct-decrypt"), allow_all).rule is Rule.DIRECT_DECRYPT


def test_without_allowlist_every_decrypting_read_is_reported() -> None:
    finding = judge(record("granted-assumed-role"), EMPTY)
    assert finding.rule is Rule.UNAUTHORIZED


def test_unreadable_time_is_fine_when_no_grant_needs_hours(sample_allowlist) -> None:
    rec = record("granted-assumed-role")
    rec["eventTime"] = "garbage"
    assert judge(rec, sample_allowlist) is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.pop("eventID"),
        lambda r: r.update(eventID=""),
        lambda r: r.update(userIdentity="root"),
        lambda r: r.update(requestParameters=["name"]),
        lambda r: r.update(eventTime=None),
    ],
)
def test_malformed_records_become_invalid_event_findings(mutate, sample_allowlist) -> None:
    rec = record("granted-assumed-role")
    mutate(rec)
    finding = judge(rec, sample_allowlist)
    assert finding is not None
    assert finding.rule is Rule.INVALID_EVENT


@pytest.mark.parametrize("value", [None, [], "text", 42])
def test_non_objects_are_invalid_events(value, sample_allowlist) -> None:
    assert judge(value, sample_allowlist).rule is Rule.INVALID_EVENT


def test_summary_escapes_hostile_parameter_name(sample_allowlist) -> None:
    rec = record("denied-attempt")
    rec["requestParameters"]["name"] = "/x\nERROR forged line <script>"
    finding = judge(rec, sample_allowlist)
    assert "\n" not in finding.summary
    assert "<script>" not in finding.summary


def test_getparametersbypath_without_decryption_is_not_reported(sample_allowlist) -> None:
    rec = record("by-path-too-wide")
    rec["requestParameters"]["withDecryption"] = False
    assert judge(rec, sample_allowlist) is None


def test_a_secrets_manager_reference_is_named_as_such() -> None:
    rec = record("secretsmanager-reference-in-hours")
    rec["eventTime"] = "2026-11-07T10:00:00Z"  # a Saturday: outside the grant's hours
    finding = judge(rec, validate({"version": 1}))
    assert finding.parameters == ("/aws/reference/secretsmanager/ci/deploy-token",)
    assert "(Secrets Manager secret ci/deploy-token)" in finding.summary
