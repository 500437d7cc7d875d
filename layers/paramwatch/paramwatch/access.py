"""Normalized accesses: one CloudTrail record turned into what was read, by whom, from where.

Rules judge an `Access`, never a raw record, so every spelling of a name or identity is handled
once, here. What cannot be normalized is recorded in `problems` so that the rules fail closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paramwatch.cloudtrail import CloudTrailRecord
from paramwatch.identity import Principal, resolve, with_article
from paramwatch.names import HIDDEN, ParameterNameError, canonical_name, owner_of, parameter_arn

SSM_SOURCE = "ssm.amazonaws.com"
KMS_SOURCE = "kms.amazonaws.com"
SSM_READS = frozenset({"GetParameter", "GetParameters", "GetParametersByPath", "GetParameterHistory"})
SSM_SERVICE_CALLERS = frozenset({"AWS Internal", SSM_SOURCE})
PARAMETER_ARN_KEY = "PARAMETER_ARN"
KMS_DECRYPTS = frozenset({"Decrypt", "ReEncrypt"})
"""KMS calls that expose a parameter's plaintext or move it under another key."""
KMS_ENCRYPTS = frozenset(
    {
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    }
)
"""KMS calls that make ciphertext under a caller-given encryption context (every one that takes it):
SSM's own on PutParameter, anyone else's under a parameter's context."""
KMS_CONTEXTS = ("encryptionContext", "sourceEncryptionContext", "destinationEncryptionContext")


@dataclass(frozen=True, slots=True)
class Access:
    """A read of one or more parameters, in the shape the rules judge."""

    event_id: str
    event_name: str
    event_time: datetime | None
    raw_event_time: str
    principal: Principal
    parameters: tuple[str, ...]
    path: str | None
    recursive: bool
    decrypted: bool
    via_ssm: bool
    source_ip: str | None
    vpc_endpoint: str | None
    user_agent: str | None
    error_code: str | None
    region: str | None
    recipient_account: str | None
    problems: tuple[str, ...]
    is_kms: bool = False
    names: tuple[str, ...] = ()
    caller_account: str | None = None
    partition: str = "aws"
    invoked_by: str | None = None
    vpc_endpoint_account: str | None = None
    destination_account: str | None = None

    @property
    def account(self) -> str | None:
        """The account the call was made in: the one whose trail recorded it, else the caller's."""
        return self.recipient_account or self.principal.account

    @property
    def scope(self) -> str:
        """Where a read happened, `ACCOUNT:REGION`, so that the same name elsewhere is another secret.

        The caller's account: a parameter of another account is already named by its ARN, so the
        SSM call and the Decrypt SSM makes for it share one scope wherever each was recorded.
        """
        return f"{self.caller_account or self.recipient_account or ''}:{self.region or ''}"

    @property
    def who(self) -> str | None:
        """The principal as the detections remember it: a service name is a principal per account."""
        arn = self.principal.arn
        if arn is None or arn.startswith("arn:"):
            return arn
        return f"{self.account or ''}:{arn}"

    @property
    def direct_decrypt(self) -> bool:
        """A Decrypt of a parameter's ciphertext that SSM did not make: the caller had it."""
        return self.is_kms and self.event_name == "Decrypt" and not self.via_ssm

    @property
    def direct_kms_use(self) -> bool:
        """Any other KMS call on a parameter's context that SSM did not make (ReEncrypt, Encrypt...)."""
        return self.is_kms and self.event_name != "Decrypt" and not self.via_ssm

    @property
    def key_leaves_account(self) -> bool:
        """A ReEncrypt whose destination key belongs to an account other than the parameters'."""
        if not self.destination_account:
            return False
        owners = {(owner_of(p) or ("", "", self.caller_account))[2] for p in self.parameters}
        return any(owner and owner != self.destination_account for owner in owners)

    def arn_of(self, parameter: str) -> str | None:
        """A parameter's ARN: as given for another account's, built from the call's region and
        account for a name in the caller's own account (None when the record lacks them)."""
        if parameter.startswith("arn:"):
            return parameter
        if not (self.region and self.caller_account):
            return None
        return parameter_arn(parameter, self.partition, self.region, self.caller_account)

    @property
    def cross_account(self) -> bool:
        """True when the caller's account is not the account that owns the trail."""
        account, owner = self.principal.account, self.recipient_account
        return bool(account and owner and account != owner)


def is_relevant(record: dict[str, Any]) -> bool:
    """Cheap test on a raw record: an SSM read or a Decrypt that names a parameter.

    It runs on every record of an archive (through `rules.needs_judging`), so it avoids model
    validation.
    """
    source = record.get("eventSource")
    name = record.get("eventName")
    if source == SSM_SOURCE:
        return name in SSM_READS
    if source == KMS_SOURCE and (name in KMS_DECRYPTS or name in KMS_ENCRYPTS):
        params = record.get("requestParameters")
        if not isinstance(params, dict) or not any(_names_parameter(params.get(key)) for key in KMS_CONTEXTS):
            return False
        return name in KMS_DECRYPTS or not _made_by_ssm(record)
    return False


def _names_parameter(context: Any) -> bool:
    return isinstance(context, dict) and PARAMETER_ARN_KEY in context


