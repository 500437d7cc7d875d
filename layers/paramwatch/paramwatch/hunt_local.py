"""`paramwatch hunt --engine duckdb`: the hunt query run by DuckDB over local CloudTrail log files.

It reads what replay reads (S3 log files, `.json` or `.json.gz`, folders of them, EventBridge
events) with replay's reader, hands DuckDB the SSM and KMS records one a line (DuckDB reads a
line-delimited file some fifty times faster than a log file's single large object), and queries a
view shaped like Athena's CloudTrail table, so the same query text runs on both. Rows come back
as the findings replay prints. duckdb is a CLI dependency only: it is imported when this command runs, and the
Lambda layer never ships it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paramwatch.access import KMS_DECRYPTS, KMS_ENCRYPTS, KMS_SOURCE, SSM_SOURCE, Access, parse_time
from paramwatch.allowlist import Allowlist
from paramwatch.detector import Verdict
from paramwatch.escape import safe
from paramwatch.findings import Rule, Severity
from paramwatch.hunt import TABLE, BulkRule, HuntError, Scope, build_query
from paramwatch.identity import Principal, with_article
from paramwatch.rules import finding_for, kms_use_extra, summary_for
from paramwatch.sources import SourceError, expand, records_from
from paramwatch.sql import DUCKDB, literal

HUNT_REASON = "hunt reports every finding; paging (suppression, pairing) is decided by replay"
MAX_RECORD = 64 << 20
WATCHED = frozenset({SSM_SOURCE, KMS_SOURCE})

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

_RESOURCES = '[{"accountId": "VARCHAR", "type": "VARCHAR", "arn": "VARCHAR"}]'
"""Athena's `resources ARRAY<STRUCT<arn, accountid, type>>`; a value of another shape reads as NULL."""


def table_view(ndjson: Path, table: str = TABLE) -> str:
    """A view over one record a line with the columns of Athena's CloudTrail table that hunt reads.

    `date`, `region` and `account` stand in for Athena's partitions, taken from the record.
    """
    columns = [f"json_extract_string(r, '$.{key}') AS {column}" for column, key in _FIELDS.items()]
    ui = "'$.userIdentity"
    identity = (
        f"struct_pack(type := json_extract_string(r, {ui}.type'), arn := json_extract_string(r, {ui}.arn'), "
        f"accountid := json_extract_string(r, {ui}.accountId'), invokedby := json_extract_string(r, {ui}.invokedBy'), "
        f"sessioncontext := struct_pack(sessionissuer := struct_pack("
        f"type := json_extract_string(r, {ui}.sessionContext.sessionIssuer.type'), "
        f"arn := json_extract_string(r, {ui}.sessionContext.sessionIssuer.arn'))))"
    )
    event_time = DUCKDB.parse_time("json_extract_string(r, '$.eventTime')")
    columns += [
        "CAST(json_extract(r, '$.requestParameters') AS VARCHAR) AS requestparameters",
        f"{identity} AS useridentity",
        f"strftime({event_time}, '%Y/%m/%d') AS \"date\"",
        "json_extract_string(r, '$.awsRegion') AS region",
        "json_extract_string(r, '$.recipientAccountId') AS account",
        f"json_transform(json_extract(r, '$.resources'), {literal(_RESOURCES)}) AS resources",
    ]
    options = f"format = 'newline_delimited', maximum_object_size = {MAX_RECORD}"
    source = f"read_json_objects({literal(str(ndjson))}, {options})"
    body = ",\n  ".join(columns)
    return f"CREATE OR REPLACE TEMP VIEW {table} AS\nSELECT\n  {body}\nFROM (SELECT json AS r FROM {source})"


@dataclass(frozen=True, slots=True)
class HuntResult:
    """What DuckDB found, how much it read, and the files it could not read."""

    verdicts: list[Verdict]
    records: int
    files: int
    errors: list[str]


