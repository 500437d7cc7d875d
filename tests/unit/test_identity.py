"""Resolving the principal of each identity type."""

from __future__ import annotations

import pytest

from paramwatch.cloudtrail import UserIdentity
from paramwatch.identity import resolve


def identity(**fields) -> UserIdentity:
    return UserIdentity.model_validate(fields)


def test_assumed_role_uses_issuer_with_path_not_session() -> None:
    principal = resolve(
        identity(
            type="AssumedRole",
            arn="arn:aws:sts::111122223333:assumed-role/orders-api/attacker-chosen",
            accountId="111122223333",
            sessionContext={"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/app/orders-api"}},
        )
    )
    assert principal.arn == "arn:aws:iam::111122223333:role/app/orders-api"
    assert principal.session == "attacker-chosen"


def test_assumed_role_without_issuer_has_no_principal() -> None:
    principal = resolve(identity(type="AssumedRole", arn="arn:aws:sts::1:assumed-role/r/s", sessionContext={}))
    assert principal.arn is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"type": "IAMUser", "arn": "arn:aws:iam::1:user/ops/bob"}, "arn:aws:iam::1:user/ops/bob"),
        ({"type": "Root", "arn": "arn:aws:iam::1:root"}, "arn:aws:iam::1:root"),
        ({"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}, "cloudformation.amazonaws.com"),
        ({"type": "AWSAccount", "accountId": "444455556666"}, "arn:aws:iam::444455556666:root"),
        (
            {
                "type": "FederatedUser",
                "arn": "arn:aws:sts::1:federated-user/bob",
                "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::1:user/bob"}},
            },
            "arn:aws:iam::1:user/bob",
        ),
    ],
)
def test_identity_types(fields: dict, expected: str) -> None:
    assert resolve(identity(**fields)).arn == expected


def test_cross_account_principal_keeps_its_account() -> None:
    principal = resolve(
        identity(
            type="AssumedRole",
            accountId="444455556666",
            arn="arn:aws:sts::444455556666:assumed-role/sync/s",
            sessionContext={"sessionIssuer": {"arn": "arn:aws:iam::444455556666:role/sync"}},
        )
    )
    assert principal.account == "444455556666"
    assert principal.arn.split(":")[4] == "444455556666"


def test_missing_identity() -> None:
    assert resolve(None).arn is None


def test_a_session_arn_is_never_the_principal_whatever_the_type_says() -> None:
    # found by the fuzzer: an unknown identity type carrying an assumed-role session ARN
    session = "arn:aws:sts::1:assumed-role/orders-api/attacker-chosen"
    with_issuer = identity(
        type="\x80", arn=session, sessionContext={"sessionIssuer": {"arn": "arn:aws:iam::1:role/app/orders-api"}}
    )
    assert resolve(with_issuer).arn == "arn:aws:iam::1:role/app/orders-api"
    assert resolve(identity(type="SomethingNew", arn=session)).arn is None
