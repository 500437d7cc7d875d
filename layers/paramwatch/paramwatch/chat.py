"""Alerts for Slack and Microsoft Teams, through Amazon Q Developer in chat applications.

Amazon Q Developer drops plain-text SNS messages; it renders only its own notifications and the
custom-notification schema (`version` "1.0", `source` "custom", `content` with title,
description and next steps). Every value that came from CloudTrail is escaped (`escape.safe`) and
then set in an inline code span, where neither Slack nor Teams renders markup, links or mentions:
a parameter named `*urgent* <!channel> http://evil` shows as that literal text, nothing more.
Repeats of one finding for one principal and parameter share a `threadId`, so they thread.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from paramwatch.escape import safe
from paramwatch.findings import Finding, Rule

SHOWN_PARAMETERS = 20
_ACCOUNT = re.compile(r"\d{12}")
_ARN = re.compile(r"arn:aws[a-z\-]*:[a-z0-9\-]+:[a-z0-9\-]*:\d{0,12}:[A-Za-z0-9_+=,.@\-/:]+")
_DESCRIPTION_LIMIT = 3500
_PARAMETERS_LIMIT = 1500
_WHOLE_PRINCIPAL_RULES = frozenset({Rule.BULK, Rule.DENIED_BURST})


def code(value: object, limit: int = 300) -> str:
    """An attacker-controlled value as an inline code span: escaped, so it cannot close the span."""
    return f"`{safe(value, limit)}`"


def thread_id(finding: Finding) -> str:
    """One thread per principal and parameter (per principal for bursts), stable across repeats."""
    what = "*" if finding.rule in _WHOLE_PRINCIPAL_RULES or not finding.parameters else finding.parameters[0]
    digest = hashlib.sha256(f"{finding.principal}\n{what}".encode(errors="surrogatepass")).hexdigest()[:32]
    return f"paramwatch-{digest}"


def _account(finding: Finding) -> str:
    account = code(finding.account or "unknown account", 40)
    if finding.account_name:
        account += f" ({code(finding.account_name, 128)})"
    return f"{account}, {code(finding.region or 'unknown region', 40)}"


def _parameters(finding: Finding) -> str:
    """The first names (20 at most, and no more than fit in 1,500 characters), then "and N more"."""
    if not finding.parameters:
        return "(none named)"
    shown: list[str] = []
    for name in finding.parameters[:SHOWN_PARAMETERS]:
        span = code(name, 200)
        if shown and sum(len(s) + 2 for s in shown) + len(span) > _PARAMETERS_LIMIT:
            break
        shown.append(span)
    more = max(finding.parameter_count or 0, len(finding.parameters)) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _ssm_call(finding: Finding) -> list[str]:
    caller = finding.ssm_caller
    if caller is None:
        return []
    via = f" via {code(caller.vpc_endpoint, 64)}" if caller.vpc_endpoint else ""
    return [
        f"*SSM call:* from {code(caller.source_ip or 'unknown', 64)}{via}, user agent "
        f"{code(caller.user_agent or 'unknown')}, event {code(caller.event_id, 128)}"
    ]


def _description(finding: Finding, notes: Iterable[str]) -> str:
    lines = [f"*Who:* {code(finding.principal or 'unknown')} ({code(finding.identity_type or '?', 40)})"]
    if finding.sso_user:
        lines.append(f"*Person:* {code(finding.sso_user, 200)} (IAM Identity Center user)")
    elif finding.session_name:
        lines.append(f"*Session:* {code(finding.session_name, 200)}")
    lines += [
        f"*Where:* account {_account(finding)}",
        f"*What:* {code(finding.event_name or '?', 60)} of {_parameters(finding)}",
        f"*From:* {code(finding.source_ip or 'unknown', 64)}"
        + (f" via {code(finding.vpc_endpoint, 64)}" if finding.vpc_endpoint else ""),
        f"*User agent:* {code(finding.user_agent or 'unknown')}",
        *_ssm_call(finding),
        f"*When:* {code(finding.event_time or 'unknown', 40)}",
    ]
    if finding.error_code:
        lines.append(f"*Error:* {code(finding.error_code, 80)}")
    near = finding.near_miss
    if near is not None and near.grant is None:
        lines.append("*Why:* no grant names this principal")
    elif near is not None:
        owner = f" (owner {code(near.owner, 120)})" if near.owner else ""
        lines.append(
            f"*Why:* nearest grant {code(near.grant, 128)}{owner} fails on {code(near.condition, 20)}; "
            f"observed {code(near.observed or 'nothing')}"
        )
    lines += [f"*Note:* {code(note, 400)}" for note in notes]
    text = "\n".join(lines)
    return text if len(text) <= _DESCRIPTION_LIMIT else text[:_DESCRIPTION_LIMIT].rsplit("\n", 1)[0]


def notification(finding: Finding, notes: Iterable[str] = ()) -> dict[str, Any]:
    """The custom notification for one finding, as Amazon Q Developer expects it on SNS."""
    severity = str(finding.severity).upper()
    account = finding.account if finding.account and _ACCOUNT.fullmatch(finding.account) else None
    title = f"paramwatch {severity} {finding.rule}"
    if account:
        title += f" in account {account}"
    context = {"event_id": safe(finding.event_id, 128), "rule": str(finding.rule), "severity": str(finding.severity)}
    if account:
        context["account"] = account
    return {
        "version": "1.0",
        "source": "custom",
        "id": safe(finding.event_id, 128),
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": _description(finding, notes),
            "nextSteps": [finding.next_step, f"Find the call in CloudTrail by event ID {code(finding.event_id, 128)}."],
            "keywords": [str(finding.severity), str(finding.rule), *([account] if account else [])],
        },
        "metadata": {
            "threadId": thread_id(finding),
            "summary": title,
            "eventType": str(finding.rule),
            "relatedResources": [finding.principal] if finding.principal and _ARN.fullmatch(finding.principal) else [],
            "additionalContext": context,
        },
    }
