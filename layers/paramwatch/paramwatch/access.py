"""Normalized accesses: one CloudTrail record turned into what was read, by whom, from where.

Rules judge an `Access`, never a raw record, so every spelling of a name or identity is handled
once, here. What cannot be normalized is recorded in `problems` so that the rules fail closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paramwatch.cloudtrail import CloudTrailRecord
from paramwatch.identity import Principal, resolve
from paramwatch.names import HIDDEN, ParameterNameError, canonical_name

SSM_SOURCE = "ssm.amazonaws.com"
KMS_SOURCE = "kms.amazonaws.com"
SSM_READS = frozenset({"GetParameter", "GetParameters", "GetParametersByPath", "GetParameterHistory"})
SSM_SERVICE_CALLERS = frozenset({"AWS Internal", SSM_SOURCE})
PARAMETER_ARN_KEY = "PARAMETER_ARN"


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
    owner: str | None = None

    @property
    def account(self) -> str | None:
        """The account the call was made in: the one whose trail recorded it, else the caller's."""
        return self.recipient_account or self.principal.account

    @property
    def scope(self) -> str:
        """Where the parameters read live, `ACCOUNT:REGION`: the same name elsewhere is another secret.

        The owner is taken from a parameter ARN when the call named one (cross-account reads must),
        else it is the caller's own account; so the SSM call and the Decrypt SSM makes for it, which
        may be recorded in different accounts, share one scope.
        """
        return f"{self.owner or self.principal.account or self.recipient_account or ''}:{self.region or ''}"

    @property
    def who(self) -> str | None:
        """The principal as the detections remember it: a service name is a principal per account."""
        arn = self.principal.arn
        if arn is None or arn.startswith("arn:"):
            return arn
        return f"{self.account or ''}:{arn}"

    @property
    def is_kms(self) -> bool:
        """True for the KMS `Decrypt` side of a read."""
        return self.event_name == "Decrypt"

    @property
    def direct_decrypt(self) -> bool:
        """A Decrypt of a parameter's ciphertext that SSM did not make: the caller had it."""
        return self.is_kms and not self.via_ssm

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
    if source == KMS_SOURCE and name == "Decrypt":
        params = record.get("requestParameters")
        context = params.get("encryptionContext") if isinstance(params, dict) else None
        return isinstance(context, dict) and PARAMETER_ARN_KEY in context
    return False


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
    if record.event_name == "Decrypt":
        context = params.get("encryptionContext")
        if not isinstance(context, dict):
            problems.append("the encryption context is missing")
            return [], None
        return [context.get(PARAMETER_ARN_KEY)], None
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


def _canonical(raw_names: list[Any], problems: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for raw in raw_names:
        if not isinstance(raw, str) or raw == HIDDEN:
            problems.append("a parameter name is hidden by CloudTrail or not text")
            continue
        try:
            name = canonical_name(raw)
        except ParameterNameError as exc:
            problems.append(str(exc))
            continue
        if name not in out:
            out.append(name)
    return tuple(out)


def to_access(record: CloudTrailRecord) -> Access:
    """Normalize a validated record into an Access."""
    problems: list[str] = []
    raw_names, path = _names(record, problems)
    parameters = _canonical(raw_names, problems)
    principal = resolve(record.user_identity)
    if principal.arn is None:
        problems.append(f"no principal can be derived from a {principal.type} identity")
    params = record.request_parameters or {}
    is_kms = record.event_name == "Decrypt"
    invoked_by = record.user_identity.invoked_by if record.user_identity else None
    via_ssm = is_kms and (invoked_by in SSM_SERVICE_CALLERS or record.source_ip_address in SSM_SERVICE_CALLERS)
    return Access(
        event_id=record.event_id,
        event_name=record.event_name,
        event_time=parse_time(record.event_time),
        raw_event_time=record.event_time,
        principal=principal,
        parameters=parameters,
        path=path,
        recursive=params.get("recursive") is True,
        decrypted=is_kms or params.get("withDecryption") is True,
        via_ssm=via_ssm,
        source_ip=record.source_ip_address,
        vpc_endpoint=record.vpc_endpoint_id,
        user_agent=record.user_agent,
        error_code=record.error_code,
        region=record.aws_region,
        recipient_account=record.recipient_account_id,
        problems=tuple(problems),
        owner=_owner(raw_names),
    )


def _owner(raw_names: list[Any]) -> str | None:
    """The account of the first parameter named by ARN (`arn:aws:ssm:REGION:ACCOUNT:parameter/...`)."""
    for raw in raw_names:
        if isinstance(raw, str) and raw.startswith("arn:"):
            parts = raw.split(":", 5)
            if len(parts) == 6 and parts[4]:
                return parts[4]
    return None