def _made_by_ssm(record: dict[str, Any]) -> bool:
    """SSM made the KMS call: `userIdentity.invokedBy`, which AWS sets and no caller can."""
    identity = record.get("userIdentity")
    invoked_by = identity.get("invokedBy") if isinstance(identity, dict) else None
    return isinstance(invoked_by, str) and invoked_by in SSM_SERVICE_CALLERS


def parse_time(raw: str) -> datetime | None:
    """Parse CloudTrail's ISO-8601 `eventTime`; None when it cannot be read."""
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _names(record: CloudTrailRecord, problems: list[str]) -> tuple[list[str], str | None]:
    """Collect the raw names (and the path, for by-path reads) the record asks for."""
    params = record.request_parameters or {}
    if record.event_source == KMS_SOURCE:
        contexts = [params.get(key) for key in KMS_CONTEXTS if isinstance(params.get(key), dict)]
        named = [c.get(PARAMETER_ARN_KEY) for c in contexts if PARAMETER_ARN_KEY in c]
        if not named:
            problems.append("the encryption context is missing")
        return named, None
    if record.event_name == "GetParametersByPath":
        path = params.get("path")
        if not isinstance(path, str) or not path or path == HIDDEN:
            problems.append("the requested path is missing or hidden by CloudTrail")
            return [], None
        if path == "/":
            return [], path
        try:
            return [], canonical_name(path)
        except ParameterNameError as exc:
            problems.append(str(exc))
            return [], None
    if record.event_name == "GetParameters":
        names = params.get("names")
        if not isinstance(names, list) or not names:
            problems.append("the requested names are missing or hidden by CloudTrail")
            return [], None
        return names, None
    name = params.get("name")
    if name is None:
        problems.append("the requested name is missing")
        return [], None
    return [name], None


def _canonical(
    raw_names: list[Any], account: str | None, problems: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(names, parameters): canonical paths, and each parameter as grants see it: its path when it
    belongs to the calling account, its ARN (without selector) when it belongs to another one."""
    names: list[str] = []
    parameters: list[str] = []
    for raw in raw_names:
        if not isinstance(raw, str) or raw == HIDDEN:
            problems.append("a parameter name is hidden by CloudTrail or not text")
            continue
        try:
            name = canonical_name(raw)
        except ParameterNameError as exc:
            problems.append(str(exc))
            continue
        owner = owner_of(raw)
        qualified = name
        if owner and owner[2] != account:
            qualified = parameter_arn(name, *owner)
        if name not in names:
            names.append(name)
        if qualified not in parameters:
            parameters.append(qualified)
    return tuple(names), tuple(parameters)


def _partition(principal_arn: str | None) -> str:
    parts = (principal_arn or "").split(":", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "arn" and parts[1] else "aws"


def _destination_account(record: CloudTrailRecord, account: str | None) -> str | None:
    """The account of a ReEncrypt's destination key: from its ARN, else from `resources` (source
    key first, destination second), else the caller's own account (a bare key ID or alias)."""
    if record.event_name != "ReEncrypt":
        return None
    key = (record.request_parameters or {}).get("destinationKeyId")
    if isinstance(key, str) and key.startswith("arn:") and len(key.split(":")) > 4:
        return key.split(":")[4]
    keys = [r for r in record.resources or () if isinstance(r, dict) and r.get("type") == "AWS::KMS::Key"]
    if len(keys) == 2 and isinstance(keys[1].get("accountId"), str):
        return keys[1]["accountId"]
    return account


def to_access(record: CloudTrailRecord) -> Access:
    """Normalize a validated record into an Access."""
    problems: list[str] = []
    principal = resolve(record.user_identity, record.recipient_account_id)
    account = principal.account or record.recipient_account_id
    raw_names, path = _names(record, problems)
    names, parameters = _canonical(raw_names, account, problems)
    if principal.arn is None:
        problems.append(f"no principal can be derived from {with_article(principal.type)} identity")
    params = record.request_parameters or {}
    is_kms = record.event_source == KMS_SOURCE
    invoked_by = record.user_identity.invoked_by if record.user_identity else None
    via_ssm = is_kms and invoked_by in SSM_SERVICE_CALLERS
    return Access(
        event_id=record.event_id,
        event_name=record.event_name,
        event_time=parse_time(record.event_time),
        raw_event_time=record.event_time,
        principal=principal,
        parameters=parameters,
        path=path,
        recursive=params.get("recursive") is True,
        decrypted=record.event_name in KMS_DECRYPTS if is_kms else params.get("withDecryption") is True,
        via_ssm=via_ssm,
        source_ip=record.source_ip_address,
        vpc_endpoint=record.vpc_endpoint_id,
        user_agent=record.user_agent,
        error_code=record.error_code,
        region=record.aws_region,
        recipient_account=record.recipient_account_id,
        problems=tuple(problems),
        is_kms=is_kms,
        names=names,
        caller_account=account,
        partition=_partition(principal.arn),
        invoked_by=invoked_by,
        vpc_endpoint_account=record.vpc_endpoint_account_id,
        destination_account=_destination_account(record, account),
    )
