"""Findings in the AWS Security Finding Format, for Security Hub's `BatchImportFindings`.

Security Hub accepts a finding under the account's default product ARN only from that account:
`ProductArn` is `arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default` and `AwsAccountId`
must be the caller's account. In organization mode the evaluator runs in the security account,
so findings about a member account are filed under the security account and name the member
account in `Resources` (an `AwsAccount` resource) and in `ProductFields`. moto accepts ASFF that
Security Hub refuses, so `problems()` checks these rules itself, before anything is sent.

`Id` is stable per incident (rule, account, principal, parameter), so a repeat in a later window
updates the finding Security Hub already holds instead of adding one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paramwatch.escape import safe
from paramwatch.findings import Finding, Rule, Severity

SCHEMA_VERSION = "2018-10-08"
MAX_RESOURCES = 32
LABELS = {Severity.LOW: "LOW", Severity.MEDIUM: "MEDIUM", Severity.HIGH: "HIGH", Severity.CRITICAL: "CRITICAL"}
_NORMALIZED = {"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 40, "HIGH": 70, "CRITICAL": 90}
_TYPES: dict[Rule, list[str]] = {
    Rule.HONEYTOKEN: ["TTPs/Credential Access", "Unusual Behaviors/User"],
    Rule.ROOT: ["TTPs/Credential Access", "Unusual Behaviors/User"],
    Rule.DIRECT_DECRYPT: ["TTPs/Credential Access", "TTPs/Defense Evasion"],
    Rule.UNAUTHORIZED: ["TTPs/Credential Access", "Unusual Behaviors/User"],
    Rule.BULK: ["TTPs/Collection", "TTPs/Credential Access"],
    Rule.FIRST_SEEN: ["Unusual Behaviors/User"],
    Rule.DENIED: ["TTPs/Discovery"],
    Rule.DENIED_BURST: ["TTPs/Discovery"],
}
_CHECKS = ["Software and Configuration Checks"]
_WHOLE_PRINCIPAL_RULES = frozenset({Rule.BULK, Rule.DENIED_BURST})
_ACCOUNT = re.compile(r"\d{12}")
_PRODUCT_ARN = re.compile(r"arn:(aws[a-z\-]*):securityhub:([a-z0-9\-]+):(\d{12}):product/(\d{12})/default")
_TYPE = re.compile(
    r"(Software and Configuration Checks|TTPs|Effects|Unusual Behaviors|Sensitive Data Identifications)(/[^/]+){0,2}"
)
_REQUIRED = (
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "Types",
    "CreatedAt",
    "UpdatedAt",
    "Severity",
    "Title",
    "Description",
    "Resources",
)


def product_arn(partition: str, region: str, account: str) -> str:
    """The default product ARN of an account: the one its own findings are imported under."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def incident_id(finding: Finding) -> str:
    """The same Id for every page of one incident: rule, account, principal and parameter."""
    unit = "*" if finding.rule in _WHOLE_PRINCIPAL_RULES or not finding.parameters else finding.parameters[0]
    digest = hashlib.sha256(
        f"{finding.account}\n{finding.principal}\n{unit}".encode(errors="surrogatepass")
    ).hexdigest()[:40]
    return f"paramwatch/{finding.rule}/{digest}"


def _principal_type(arn: str) -> str:
    resource = arn.split(":", 5)[-1]
    if resource.startswith("role/"):
        return "AwsIamRole"
    if resource.startswith("user/"):
        return "AwsIamUser"
    return "Other"


def _resources(finding: Finding, partition: str, region: str, filer: str) -> list[dict[str, Any]]:
    account = finding.account if finding.account and _ACCOUNT.fullmatch(finding.account) else filer
    out: list[dict[str, Any]] = []
    if finding.principal:
        out.append({"Type": _principal_type(finding.principal), "Id": safe(finding.principal, 500)})
    if account != filer:
        out.append({"Type": "AwsAccount", "Id": f"AWS::::Account:{account}"})
    region = finding.region or region
    for name in finding.parameters[: MAX_RESOURCES - len(out)]:
        arn = f"arn:{partition}:ssm:{region}:{account}:parameter{name if name.startswith('/') else '/' + name}"
        out.append({"Type": "Other", "Id": safe(arn, 500), "Region": safe(region, 40)})
    if not out:
        out.append({"Type": "AwsAccount", "Id": f"AWS::::Account:{account}"})
    for resource in out:
        resource.setdefault("Partition", partition)
        resource.setdefault("Region", safe(region, 40))
    return out


def _fields(finding: Finding) -> dict[str, str]:
    fields = {
        "paramwatch/rule": str(finding.rule),
        "paramwatch/event_id": finding.event_id,
        "paramwatch/account": finding.account,
        "paramwatch/account_name": finding.account_name,
        "paramwatch/region": finding.region,
        "paramwatch/event_name": finding.event_name,
        "paramwatch/session_name": finding.session_name,
        "paramwatch/sso_user": finding.sso_user,
        "paramwatch/source_ip": finding.source_ip,
        "paramwatch/user_agent": finding.user_agent,
        "paramwatch/parameter_count": str(max(finding.parameter_count or 0, len(finding.parameters))),
        "paramwatch/ssm_source_ip": finding.ssm_caller.source_ip if finding.ssm_caller else None,
        "paramwatch/ssm_user_agent": finding.ssm_caller.user_agent if finding.ssm_caller else None,
        "paramwatch/ssm_event_id": finding.ssm_caller.event_id if finding.ssm_caller else None,
        "paramwatch/near_miss": finding.near_miss.text if finding.near_miss else None,
    }
    return {key: safe(value, 2000) for key, value in fields.items() if value}


