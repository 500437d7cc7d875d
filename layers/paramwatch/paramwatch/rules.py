"""The rules: one Access and the allowlist in, zero or one Finding out.

Pure functions in the style of StreamAlert's `@rule`s and c7n's `conditions.evaluate`: no I/O, no
clock, no state, so the same verdict comes out in Lambda, in replay and in tests.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from paramwatch.access import KMS_DECRYPTS, KMS_ENCRYPTS, KMS_SOURCE, SSM_READS, SSM_SOURCE, Access, is_relevant
from paramwatch.allowlist import Allowlist
from paramwatch.cloudtrail import CloudTrailRecord, oversize
from paramwatch.escape import safe
from paramwatch.findings import Finding, Rule, Severity
from paramwatch.identity import with_article
from paramwatch.matching import granted_by, nearest
from paramwatch.names import (
    SECRETS_MANAGER_PREFIX,
    glob_match,
    is_public_parameter,
    is_secrets_manager_reference,
    subtree_may_hold,
)

KMS_USES = KMS_DECRYPTS | KMS_ENCRYPTS
DENIAL_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "KMSInvalidStateException",
        "IncorrectKeyException",
        "InvalidCiphertextException",
    }
)


def touches_honeytoken(access: Access, allowlist: Allowlist) -> bool:
    """Honeytokens are matched by path in any account: a decoy read by ARN is still a decoy."""
    for pattern in allowlist.honeytokens:
        if any(glob_match(pattern, name) for name in access.names):
            return True
        if access.path and subtree_may_hold(pattern, access.path, recursive=access.recursive):
            return True
    return False


def needs_judging(record: dict[str, Any], allowlist: Allowlist) -> bool:
    """Cheap pre-filter on a raw record: exactly what the template's rules would deliver.

    A read that may expose plaintext (SSM with decryption, a Decrypt naming a parameter), or an
    undecrypted SSM read that HoneytokenReadRule delivers. Replay runs this on every record of an
    archive, before any model validation, so that it judges what production judges.
    """
    if not is_relevant(record):
        return False
    params = record.get("requestParameters")
    if record.get("eventSource") != SSM_SOURCE or not isinstance(params, dict):
        return True  # a KMS use of a parameter's context: is_relevant already mirrors the rule
    if params.get("withDecryption") is True:
        return True
    return any(_honeytoken_rule_delivers(params, prefix) for prefix in _rule_prefixes(allowlist))


def could_need(source: str, name: str, params: bytes, decoys: tuple[bytes, ...]) -> bool:
    """`needs_judging` decided from the raw JSON bytes of requestParameters, before decoding them.

    False only where `needs_judging` must be False: a KMS call whose parameters never spell the
    `PARAMETER_ARN` key; an SSM read that never spells `withDecryption` and, when HoneytokenReadRule
    has prefixes (`decoys`, from `decoy_bytes`), neither spells `path` nor holds any prefix's bytes
    (a name or ARN that starts with or holds a prefix must spell it). JSON may spell any key or
    name with escapes (`\\u0050ARAMETER_ARN`), so bytes holding a backslash always go on to the
    full test, as do parameters that are not an object.
    """
    if source == KMS_SOURCE:
        return name in KMS_USES and (b'"PARAMETER_ARN"' in params or b"\\" in params)
    if source != SSM_SOURCE or name not in SSM_READS:
        return False
    if b'"withDecryption"' in params or b"\\" in params or not params.lstrip().startswith(b"{"):
        return True
    if not decoys:
        return False
    return b'"path"' in params or any(prefix in params for prefix in decoys)


def decoy_bytes(allowlist: Allowlist) -> tuple[bytes, ...]:
    """The HoneytokenPrefix of each template-shaped honeytoken, as UTF-8, for `could_need`."""
    return tuple(prefix.encode() for prefix in _rule_prefixes(allowlist))


def _rule_prefixes(allowlist: Allowlist) -> list[str]:
    """The HoneytokenPrefix behind each honeytoken glob the template writes (`/decoy/*` from `/decoy/`).

    Other globs, added to the stored allowlist by hand, match only decrypted reads in production.
    """
    return [
        p[:-1] for p in allowlist.honeytokens if p.startswith("/") and p.endswith("/*") and not set(p[:-1]) & set("*?")
    ]


def _honeytoken_rule_delivers(params: dict[str, Any], prefix: str) -> bool:
    """HoneytokenReadRule's pattern: a name (or ARN) with the prefix, or a path that starts with it
    or is one of its first ancestors ("/", "/a", "/a/b", with or without a trailing slash)."""
    names = params.get("names") if isinstance(params.get("names"), list) else [params.get("name")]
    arn = re.compile("arn:.*:parameter" + re.escape(prefix) + ".*", re.S)
    if any(isinstance(n, str) and (n.startswith(prefix) or arn.fullmatch(n)) for n in names):
        return True
    path = params.get("path")
    if not isinstance(path, str):
        return False
    parts = prefix.strip("/").split("/")
    ancestors = {"/"} | {"/" + "/".join(parts[:i]) + end for i in (1, 2) for end in ("", "/")}
    return path.startswith(prefix.rstrip("/")) or path in ancestors


def reads_only_public(access: Access) -> bool:
    """True when an SSM read asks only for AWS public parameters (by name, ARN or path)."""
    if access.is_kms or access.problems:
        return False
    if access.path is not None:
        return is_public_parameter(access.path.rstrip("/"))
    return bool(access.names) and all(is_public_parameter(n) for n in access.names)


def _what(access: Access) -> str:
    if access.path is not None:
        scope = "recursively " if access.recursive else ""
        return f"everything {scope}under path {safe(access.path)}"
    names = ", ".join(_named(n) for n in access.parameters[:5])
    more = f" and {len(access.parameters) - 5} more" if len(access.parameters) > 5 else ""
    return f"{len(access.parameters)} parameter(s): {names}{more}"


def _named(name: str) -> str:
    """A parameter name for a sentence, saying when it is really a Secrets Manager secret."""
    if is_secrets_manager_reference(name):
        return f"{safe(name, 160)} (Secrets Manager secret {safe(name[len(SECRETS_MANAGER_PREFIX) :], 120)})"
    return safe(name, 160)


def summary_for(access: Access, rule: Rule, extra: str) -> str:
    """The one-sentence, escaped account of a finding about `access`; `extra` must be escaped."""
    who = safe(access.principal.arn or "an unknown principal")
    how = f"KMS {safe(access.event_name)}" if access.is_kms else f"SSM {safe(access.event_name)}"
    how += " (made by SSM)" if access.via_ssm else ""
    where = safe(access.source_ip or "an unknown address")
    if access.vpc_endpoint:
        where += f" via {safe(access.vpc_endpoint)}"
    verb = "tried to read" if access.error_code else "read"
    return f"[{rule}] {safe(access.principal.type)} {who} {verb} {_what(access)} with {how} from {where}. {extra}"


def finding_for(access: Access, rule: Rule, severity: Severity, summary: str) -> Finding:
    """A finding about one access; `summary` must already be escaped."""
    return Finding(
        event_id=access.event_id,
        rule=rule,
        severity=severity,
        principal=access.principal.arn,
        parameters=access.parameters if access.path is None else (access.path,),
        event_time=access.event_time.isoformat() if access.event_time else access.raw_event_time,
        source_ip=access.source_ip,
        summary=summary,
        event_name=access.event_name,
        identity_type=access.principal.type,
        user_agent=access.user_agent,
        vpc_endpoint=access.vpc_endpoint,
        region=access.region,
        error_code=access.error_code,
        problems=access.problems,
        session_name=access.principal.session,
        sso_user=access.principal.sso_user,
        account=access.account,
    )


def _finding(access: Access, rule: Rule, severity: Severity, extra: str) -> Finding:
    return finding_for(access, rule, severity, summary_for(access, rule, extra))


def _unauthorized(access: Access, allowlist: Allowlist, severity: Severity, extra: str) -> Finding:
    """An unauthorized read, saying which grant came nearest to allowing it and what it lacked."""
    near = nearest(access, allowlist)
    why = near.text[:1].lower() + near.text[1:]
    finding = _finding(access, Rule.UNAUTHORIZED, severity, f"No grant allows it{extra}: {why}")
    return replace(finding, near_miss=near)


def evaluate(access: Access, allowlist: Allowlist) -> Finding | None:
    """Judge one normalized access. Order matters: the most severe reason wins."""
    if touches_honeytoken(access, allowlist):
        return _finding(access, Rule.HONEYTOKEN, Severity.CRITICAL, "This is a honeytoken.")
    if access.direct_kms_use:
        return _kms_use(access)
    if not access.decrypted:
        return None
    if reads_only_public(access) and not allowlist.judge_public_parameters:
        return None
    if access.problems:
        reason = "; ".join(safe(p, 200) for p in access.problems)
        return _finding(access, Rule.UNJUDGEABLE, Severity.HIGH, f"Cannot judge: {reason}.")
    if access.principal.root:
        kind = with_article(safe(access.principal.type))
        disguise = "" if access.principal.type == "Root" else f" through {kind} identity"
        return _finding(access, Rule.ROOT, Severity.HIGH, f"The root user should never read secrets{disguise}.")
    if access.direct_decrypt:
        return _finding(
            access,
            Rule.DIRECT_DECRYPT,
            Severity.HIGH,
            "SSM did not make this Decrypt: the caller held the parameter's ciphertext.",
        )
    grant, time_unknown = granted_by(access, allowlist)
    if access.error_code:
        if grant is not None and access.error_code not in DENIAL_CODES:
            return None
        return _finding(access, Rule.DENIED, Severity.LOW, f"The call failed with {safe(access.error_code)}.")
    if grant is not None:
        return None
    if time_unknown:
        return _finding(
            access,
            Rule.UNJUDGEABLE,
            Severity.HIGH,
            "Cannot judge: eventTime is unreadable and a matching grant has hours.",
        )
    if access.cross_account:
        return _unauthorized(access, allowlist, Severity.HIGH, " (the caller is in another account)")
    return _unauthorized(access, allowlist, Severity.MEDIUM, "")


def _kms_use(access: Access) -> Finding:
    """A KMS call other than Decrypt on a parameter's encryption context that SSM did not make."""
    if access.key_leaves_account:
        return _finding(access, Rule.DIRECT_KMS_USE, Severity.CRITICAL, kms_use_extra(access.destination_account))
    return _finding(access, Rule.DIRECT_KMS_USE, Severity.HIGH, kms_use_extra(None))


