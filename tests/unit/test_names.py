"""Name normalization and IAM-style globs."""

from __future__ import annotations

import pytest

from paramwatch.detector import judge
from paramwatch.names import (
    ParameterNameError,
    canonical_name,
    canonical_pattern,
    covers_subtree,
    glob_match,
    is_public_parameter,
    is_secrets_manager_reference,
    subtree_may_hold,
)
from support import ssm_read


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/orders/db", "/orders/db"),
        ("orders", "/orders"),
        ("/orders/db:3", "/orders/db"),
        ("/orders/db:prod", "/orders/db"),
        ("arn:aws:ssm:us-east-1:111122223333:parameter/orders/db", "/orders/db"),
        ("arn:aws:ssm:us-east-1:111122223333:parameter/orders/db:12", "/orders/db"),
        ("arn:aws-us-gov:ssm:us-gov-west-1:111122223333:parameter/top", "/top"),
        ("/aws/reference/secretsmanager/prod/db", "/aws/reference/secretsmanager/prod/db"),
        ("/orders/db:prod:extra", "/orders/db"),  # names hold no ':', so all after the first is selector
    ],
)
def test_canonical_name(raw: str, expected: str) -> None:
    assert canonical_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", ":3", "/", "/:3", "arn:aws:s3:::bucket/key", "arn:aws:ssm:us-east-1:1:document/x", "arn:aws:ssm:::parameter/"],
)
def test_canonical_name_rejects(raw: str) -> None:
    with pytest.raises(ParameterNameError):
        canonical_name(raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("arn:aws:s3:::bucket/key", "not an SSM parameter ARN: 'arn:aws:s3:::bucket/key'"),
        ("/:latest", "empty parameter name in '/:latest'"),
    ],
)
def test_an_unreadable_name_is_named_in_the_alert(raw: str, reason: str, sample_allowlist) -> None:
    # GIVEN a read whose name is no parameter name
    finding = judge(ssm_read("e-1", [raw]), sample_allowlist)
    # THEN it pages as a read that cannot be judged, and says which text could not be read
    assert finding is not None and str(finding.rule) == "unjudgeable-read"
    assert reason in finding.problems[0]


def test_a_parameter_named_by_another_accounts_arn_stays_that_accounts(sample_allowlist) -> None:
    # GIVEN alice, granted /platform/* in her own account, reads another account's /platform/db
    # by an ARN with a version selector
    arn = "arn:aws:ssm:us-east-1:444455556666:parameter/platform/db"
    finding = judge(ssm_read("e-1", [f"{arn}:3"]), sample_allowlist)
    # THEN her grant does not cover it: the parameter is that account's, named by its ARN
    assert finding is not None and str(finding.rule) == "unauthorized-read"
    assert finding.parameters == (arn,)


@pytest.mark.parametrize(
    ("name", "public"),
    [
        ("/aws/service", True),
        ("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64", True),
        ("/aws/services", False),
        ("/aws/servicex/db", False),
        ("/Aws/service/db", False),
        ("/team/aws/service/db", False),
    ],
)
def test_public_parameters_are_aws_service_and_below(name: str, public: bool, sample_allowlist) -> None:
    assert is_public_parameter(name) is public
    # a recursive read with decryption of the same path by someone without a grant pages unless public
    record = ssm_read("e-1", ["/unused"], eventName="GetParametersByPath")
    record["requestParameters"] = {"path": name, "recursive": True, "withDecryption": True}
    assert (judge(record, sample_allowlist) is None) is public


def test_names_keep_their_case() -> None:
    assert canonical_name("/Orders/DB") == "/Orders/DB"


def test_secrets_manager_reference() -> None:
    assert is_secrets_manager_reference("/aws/reference/secretsmanager/db")
    assert not is_secrets_manager_reference("/aws/service/ami")


def test_pattern_gets_leading_slash_unless_wildcard() -> None:
    assert canonical_pattern("orders/*") == "/orders/*"
    assert canonical_pattern("*") == "*"


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("/orders/*", "/orders/db", True),
        ("/orders/*", "/orders/eu/db", True),  # IAM: * crosses '/'
        ("/orders/*", "/Orders/db", False),  # case-sensitive
        ("/orders/*", "/ordersx/db", False),
        ("/orders/?b", "/orders/db", True),
        ("/orders/db", "/orders/db2", False),  # full match, never substring
        ("arn:aws:iam::1:user/alice", "arn:aws:iam::1:user/alice-evil", False),
        ("/a.b/*", "/axb/c", False),  # regex metacharacters are literal
    ],
)
def test_glob_match(pattern: str, value: str, expected: bool) -> None:
    assert glob_match(pattern, value) is expected


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/orders/*", "/orders", True),
        ("/orders/*", "/orders/", True),
        ("/orders/*", "/orders/eu", True),
        ("/orders/*", "/", False),
        ("/orders/*", "/orders-archive", False),
        ("/orders/db", "/orders", False),
        ("*", "/", True),
        ("/o*", "/orders", True),
    ],
)
def test_covers_subtree(pattern: str, path: str, expected: bool) -> None:
    assert covers_subtree(pattern, path) is expected


@pytest.mark.parametrize(
    ("pattern", "path", "recursive", "expected"),
    [
        ("/decoy/*", "/", True, True),
        ("/decoy/*", "/", False, False),  # only direct children of / come back
        ("/decoy/*", "/decoy", False, True),
        ("/decoy/*", "/decoy/deep", True, True),
        ("/decoy/*", "/orders", True, False),
        ("/decoy/token", "/decoy", False, True),
        ("/decoy/token", "/other", True, False),
    ],
)
def test_subtree_may_hold(pattern: str, path: str, recursive: bool, expected: bool) -> None:
    assert subtree_may_hold(pattern, path, recursive=recursive) is expected
