"""Turning findings into text for people: SNS alerts, replay tables and JSON lines.

Every attacker-controlled value goes through `escape.safe` here; the JSON appendix is HTML-safe
JSON, so a mail or chat client cannot mistake any part of an alert for markup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from paramwatch.escape import ascii_line, safe
from paramwatch.findings import Finding, Rule

if TYPE_CHECKING:
    from paramwatch.detector import Verdict

SUBJECT_LIMIT = 99
_MARKUP_IN_STRINGS = {ord(c): f"\\u{ord(c):04x}" for c in "<>&`*~|[]"}
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')


def _safe_json(data: dict[str, object]) -> str:
    """JSON whose string values hold no markup character: `<>&*~|[]` and backticks become `\\uXXXX`
    inside strings (the brackets outside strings are JSON's own), so the line decodes to the same
    values but no mail, HTML or chat client renders any of it."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return _STRING_LITERAL.sub(lambda m: m.group(0).translate(_MARKUP_IN_STRINGS), text)


APPENDIX_FIELD_LIMIT = 4096


def bounded(value: object) -> object:
    """Strings cut to APPENDIX_FIELD_LIMIT characters: CloudTrail fields have no length limit, and an
    SNS message does (256 KB), so one huge field must not make the alert unpublishable."""
    if isinstance(value, str) and len(value) > APPENDIX_FIELD_LIMIT:
        return value[:APPENDIX_FIELD_LIMIT] + "...(cut)"
    if isinstance(value, list):
        return [bounded(v) for v in value]
    if isinstance(value, dict):
        return {key: bounded(v) for key, v in value.items()}
    return value


def finding_json(finding: Finding) -> str:
    """One-line JSON with non-ASCII, control characters and markup characters escaped, and no
    field longer than APPENDIX_FIELD_LIMIT characters."""
    return _safe_json(bounded(finding.to_dict()))


def verdict_json(verdict: Verdict) -> str:
    """A finding with `paged`, `reason`, `held_back` and `notes`, as one markup-safe JSON line."""
    return _safe_json(verdict.to_dict())


def safe_dict(finding: Finding) -> dict[str, object]:
    """The finding with every string escaped, for structured log lines (the summary already is)."""

    def clean(value: object) -> object:
        if isinstance(value, str):
            return safe(value, 1024)
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):  # near_miss holds the observed value, raw
            return {key: clean(v) for key, v in value.items()}
        return value

    data = {key: clean(value) for key, value in finding.to_dict().items()}
    data["summary"] = finding.summary
    return data


def subject(finding: Finding) -> str:
    """An SNS subject: printable ASCII, under 100 characters, severity and rule first.

    The principal and the parameter come from CloudTrail, so they are escaped like the body:
    a subject is shown raw by mail clients and rendered as markdown by chat integrations.
    """
    if finding.rule is Rule.ALLOWLIST_INVALID:
        return ascii_line(f"paramwatch HIGH {finding.rule}: {safe(' '.join(finding.parameters))}", SUBJECT_LIMIT)
    who = safe((finding.principal or "unknown").rsplit("/", 1)[-1].rsplit(":", 1)[-1], 60)
    what = safe(_short(finding.parameters[0]), 80) if finding.parameters else ""
    total = max(finding.parameter_count or 0, len(finding.parameters))
    more = f" +{total - 1}" if total > 1 else ""
    text = f"paramwatch {str(finding.severity).upper()} {finding.rule}: {who} {what}{more}"
    return ascii_line(text, SUBJECT_LIMIT)


def _short(parameter: str) -> str:
    """Another account's parameter (an ARN) as ACCOUNT:PATH, so a short subject keeps both."""
    parts = parameter.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[5].startswith("parameter/"):
        return f"{parts[4]}:{parts[5][len('parameter') :]}"
    return parameter


def _who(finding: Finding) -> list[str]:
    lines = [f"Who:        {safe(finding.principal or 'unknown')} ({safe(finding.identity_type or '?')})"]
    if finding.sso_user:
        lines.append(f"Person:     {safe(finding.sso_user, 200)} (IAM Identity Center user)")
    elif finding.session_name:
        lines.append(f"Session:    {safe(finding.session_name, 200)}")
    return lines


def _ssm_call(finding: Finding) -> list[str]:
    """For a finding raised on a Decrypt SSM made: the SSM call behind it, whose source is real."""
    caller = finding.ssm_caller
    if caller is None:
        return []
    via = f" via {safe(caller.vpc_endpoint)}" if caller.vpc_endpoint else ""
    return [
        f"SSM call:   from {safe(caller.source_ip or 'unknown')}{via}, event {safe(caller.event_id)}",
        f"            user agent {safe(caller.user_agent or 'unknown', 300)}",
    ]