def kms_use_extra(foreign_account: str | None) -> str:
    """The escaped reason of a direct-kms-use finding; `foreign_account` when the key leaves."""
    if foreign_account:
        return (
            f"SSM did not make this call, and the destination key belongs to account "
            f"{safe(foreign_account)}: the secret now sits under a key another account controls."
        )
    return "SSM did not make this call: the caller used the parameter's ciphertext or context directly."


def invalid_event(event_id: str, reason: str) -> Finding:
    """A finding for an event that could not be read at all: it must not vanish."""
    return Finding(
        event_id=event_id,
        rule=Rule.INVALID_EVENT,
        severity=Severity.MEDIUM,
        principal=None,
        parameters=(),
        event_time=None,
        source_ip=None,
        summary=f"[{Rule.INVALID_EVENT}] An event could not be evaluated: {safe(reason, 300)}",
        problems=(reason,),
    )


def _event_id_of(record: Any) -> str:
    event_id = record.get("eventID") if isinstance(record, dict) else None
    return event_id if isinstance(event_id, str) and event_id else "unknown"


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "record"
    return f"{exc.error_count()} invalid field(s), first {where}: {first['msg']}"


def parse_record(record: Any) -> CloudTrailRecord | Finding:
    """Validate a raw record; a record that cannot be read becomes an `invalid-event` finding."""
    if not isinstance(record, dict):
        kind = type(record).__name__
        return invalid_event("unknown", f"a record must be a JSON object, got {kind}")
    too_big = oversize(record)
    if too_big:
        return invalid_event(_event_id_of(record), too_big)
    try:
        return CloudTrailRecord.model_validate(record)
    except ValidationError as exc:
        return invalid_event(_event_id_of(record), _describe(exc))
