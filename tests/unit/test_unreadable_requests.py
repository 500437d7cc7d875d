"""Reads whose request CloudTrail left incomplete or a crafted log bent out of shape: each is judged
unjudgeable, saying what is wrong, and whatever could be read is still named. Also the KMS calls the
pre-filter must hand on, and partitions other than aws."""

from __future__ import annotations

import json

import pytest

from paramwatch.allowlist import parse
from paramwatch.detector import judge
from paramwatch.names import HIDDEN
from paramwatch.rules import needs_judging
from support import kms_decrypt, ssm_read


def _request(api: str, params: dict) -> dict:
    record = ssm_read("u-1", ["/unused"], eventName=api)
    record["requestParameters"] = {**params, "withDecryption": True}
    return record


@pytest.mark.parametrize(
    ("api", "params", "problem"),
    [
        ("GetParametersByPath", {}, "the requested path is missing or hidden by CloudTrail"),
        ("GetParametersByPath", {"path": ""}, "the requested path is missing or hidden by CloudTrail"),
        ("GetParametersByPath", {"path": 7}, "the requested path is missing or hidden by CloudTrail"),
        ("GetParametersByPath", {"path": HIDDEN}, "the requested path is missing or hidden by CloudTrail"),
        ("GetParametersByPath", {"path": "arn:aws:s3:::b"}, "not an SSM parameter ARN: 'arn:aws:s3:::b'"),
        ("GetParameters", {}, "the requested names are missing or hidden by CloudTrail"),
        ("GetParameters", {"names": []}, "the requested names are missing or hidden by CloudTrail"),
        ("GetParameters", {"names": "/orders/db"}, "the requested names are missing or hidden by CloudTrail"),
        ("GetParameter", {}, "the requested name is missing"),
    ],
)
def test_a_request_without_a_readable_name_says_what_is_missing(
    api: str, params: dict, problem: str, sample_allowlist
) -> None:
    finding = judge(_request(api, params), sample_allowlist)
    assert finding is not None and str(finding.rule) == "unjudgeable-read"
    assert finding.problems == (problem,)
    assert f"Cannot judge: {problem}." in finding.summary


@pytest.mark.parametrize("bad", [HIDDEN, ":3", 7])
def test_one_unreadable_name_among_several_leaves_the_others_named(bad: object, sample_allowlist) -> None:
    # GIVEN a GetParameters whose first name cannot be read
    finding = judge(_request("GetParameters", {"names": [bad, "/orders/db", "/billing/key"]}), sample_allowlist)
    # THEN the read is unjudgeable, and names the two parameters it could read
    assert finding is not None and str(finding.rule) == "unjudgeable-read"
    assert finding.parameters == ("/orders/db", "/billing/key")


def _kms_encrypt(invoked_by: object) -> dict:
    record = kms_decrypt("k-1", "/orders/db")
    record["eventName"] = "Encrypt"
    record["userIdentity"] = (
        invoked_by
        if not isinstance(invoked_by, str)
        else {
            **record["userIdentity"],
            "invokedBy": invoked_by,
        }
    )
    return record


def test_an_encrypt_under_a_parameters_context_by_another_service_is_judged(sample_allowlist) -> None:
    # GIVEN an Encrypt under a parameter's encryption context that SSM did not make
    record = _kms_encrypt("ec2.amazonaws.com")
    # THEN the pre-filter hands it on and it pages as direct KMS use; SSM's own is left alone
    assert needs_judging(record, sample_allowlist)
    finding = judge(record, sample_allowlist)
    assert finding is not None and str(finding.rule) == "direct-kms-use"
    assert not needs_judging(_kms_encrypt("ssm.amazonaws.com"), sample_allowlist)


@pytest.mark.parametrize("identity", ["AWS Internal", ["ssm.amazonaws.com"], 7])
def test_an_encrypt_with_a_userIdentity_of_the_wrong_shape_is_not_lost(identity: object, sample_allowlist) -> None:
    # GIVEN a crafted log's Encrypt whose userIdentity is not an object (so it names no invoker)
    record = _kms_encrypt("x")
    record["userIdentity"] = identity
    # THEN the pre-filter hands it on (no exception), and it is an invalid event
    assert needs_judging(record, sample_allowlist)
    finding = judge(record, sample_allowlist)
    assert finding is not None and str(finding.rule) == "invalid-event"


def test_a_grant_in_another_partition_matches_its_own_arns() -> None:
    # GIVEN a GovCloud user granted an ARN pattern of GovCloud parameters in her account
    user = "arn:aws-us-gov:iam::111122223333:user/alice"
    grants = parse(
        json.dumps(
            {
                "version": 1,
                "grants": [
                    {
                        "name": "g",
                        "principals": [user],
                        "parameters": ["arn:aws-us-gov:ssm:us-gov-west-1:111122223333:parameter/platform/*"],
                    }
                ],
            }
        )
    )
    record = ssm_read("g-1", ["/platform/db"], awsRegion="us-gov-west-1")
    record["userIdentity"] = {**record["userIdentity"], "arn": user}
    # THEN her read by name is the ARN in her partition, and allowed
    assert judge(record, grants) is None
