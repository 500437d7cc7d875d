"""Findings: what paramwatch reports, with the fields every alert, log line and replay row share."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class Severity(IntEnum):
    """Ordered so that `max()` picks the worst."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name.lower()


class Rule(StrEnum):
    """Every rule that can raise a finding; the value is the name used in alerts and metrics."""

    HONEYTOKEN = "honeytoken"
    ROOT = "root-access"
    DIRECT_DECRYPT = "direct-decrypt"
    DIRECT_KMS_USE = "direct-kms-use"
    UNAUTHORIZED = "unauthorized-read"
    DENIED = "denied-attempt"
    UNJUDGEABLE = "unjudgeable-read"
    INVALID_EVENT = "invalid-event"
    ALLOWLIST_INVALID = "allowlist-invalid"
    BULK = "bulk-retrieval"
    FIRST_SEEN = "first-seen"
    DENIED_BURST = "denied-burst"
    TAMPER = "tamper"


NEXT_STEPS: dict[Rule, str] = {
    Rule.HONEYTOKEN: (
        "A decoy was touched: nobody has a reason to read it. Treat the principal's credentials as "
        "compromised: revoke its sessions, rotate its keys and review what else it did."
    ),
    Rule.ROOT: (
        "The root user read a secret. Confirm with the account owner at once; if nobody did this, "
        "rotate the root credentials and the secrets read."
    ),
    Rule.DIRECT_DECRYPT: (
        "Someone decrypted a parameter's ciphertext directly with KMS instead of through SSM. Find "
        "where the ciphertext came from, rotate the secret, and narrow kms:Decrypt on the key."
    ),
    Rule.DIRECT_KMS_USE: (
        "Someone used a parameter's encryption context with KMS (ReEncrypt, Encrypt, GenerateDataKey) "
        "outside SSM. A ReEncrypt moves the secret under the destination key without a Decrypt here: "
        "find the destination key's owner, rotate the secret, and narrow kms:ReEncrypt on the key."
    ),
    Rule.UNAUTHORIZED: (
        "Confirm with the principal's owner that this read was expected. If it was, add a grant "
        "(see the README, 'Tuning the allowlist'); if not, rotate the secrets read and revoke access."
    ),
    Rule.DENIED: (
        "A read was refused. Repeated refusals can be enumeration: check what else the principal tried in CloudTrail."
    ),
    Rule.UNJUDGEABLE: (
        "paramwatch could not judge this decrypting read (see 'problems'). Review it by hand in "
        "CloudTrail using the event ID."
    ),
    Rule.INVALID_EVENT: (
        "paramwatch received an event it could not read. Inspect it in CloudTrail or the "
        "dead-letter queue; a format change may be hiding reads."
    ),
    Rule.ALLOWLIST_INVALID: (
        "The allowlist parameter does not validate, so every read is judged against an empty "
        "allowlist. Fix it with 'paramwatch check-allowlist' and put-parameter."
    ),
    Rule.BULK: (
        "One principal decrypted many distinct secrets in a short time, the pattern of a secrets "
        "sweep (Stratus Red Team: ssm-retrieve-securestring-parameters). Even if each read was "
        "granted, confirm the job with its owner; if unexpected, revoke the credentials and rotate."
    ),
    Rule.FIRST_SEEN: (
        "This principal read this secret for the first time since paramwatch started learning. "
        "If it is a new deployment, add or widen a grant; otherwise ask its owner why."
    ),
    Rule.DENIED_BURST: (
        "Many refused reads in a short time look like enumeration of secret names. Check the "
        "principal's other calls in CloudTrail and whether its credentials leaked."
    ),
    Rule.TAMPER: (
        "Someone changed what paramwatch depends on to see reads. Ask whoever made the change whether it "
        "was planned; if not, treat their credentials as compromised. Undo it as the summary says, run "
        "'paramwatch doctor --stack NAME', and replay the trail since the change: reads in between went unwatched."
    ),
}


@dataclass(frozen=True, slots=True)
class NearMiss:
    """The grant closest to allowing a read, the condition it failed and the value observed.

    `grant` is None when no grant names the principal. `text` is escaped, ready for any output.
    """

    grant: str | None
    owner: str | None
    condition: str | None
    observed: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made the SSM call behind a KMS Decrypt that SSM made (whose own source reads "AWS
    Internal"): the call's address, endpoint, user agent and event, for the responder to verify."""

    event_id: str
    source_ip: str | None
    user_agent: str | None
    vpc_endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One reportable verdict on one CloudTrail event."""

    event_id: str
    rule: Rule
    severity: Severity
    principal: str | None
    parameters: tuple[str, ...]
    event_time: str | None
    source_ip: str | None
    summary: str
    event_name: str | None = None
    identity_type: str | None = None
    user_agent: str | None = None
    vpc_endpoint: str | None = None
    region: str | None = None
    error_code: str | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)
    session_name: str | None = None
    sso_user: str | None = None
    near_miss: NearMiss | None = None
    parameter_count: int | None = None
    ssm_caller: Caller | None = None
    account: str | None = None
    account_name: str | None = None

    @property
    def where(self) -> str:
        """Account (with its name when known) and region, for alerts and tables; unescaped."""
        account = self.account or "unknown account"
        if self.account_name:
            account += f" ({self.account_name})"
        return f"{account}, {self.region or 'unknown region'}"

    @property
    def next_step(self) -> str:
        """What the person who is paged should do."""
        return NEXT_STEPS[self.rule]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form: enums as their names, tuples as lists."""
        data = asdict(self)
        data["rule"] = str(self.rule)
        data["severity"] = str(self.severity)
        data["parameters"] = list(self.parameters)
        data["problems"] = list(self.problems)
        return data


def finding_of(data: dict[str, Any]) -> Finding:
    """The finding `Finding.to_dict` wrote, for a page composed later (a held incident's page)."""
    fields = {name: data.get(name) for name in Finding.__dataclass_fields__ if name in data}
    fields["rule"] = Rule(data["rule"])
    fields["severity"] = Severity[str(data["severity"]).upper()]
    fields["parameters"] = tuple(data.get("parameters") or ())
    fields["problems"] = tuple(data.get("problems") or ())
    if isinstance(data.get("near_miss"), dict):
        fields["near_miss"] = NearMiss(**data["near_miss"])
    if isinstance(data.get("ssm_caller"), dict):
        fields["ssm_caller"] = Caller(**data["ssm_caller"])
    return Finding(**fields)