def _action(finding: Finding) -> dict[str, Any] | None:
    source = finding.ssm_caller.source_ip if finding.ssm_caller else finding.source_ip
    try:
        address = ipaddress.ip_address(source or "")
    except ValueError:
        return None
    if address.version != 4 or not finding.event_name:
        return None
    return {
        "ActionType": "AWS_API_CALL",
        "AwsApiCallAction": {
            "Api": safe(finding.event_name, 100),
            "ServiceName": "kms.amazonaws.com" if finding.event_name == "Decrypt" else "ssm.amazonaws.com",
            "CallerType": "remoteIp",
            "RemoteIpDetails": {"IpAddressV4": str(address)},
        },
    }


@dataclass(frozen=True, slots=True)
class Incident:
    """What the first page of an incident recorded: when it was filed and first observed, and
    how many pages it has had, so that an update keeps `CreatedAt` and counts repeats."""

    created_at: str
    first_observed: str
    count: int = 1


def observed_at(finding: Finding, default: str) -> str:
    """The finding's event time when it is a usable timestamp, else `default`."""
    return finding.event_time if _timestamp(finding.event_time) else default


def to_asff(
    finding: Finding, *, partition: str, region: str, filer: str, incident: Incident, now: str
) -> dict[str, Any]:
    """One ASFF finding, filed by account `filer` (the account that calls BatchImportFindings)."""
    label = LABELS[finding.severity]
    title = f"paramwatch {label} {finding.rule}: {finding.principal or 'unknown principal'}"
    record: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": incident_id(finding),
        "ProductArn": product_arn(partition, region, filer),
        "GeneratorId": f"paramwatch/{finding.rule}",
        "AwsAccountId": filer,
        "Types": _TYPES.get(finding.rule, _CHECKS),
        "FirstObservedAt": incident.first_observed,
        "LastObservedAt": observed_at(finding, now),
        "CreatedAt": incident.created_at,
        "UpdatedAt": now,
        "Severity": {"Label": label, "Normalized": _NORMALIZED[label], "Original": str(finding.severity)},
        "Title": safe(title, 240)[:256],
        "Description": finding.summary[:1024],
        "Remediation": {"Recommendation": {"Text": finding.next_step[:512]}},
        "ProductFields": {**_fields(finding), "paramwatch/pages": str(incident.count)},
        "Resources": _resources(finding, partition, region, filer),
        "Region": region,
        "RecordState": "ACTIVE",
        "Workflow": {"Status": "NEW"},
    }
    action = _action(finding)
    if action:
        record["Action"] = action
    return record


def _timestamp(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def problems(record: dict[str, Any], caller: str) -> list[str]:
    """What Security Hub would refuse in `record` when `caller` imports it; empty when none."""
    out = [f"{key} is missing" for key in _REQUIRED if not record.get(key)]
    match = _PRODUCT_ARN.fullmatch(str(record.get("ProductArn", "")))
    if not match:
        out.append(
            "ProductArn is not a default product ARN (arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default)"
        )
    elif not (match.group(3) == match.group(4) == caller):
        out.append(f"ProductArn belongs to account {match.group(4)}, not to the caller {caller}")
    if record.get("AwsAccountId") != caller:
        out.append(
            f"AwsAccountId {record.get('AwsAccountId')} is not the caller {caller}: "
            "the default product accepts only the caller's own findings"
        )
    if not 1 <= len(str(record.get("Id", ""))) <= 512:
        out.append("Id must be 1 to 512 characters")
    if len(str(record.get("Title", ""))) > 256 or len(str(record.get("Description", ""))) > 1024:
        out.append("Title is longer than 256 or Description longer than 1024 characters")
    label = (record.get("Severity") or {}).get("Label")
    if label not in _NORMALIZED:
        out.append(f"Severity.Label {label!r} is not one of {', '.join(_NORMALIZED)}")
    types = record.get("Types") or []
    if not 1 <= len(types) <= 50 or not all(_TYPE.fullmatch(t) for t in types):
        out.append(f"Types {types!r} are not namespace/category/classifier values")
    resources = record.get("Resources") or []
    if not 1 <= len(resources) <= MAX_RESOURCES:
        out.append(f"Resources must hold 1 to {MAX_RESOURCES} resources, not {len(resources)}")
    if not all(r.get("Type") and r.get("Id") for r in resources):
        out.append("every resource needs a Type and an Id")
    for key in ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"):
        if key in record and not _timestamp(record[key]):
            out.append(f"{key} {record[key]!r} is not an ISO 8601 timestamp with a time zone")
    fields = record.get("ProductFields") or {}
    if len(fields) > 50 or any(len(k) > 128 or len(v) > 2048 for k, v in fields.items()):
        out.append("ProductFields holds more than 50 entries or an entry too long")
    return out
