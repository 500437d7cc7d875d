"""`paramwatch hunt --engine duckdb`: the hunt query run by DuckDB over local CloudTrail log files.

DuckDB reads the S3 log files (`{"Records": [...]}`, `.json` or `.json.gz`) into a view shaped like
Athena's CloudTrail table, so the same query text runs on both. Rows come back as the findings
replay prints. duckdb is a CLI dependency only: it is imported when this command runs, and the
Lambda layer never ships it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paramwatch.access import Access, parse_time
from paramwatch.allowlist import Allowlist
from paramwatch.detector import Verdict
from paramwatch.escape import safe
from paramwatch.findings import Rule, Severity
from paramwatch.hunt import TABLE, BulkRule, HuntError, Scope, build_query
from paramwatch.identity import Principal
from paramwatch.rules import finding_for, summary_for
from paramwatch.sources import expand
from paramwatch.sql import DUCKDB, SqlError, literal

HUNT_REASON = "hunt reports every finding; paging (suppression, pairing) is decided by replay"
MAX_FILE_BYTES = 1 << 30
LOG_SUFFIXES = (".json", ".json.gz")

_FIELDS = {
    "eventid": "eventID",
    "eventtime": "eventTime",
    "eventsource": "eventSource",
    "eventname": "eventName",
    "awsregion": "awsRegion",
    "sourceipaddress": "sourceIPAddress",
    "useragent": "userAgent",
    "errorcode": "errorCode",
    "vpcendpointid": "vpcEndpointId",
    "vpcendpointaccountid": "vpcEndpointAccountId",
    "recipientaccountid": "recipientAccountId",
}


def table_view(files: list[Path], table: str = TABLE) -> str:
    """A view over the files with the columns of Athena's CloudTrail table that hunt reads.

    `date`, `region` and `account` stand in for Athena's partitions, taken from the record.
    """
    names = ", ".join(literal(str(f)) for f in files)
    columns = [f"json_extract_string(r, '$.{key}') AS {column}" for column, key in _FIELDS.items()]
    ui = "'$.userIdentity"
    identity = (
        f"struct_pack(type := json_extract_string(r, {ui}.type'), arn := json_extract_string(r, {ui}.arn'), "
        f"accountid := json_extract_string(r, {ui}.accountId'), invokedby := json_extract_string(r, {ui}.invokedBy'), "
        f"sessioncontext := struct_pack(sessionissuer := struct_pack("
        f"type := json_extract_string(r, {ui}.sessionContext.sessionIssuer.type'), "
        f"arn := json_extract_string(r, {ui}.sessionContext.sessionIssuer.arn'))))"
    )
    columns += [
        "CAST(json_extract(r, '$.requestParameters') AS VARCHAR) AS requestparameters",
        f"{identity} AS useridentity",
        "replace(substr(json_extract_string(r, '$.eventTime'), 1, 10), '-', '/') AS \"date\"",
        "json_extract_string(r, '$.awsRegion') AS region",
        "json_extract_string(r, '$.recipientAccountId') AS account",
    ]
    source = (
        f"read_json([{names}], columns = {{'Records': 'JSON[]'}}, format = 'auto', "
        f"maximum_object_size = {MAX_FILE_BYTES})"
    )
    body = ",\n  ".join(columns)
    return f"CREATE OR REPLACE TEMP VIEW {table} AS\nSELECT\n  {body}\nFROM (SELECT unnest(Records) AS r FROM {source})"


def log_files(paths: Iterable[str | Path]) -> list[Path]:
    """The CloudTrail log files named or found below folders; HuntError for anything else."""
    files = []
    for path in expand(paths):
        if not path.is_file():
            raise HuntError(f"{path}: no such file")
        if not path.name.endswith(LOG_SUFFIXES):
            raise HuntError(f"{path}: hunt reads CloudTrail log files (.json, .json.gz); use replay for others")
        files.append(path)
    if not files:
        raise HuntError("no input files found")
    return files


@dataclass(frozen=True, slots=True)
class HuntResult:
    """What DuckDB found, with how many records it read."""

    verdicts: list[Verdict]
    records: int
    files: int


def run(allowlist: Allowlist, paths: Iterable[str | Path], scope: Scope, bulk: BulkRule) -> HuntResult:
    """Run the hunt query over local files; HuntError with one line when DuckDB cannot."""
    import duckdb  # a CLI dependency, absent from the Lambda layer

    files = log_files(paths)
    query = build_query(allowlist, DUCKDB, scope, bulk)
    connection = duckdb.connect(":memory:")
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute(DUCKDB.preamble())
        connection.execute(table_view(files))
        records = connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        cursor = connection.execute(query)
        columns = [c[0] for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    except SqlError as exc:
        raise HuntError(f"a file name cannot be quoted for SQL: {exc}") from None
    except duckdb.Error as exc:
        raise HuntError(f"duckdb: {str(exc).splitlines()[0]}") from None
    finally:
        connection.close()
    return HuntResult([verdict_of(row, bulk, allowlist) for row in rows], records, len(files))


_EXTRA = {
    Rule.HONEYTOKEN: "This is a honeytoken.",
    Rule.ROOT: "The root user should never read secrets.",
    Rule.DIRECT_DECRYPT: "SSM did not make this Decrypt: the caller held the parameter's ciphertext.",
}


def _access(row: dict[str, Any]) -> Access:
    problems: tuple[str, ...] = ()
    if row["problems"]:
        problems = (
            (f"no principal can be derived from a {row['identity_type']} identity",)
            if row["principal"] is None
            else ("a parameter name or path is missing, hidden by CloudTrail or not a parameter name",)
        )
    raw_time = row["event_time"] or ""
    return Access(
        event_id=row["event_id"],
        event_name=row["event_name"],
        event_time=parse_time(raw_time),
        raw_event_time=raw_time,
        principal=Principal(arn=row["principal"], type=row["identity_type"], account=row["caller_account"]),
        parameters=tuple(row["parameters"] or ()) if row["path"] is None else (),
        path=row["path"],
        recursive=bool(row["is_recursive"]),
        decrypted=True,
        via_ssm=bool(row["via_ssm"]),
        source_ip=row["source_ip"],
        vpc_endpoint=row["vpc_endpoint"],
        user_agent=row["user_agent"],
        error_code=row["error_code"],
        region=row["region"],
        recipient_account=row["owner_account"],
        problems=problems,
    )


def _extra(rule: Rule, row: dict[str, Any], access: Access) -> str:
    if rule in _EXTRA:
        return _EXTRA[rule]
    if rule is Rule.DENIED:
        return f"The call failed with {safe(access.error_code or '')}."
    if rule is Rule.UNJUDGEABLE:
        if access.problems:
            return "Cannot judge: " + "; ".join(safe(p, 200) for p in access.problems) + "."
        return "Cannot judge: eventTime is unreadable and a matching grant has hours."
    if row["cross_account"]:
        return "No grant allows it; the caller is in another account."
    return "No grant allows it."


def verdict_of(row: dict[str, Any], bulk: BulkRule, allowlist: Allowlist) -> Verdict:
    """A query row as the verdict replay would print (without replay's paging decision)."""
    rule, severity = Rule(row["rule"]), Severity[row["severity"].upper()]
    access = _access(row)
    if rule is Rule.BULK:
        start = datetime.fromtimestamp(row["window_start"], UTC).isoformat()
        summary = (
            f"[{rule}] {safe(access.principal.type)} {safe(access.principal.arn)} decrypted more than "
            f"{bulk.threshold} distinct parameters within {bulk.window_minutes} minutes (window from {start}); "
            f"{row['distinct_parameters']} in all."
        )
    else:
        summary = summary_for(access, rule, _extra(rule, row, access))
    finding = replace(finding_for(access, rule, severity, summary), account_name=allowlist.account_name(access.account))
    return Verdict(finding, paged=False, reason=HUNT_REASON)
