"""Who made a call: the IAM principal that grants are written against.

An assumed-role ARN (`arn:aws:sts::ACCT:assumed-role/NAME/SESSION`) drops the role's path and
carries a caller-chosen session name, so the principal is the session issuer's ARN instead. Root is
recognized in every disguise: type `Root`, a session whose issuer is root, or any identity that
carries the root ARN (an account-only `AWSAccount` only when it names the recording account).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from paramwatch.cloudtrail import UserIdentity

SSO_ROLE_PREFIX = "AWSReservedSSO_"


def with_article(kind: object) -> str:
    """`an AssumedRole`, `an Unknown`, `an IAMUser`, `a FederatedUser`: identity types as English."""
    text = str(kind)
    return f"{'an' if text[:1] in set('AEIOUaeiou') else 'a'} {text}"


_ISSUED_SESSION_TYPES = frozenset({"AssumedRole", "FederatedUser"})
_SESSION_RESOURCES = ("assumed-role/", "federated-user/")
_ROOT_ARN = re.compile(r"arn:[a-z-]+:iam::\d{12}:root")


@dataclass(frozen=True, slots=True)
class Principal:
    """The resolved caller. `arn` is None when CloudTrail gives nothing to judge."""

    arn: str | None
    type: str
    account: str | None
    session: str | None = None
    root: bool = False

    @property
    def sso_user(self) -> str | None:
        """The person behind an IAM Identity Center role: its session name is the user name."""
        role = (self.arn or "").rsplit("/", 1)[-1]
        return self.session if self.session and role.startswith(SSO_ROLE_PREFIX) else None


def resolve(identity: UserIdentity | None, home: str | None = None) -> Principal:
    """Resolve the grant-matching principal of a record's `userIdentity`.

    `home` is the account whose trail recorded the call (recipientAccountId). An `AWSAccount`
    identity is another account; one that names `home` and carries its root ARN is root in disguise.
    """
    if identity is None:
        return Principal(arn=None, type="Unknown", account=None)
    kind = identity.type or "Unknown"
    account = identity.account_id
    if kind in _ISSUED_SESSION_TYPES or _is_session_arn(identity.arn):
        issuer = identity.session_context.session_issuer if identity.session_context else None
        session = identity.arn.rsplit("/", 1)[-1] if identity.arn else None
        arn = issuer.arn if issuer and issuer.arn else None
        root = bool(issuer and (issuer.type == "Root" or _is_root_arn(issuer.arn)))
        if root and arn is None and account:
            arn = f"arn:aws:iam::{account}:root"
        return Principal(arn=arn, type=kind, account=account, session=session, root=root)
    if kind == "AWSService":
        return Principal(arn=identity.invoked_by, type=kind, account=account)
    if kind == "AWSAccount":
        arn = f"arn:aws:iam::{account}:root" if account else None
        root = bool(account and account == home and _is_root_arn(identity.arn))
        return Principal(arn=arn, type=kind, account=account, root=root)
    root = kind == "Root" or _is_root_arn(identity.arn)
    return Principal(arn=identity.arn, type=kind, account=account, root=root)


def _is_root_arn(arn: str | None) -> bool:
    """The account's root user: `arn:aws:iam::ACCT:root`, whatever type the identity claims."""
    return bool(arn and _ROOT_ARN.fullmatch(arn))


def _is_session_arn(arn: str | None) -> bool:
    """True for an STS session ARN, whatever the identity type claims: sessions are never principals."""
    parts = (arn or "").split(":", 5)
    return len(parts) == 6 and parts[2] == "sts" and parts[5].startswith(_SESSION_RESOURCES)
