"""The heartbeat: the canary's own decrypting read and label, recognized on each of their legs.

Every few minutes a dedicated role reads the canary SecureString with decryption, then labels it.
The SSM call and the KMS Decrypt SSM makes for it travel the same path as any read (trail,
EventBridge, read rules, evaluator); the label, a write event, travels the tamper rule's path. So
seeing the three legs proves each path works end to end. They raise no finding: the canary is
granted to that role alone. Any other read of the canary, or a Decrypt of its ciphertext that SSM
did not make, is judged like every other read.
"""

from __future__ import annotations

from dataclasses import dataclass

from paramwatch.access import Access
from paramwatch.cloudtrail import CloudTrailRecord
from paramwatch.identity import Principal, resolve
from paramwatch.own import Own, is_canary, matches

SSM_LEG, KMS_LEG, TAMPER_LEG = "ssm", "kms", "tamper"
LEGS = (SSM_LEG, KMS_LEG, TAMPER_LEG)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One leg of a canary read, and where it was made (for organization mode's dimensions)."""

    leg: str
    account: str | None
    region: str | None


def _is_canary_role(principal: Principal, own: Own) -> bool:
    return principal.type == "AssumedRole" and matches(own.canary_roles, principal.arn)


def write_heartbeat_of(record: CloudTrailRecord, own: Own) -> Heartbeat | None:
    """The canary role's label on the canary: the heartbeat of the tamper rule's path (write events)."""
    if record.event_source != "ssm.amazonaws.com" or record.event_name != "LabelParameterVersion":
        return None
    params = record.request_parameters or {}
    principal = resolve(record.user_identity)
    if record.error_code or not is_canary(own, params.get("name")) or not _is_canary_role(principal, own):
        return None
    return Heartbeat(leg=TAMPER_LEG, account=principal.account or record.recipient_account_id, region=record.aws_region)


def heartbeat_of(access: Access, own: Own) -> Heartbeat | None:
    """The heartbeat this access is, or None when it is any other read."""
    if access.error_code or access.problems or not access.decrypted or access.path is not None:
        return None
    if len(access.parameters) != 1 or not is_canary(own, access.parameters[0]):
        return None
    if not _is_canary_role(access.principal, own):
        return None
    if access.is_kms and not access.via_ssm:
        return None
    leg = KMS_LEG if access.is_kms else SSM_LEG
    return Heartbeat(leg=leg, account=access.principal.account or access.recipient_account, region=access.region)
