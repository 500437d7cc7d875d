"""Resolving the principal of each identity type."""

from __future__ import annotations

import pytest

from paramwatch.cloudtrail import UserIdentity
from paramwatch.detector import judge
from paramwatch.identity import resolve
from support import ssm_read


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


def _read_by(user_identity: dict, **extra: object) -> dict:
    """Alice's read of /orders/db-password, made by another identity."""
    return ssm_read("e-1", ["/orders/db-password"], userIdentity=user_identity, **extra)


ROOT_ARN = "arn:aws:iam::111122223333:root"


@pytest.mark.parametrize(
    "user_identity",
    [
        # the type alone, with an ARN of another form
        {"type": "Root", "arn": "arn:aws:iam::111122223333:user/root", "accountId": "111122223333"},
        {"type": "IAMUser", "arn": ROOT_ARN, "accountId": "111122223333"},  # the ARN alone
        {  # a session whose issuer carries root's ARN, whatever type it claims
            "type": "AssumedRole",
            "arn": "arn:aws:sts::111122223333:assumed-role/root/task",
            "accountId": "111122223333",
            "sessionContext": {"sessionIssuer": {"type": "Account", "arn": ROOT_ARN}},
        },
    ],
)
def test_root_is_recognized_in_every_disguise(user_identity: dict, sample_allowlist) -> None:
    finding = judge(_read_by(user_identity), sample_allowlist)
    assert finding is not None and (str(finding.rule), str(finding.severity)) == ("root-access", "high")


@pytest.mark.parametrize(
    ("user_identity", "problem"),
    [
        ({"arn": None}, "no principal can be derived from an Unknown identity"),
        ({"type": "AWSAccount"}, "no principal can be derived from an AWSAccount identity"),
    ],
)
def test_an_identity_that_names_nobody_cannot_be_judged(user_identity: dict, problem: str, sample_allowlist) -> None:
    # GIVEN a read whose identity has no type or ARN, or names no account: no grant can be matched
    finding = judge(_read_by(user_identity), sample_allowlist)
    # THEN it pages as unjudgeable, and the alert says which identity it could not place
    assert finding is not None and str(finding.rule) == "unjudgeable-read"
    assert problem in finding.problems[0]


@pytest.mark.parametrize(
    "session_arn", [None, "arn:aws:sts::111122223333:assumed-role"], ids=["no ARN", "ARN without a session"]
)
def test_a_session_with_a_broken_arn_is_judged_by_its_issuer(session_arn: str | None, sample_allowlist) -> None:
    # GIVEN a session identity whose own ARN is missing or cut short, with a session issuer
    user_identity = {
        "type": "AssumedRole",
        "arn": session_arn,
        "accountId": "111122223333",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/mallory"}},
    }
    # THEN it is judged (no exception) as the issuer's read
    finding = judge(_read_by(user_identity), sample_allowlist)
    assert finding is not None and finding.principal == "arn:aws:iam::111122223333:role/mallory"


@pytest.mark.parametrize(
    "user_identity",
    [
        {"type": "IAMUser", "arn": "arn:aws:iam::444455556666:user/bob", "accountId": "444455556666"},
        {"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com", "accountId": "444455556666"},
    ],
    ids=["IAMUser", "AWSService"],
)
def test_the_callers_account_is_kept(user_identity: dict, sample_allowlist) -> None:
    # GIVEN another account's call recorded in ours: an ungranted read is high (the caller is elsewhere)
    finding = judge(_read_by(user_identity), sample_allowlist)
    assert finding is not None and (str(finding.rule), str(finding.severity)) == ("unauthorized-read", "high")
    # and a record without recipientAccountId still names the caller's account in the alert
    record = _read_by(user_identity)
    del record["recipientAccountId"]
    finding = judge(record, sample_allowlist)
    assert finding is not None and finding.account == "444455556666"
