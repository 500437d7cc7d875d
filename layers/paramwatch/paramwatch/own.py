"""What paramwatch knows of itself: its stack's resources and its heartbeat canary.

In Lambda the evaluator gets exact names and ARNs from its settings. `paramwatch replay --stack
NAME` has only the stack name, so it matches the names CloudFormation derives from it (`NAME-*`)
and the allowlist path `/paramwatch/NAME/...`. Every field holds IAM-style globs, so an exact name
is simply a glob without wildcards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from paramwatch.names import ParameterNameError, canonical_name, glob_match

# CloudFormation's generated names for this stack's resources are NAME-LogicalId-SUFFIX.
CANARY_ROLE_LOGICAL_ID = "CanaryRole"


@dataclass(frozen=True, slots=True)
class Own:
    """paramwatch's own resources and canary. The empty `Own` knows nothing: trail-wide rules only."""

    stack: str | None = None
    read_rules: tuple[str, ...] = ()  # must keep State ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS
    rules: tuple[str, ...] = ()  # every rule of the stack, read rules included
    buses: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()  # topic ARNs
    keys: tuple[str, ...] = ()  # key IDs and key ARNs
    alarms: tuple[str, ...] = ()  # alarm names
    allowlists: tuple[str, ...] = ()  # canonical parameter names
    parameters: tuple[str, ...] = ()  # its other parameters (the list of its resources)
    canary_parameters: tuple[str, ...] = ()  # canonical names (more than one in organization mode)
    canary_roles: tuple[str, ...] = ()  # role ARNs (the session issuer of the canary's reads)
    queues: tuple[str, ...] = ()  # queue URLs: held pages, parked alerts, undelivered events
    mappings: tuple[str, ...] = ()  # event source mapping UUIDs (the hold queue's)

    @classmethod
    def for_stack(cls, stack: str) -> Own:
        """What replay can derive from a stack name alone (no key: its ID is random)."""
        derived = (f"{stack}-*",)
        return cls(
            stack=stack,
            read_rules=tuple(
                f"{stack}-{rule}Rule-*" for rule in ("DecryptingRead", "ParameterDecrypt", "HoneytokenRead")
            ),
            rules=derived,
            buses=derived,
            functions=derived,
            topics=(f"arn:*:sns:*:*:{stack}-*",),
            alarms=derived,
            allowlists=(f"/paramwatch/{stack}/allowlist",),
            parameters=(f"/paramwatch/{stack}/*",),
            canary_parameters=(f"/paramwatch/{stack}/canary",),
            canary_roles=(f"arn:*:iam::*:role/{stack}-{CANARY_ROLE_LOGICAL_ID}-*",),
            queues=(f"https://sqs.*/{stack}-*",),
        )

    @property
    def knows_resources(self) -> bool:
        """False for the empty `Own`: only trail-wide tamper rules apply."""
        return self.stack is not None or any(
            (self.rules, self.functions, self.topics, self.keys, self.alarms, self.allowlists, self.queues)
        )


MEMBER_PREFIX = "paramwatch-member-"  # member.yaml's rule names; template.yaml's MEMBER_RULE_PREFIX
MEMBER_READ_RULES = ("reads", "decrypts", "honeytokens")  # member.yaml's read rules, after the prefix
MEMBER_RULES = (*MEMBER_READ_RULES, "tamper")


def with_member_rules(own: Own, prefix: str) -> Own:
    """`own` knowing member.yaml's rules too (organization mode), by their fixed names.

    Those rules live in other accounts, where nobody else names a rule paramwatch-member-*.
    """
    if not prefix:
        return own
    reads = tuple(prefix + name for name in MEMBER_READ_RULES)
    return replace(
        own,
        read_rules=(*own.read_rules, *reads),
        rules=(*own.rules, *(prefix + name for name in MEMBER_RULES)),
    )


def is_canary(own: Own, raw_name: object) -> bool:
    """True when a name, in any of CloudTrail's spellings, is one of the canaries."""
    if not own.canary_parameters or not isinstance(raw_name, str):
        return False
    try:
        return matches(own.canary_parameters, canonical_name(raw_name))
    except ParameterNameError:
        return False


def matches(patterns: Iterable[str], value: str | None) -> bool:
    """True when `value` matches one of the globs (case-sensitive, whole string)."""
    return value is not None and any(glob_match(p, value) for p in patterns)