def _stage(paths: Iterable[str | Path], ndjson: Path) -> tuple[int, int, list[str]]:
    """Write the SSM and KMS records of every file, one a line, for DuckDB: the query's first
    predicate, applied while reading, as Athena's partitions spare it the rest of the bucket."""
    files, records, errors = 0, 0, []
    with ndjson.open("wb") as out:
        for path in expand(paths):
            files += 1
            try:
                count, kept = records_from(path, WATCHED)
            except SourceError as exc:
                errors.append(f"{path}: {exc}")
                continue
            records += count
            for raw in kept:
                out.write(raw.replace(b"\n", b" ") + b"\n")  # JSON text holds no raw newline but whitespace
    return files, records, errors


def run(allowlist: Allowlist, paths: Iterable[str | Path], scope: Scope, bulk: BulkRule) -> HuntResult:
    """Run the hunt query over local files; HuntError with one line when DuckDB cannot."""
    import duckdb  # a CLI dependency, absent from the Lambda layer

    query = build_query(allowlist, DUCKDB, scope, bulk)
    with tempfile.TemporaryDirectory(prefix="paramwatch-hunt-") as folder:
        ndjson = Path(folder) / "records.ndjson"
        files, records, errors = _stage(paths, ndjson)
        if files == 0:
            raise HuntError("no input files found")
        connection = duckdb.connect(":memory:")
        try:
            connection.execute("SET TimeZone = 'UTC'")
            connection.execute("SET enable_progress_bar = false")
            connection.execute(DUCKDB.preamble())
            connection.execute(table_view(ndjson))
            cursor = connection.execute(query)
            columns = [c[0] for c in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        except duckdb.Error as exc:
            raise HuntError(f"duckdb: {str(exc).splitlines()[0]}") from None
        finally:
            connection.close()
    return HuntResult([verdict_of(row, allowlist) for row in rows], records, files, errors)


_EXTRA = {
    Rule.HONEYTOKEN: "This is a honeytoken.",
    Rule.ROOT: "The root user should never read secrets.",
    Rule.DIRECT_DECRYPT: "SSM did not make this Decrypt: the caller held the parameter's ciphertext.",
}


def _access(row: dict[str, Any]) -> Access:
    problems: tuple[str, ...] = ()
    if row["problems"]:
        problems = (
            (f"no principal can be derived from {with_article(row['identity_type'])} identity",)
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
        is_kms=row["event_name"] in KMS_DECRYPTS | KMS_ENCRYPTS,
        destination_account=row["dest_account"],
    )


def _extra(rule: Rule, row: dict[str, Any], access: Access) -> str:
    if rule in _EXTRA:
        return _EXTRA[rule]
    if rule is Rule.DIRECT_KMS_USE:
        return kms_use_extra(access.destination_account if row["severity"] == str(Severity.CRITICAL) else None)
    if rule is Rule.DENIED:
        return f"The call failed with {safe(access.error_code or '')}."
    if rule is Rule.UNJUDGEABLE:
        if access.problems:
            return "Cannot judge: " + "; ".join(safe(p, 200) for p in access.problems) + "."
        return "Cannot judge: eventTime is unreadable and a matching grant has hours."
    if row["cross_account"]:
        return "No grant allows it; the caller is in another account."
    return "No grant allows it."


def verdict_of(row: dict[str, Any], allowlist: Allowlist) -> Verdict:
    """A query row as the verdict replay would print (without replay's paging decision)."""
    rule, severity = Rule(row["rule"]), Severity[row["severity"].upper()]
    access = _access(row)
    if rule is Rule.BULK:
        start = datetime.fromtimestamp(row["window_start"], UTC).isoformat()
        scope = row["bulk_scope"]
        whose = f" under grant '{safe(allowlist.grants[scope].name, 128)}'" if scope >= 0 else ""
        summary = (
            f"[{rule}] {safe(access.principal.type)} {safe(access.principal.arn)} decrypted more than "
            f"{row['bulk_threshold']} distinct parameters{whose} within {row['bulk_seconds'] // 60} minutes "
            f"(window from {start}); {row['distinct_parameters']} in all."
        )
    else:
        summary = summary_for(access, rule, _extra(rule, row, access))
    finding = replace(finding_for(access, rule, severity, summary), account_name=allowlist.account_name(access.account))
    return Verdict(finding, paged=False, reason=HUNT_REASON)
