"""Name normalization and IAM-style globs."""

from __future__ import annotations

import pytest

from paramwatch.names import (
    ParameterNameError,
    canonical_name,
    canonical_pattern,
    covers_subtree,
    glob_match,
    is_secrets_manager_reference,
    subtree_may_hold,
)


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
    ],
)
def test_canonical_name(raw: str, expected: str) -> None:
    assert canonical_name(raw) == expected


@pytest.mark.parametrize("raw", ["", ":3", "arn:aws:s3:::bucket/key", "arn:aws:ssm:us-east-1:1:document/x"])
def test_canonical_name_rejects(raw: str) -> None:
    with pytest.raises(ParameterNameError):
        canonical_name(raw)


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
