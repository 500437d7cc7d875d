"""The heartbeat: the canary's own decrypting read, recognized on both of its legs.

Every few minutes a dedicated role reads the canary SecureString with decryption. Its SSM call and
the KMS Decrypt SSM makes for it travel the same path as any read (trail, EventBridge, rule,
evaluator), so seeing them proves that path works end to end. They raise no finding: the canary is
granted to that role alone. Any other read of the canary, or a Decrypt of its ciphertext that SSM
did not make, is judged like every other read.
"""

from __future__ import annotations

from dataclasses import dataclass

from paramwatch.access import Access
from paramwatch.names import ParameterNameError, canonical_name
from paramwatch.own import Own, matches

SSM_LEG, KMS_LEG = "ssm", "kms"


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One leg of a canary read, and where it was made (for organization mode's dimensions)."""

    leg: str
    account: str | None
    region: str | None


def heartbeat_of(access: Access, own: Own) -> Heartbeat | None:
    """The heartbeat this access is, or None when it is any other read."""
    if own.canary_parameter is None or access.error_code or access.problems or not access.decrypted:
        return None
    try:
        canary = canonical_name(own.canary_parameter)
    except ParameterNameError:
        return None
    if access.parameters != (canary,) or access.path is not None:
        return None
    if access.principal.type != "AssumedRole" or not matches(own.canary_roles, access.principal.arn):
        return None
    if access.is_kms and not access.via_ssm:
        return None
    leg = KMS_LEG if access.is_kms else SSM_LEG
    return Heartbeat(leg=leg, account=access.principal.account or access.recipient_account, region=access.region)