def body(finding: Finding, notes: Iterable[str] = ()) -> str:
    """A plain-text alert a person can act on, with the structured finding appended as JSON."""
    if finding.rule is Rule.ALLOWLIST_INVALID:
        return _allowlist_body(finding)
    params = "\n".join(f"    - {safe(p)}" for p in finding.parameters) or "    (none named)"
    unlisted = (finding.parameter_count or 0) - len(finding.parameters)
    if finding.parameter_count:
        params += f"\n    ({finding.parameter_count} distinct parameters in the window"
        params += f"; {unlisted} more not listed)" if unlisted > 0 else ")"
    lines = [
        f"Severity:   {str(finding.severity).upper()}",
        f"Rule:       {finding.rule}",
        *_who(finding),
        f"What:       {safe(finding.event_name or '?')} of",
        params,
        f"From:       {safe(finding.source_ip or 'unknown')}"
        + (f" via {safe(finding.vpc_endpoint)}" if finding.vpc_endpoint else ""),
        *_ssm_call(finding),
        f"When:       {safe(finding.event_time or 'unknown')}",
        f"Where:      account {safe(finding.where)}",
        f"User agent: {safe(finding.user_agent or 'unknown', 300)}",
        f"Event ID:   {safe(finding.event_id)}",
    ]
    if finding.error_code:
        lines.append(f"Error:      {safe(finding.error_code)}")
    if finding.near_miss is not None:
        lines.append(f"Why:        {finding.near_miss.text}")
    lines += ["", finding.summary]
    lines += [f"Note: {note}" for note in notes]
    lines += [
        "",
        f"What to do: {finding.next_step}",
        "",
        "Finding (JSON):",
        finding_json(finding),
    ]
    return "\n".join(lines)


def readable(text: str, limit: int = 300) -> str:
    """Printable ASCII kept as it is, anything else shown as `?`: safe in a mail without escapes."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def _allowlist_body(finding: Finding) -> str:
    """The alert for a stored allowlist that does not validate, written for whoever fixes it."""
    name = readable(" ".join(finding.parameters))
    lines = [line.rstrip() for problem in finding.problems for line in problem.splitlines()]
    problems = [readable(line) for line in lines if line.strip()]
    shown = [f"  - {line}" if not line.startswith(" ") else f"    {line.strip()}" for line in problems[:40]]
    if len(problems) > 40:
        shown.append(f"  ... and {len(problems) - 40} more line(s); run check-allowlist for all of them")
    return "\n".join(
        [
            "Severity:   HIGH",
            f"Rule:       {finding.rule}",
            f"Parameter:  {name}",
            f"Since:      {readable(finding.event_time or 'unknown')} (when the parameter was last written)",
            "",
            "The stored allowlist does not validate. Until it is fixed no grant allows anything, so every",
            "decrypting read alerts, and every honeytoken still fires.",
            "",
            "Problems:",
            *shown,
            "",
            "Fix the file, check it, then store it (or deploy it, see the README, 'Deploying'):",
            "  paramwatch check-allowlist allowlist.yaml",
            f"  aws ssm put-parameter --overwrite --type String --name {name} --value file://allowlist.yaml",
            "",
            "Finding (JSON):",
            finding_json(finding),
        ]
    )


ALERT_SEPARATOR = "=" * 78


def alert_text(verdict: Verdict) -> str:
    """A paged finding as its e-mail subscriber receives it: the SNS subject, then the body."""
    finding = verdict.finding
    return f"Subject: {subject(finding)}\n\n{body(finding, verdict.notes)}\n{ALERT_SEPARATOR}"


_LEAST_WIDTHS = (5, 9, 18, 26, 12, 14, 16)


def table(verdicts: Iterable[Verdict], *, paging: bool = True) -> Iterable[str]:
    """Rows for a person at a terminal, one finding per row, widest columns last.

    Columns are as wide as their widest cell, so a long source or region never shifts the rest.
    `paging=False` (hunt) shows `-` under PAGE: hunt decides no paging.
    """
    header = ["PAGE", "SEVERITY", "RULE", "EVENT TIME", "ACCOUNT", "REGION", "SOURCE", "PRINCIPAL -> PARAMETERS"]
    rows = [header]
    for v in verdicts:
        f = v.finding
        params = ", ".join(safe(p, 80) for p in f.parameters[:3])
        if len(f.parameters) > 3:
            params += f" (+{len(f.parameters) - 3})"
        params = params or "(none named)"
        rows.append(
            [
                ("yes" if v.paged else "no") if paging else "-",
                str(f.severity).upper(),
                str(f.rule),
                safe(f.event_time or "-", 25),
                _account(f),
                safe(f.region or "-", 20),
                safe(f.source_ip or "-", 40),
                f"{safe(f.principal or '-')} -> {params}",
            ]
        )
    widths = [max(least, *(len(row[i]) for row in rows)) for i, least in enumerate(_LEAST_WIDTHS)]
    for row in rows:
        yield " ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + " " + row[-1]


def _account(finding: Finding) -> str:
    """The account's name when the allowlist gives one, else its ID."""
    return safe(finding.account_name or finding.account or "-", 40)
