"""`paramwatch hunt`: the allowlist as one SQL query over a CloudTrail table.

The query reports what the stateless rules report (honeytoken, unjudgeable read, root access,
direct KMS decrypt, other direct KMS use of a parameter's context, denied attempt, unauthorized
read) and bulk retrieval as a windowed count of distinct parameters per principal. It is built
from the parsed allowlist, never from its text, and one builder serves Athena (Trino) and DuckDB
through the shims in `sql.py`.

Every grant field must have a SQL form here. A field this module does not translate makes
`build_query` refuse (`untranslated`), so a condition added to the allowlist later can never be
dropped silently, which would make the query grant more than the allowlist does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel

from paramwatch.access import (
    KMS_CONTEXTS,
    KMS_DECRYPTS,
    KMS_ENCRYPTS,
    KMS_SOURCE,
    PARAMETER_ARN_KEY,
    SSM_READS,
    SSM_SERVICE_CALLERS,
    SSM_SOURCE,
)
from paramwatch.allowlist import DAYS, PRIVATE_RANGES_MAPPED, Allowlist, Grant, Hours, is_private_range
from paramwatch.findings import Rule, Severity
from paramwatch.names import HIDDEN, PUBLIC_PREFIX, is_arn_pattern, literal_prefix
from paramwatch.rules import DENIAL_CODES
from paramwatch.sql import Dialect, SqlError, in_list, like, literal

TABLE = "cloudtrail"
PER_EVENT_RULES = (
    Rule.HONEYTOKEN,
    Rule.UNJUDGEABLE,
    Rule.ROOT,
    Rule.DIRECT_DECRYPT,
    Rule.DIRECT_KMS_USE,
    Rule.DENIED,
    Rule.UNAUTHORIZED,
)
NOT_IN_SQL = {
    Rule.FIRST_SEEN: "needs every earlier (principal, parameter) pair: `replay --baseline`",
    Rule.DENIED_BURST: "a windowed count like bulk, left to replay: `replay`",
    Rule.INVALID_EVENT: "records that fail the CloudTrail schema: `replay`",
    Rule.TAMPER: "writes: trail selectors parsed, or one stack's own resources by name: `replay --stack`",
}
# The fields each model may set for hunt to run. Adding a field to Grant (or Hours, or Allowlist)
# without adding its SQL form below makes hunt refuse allowlists that use it. Labels that never
# change a verdict (owner, reason, the names of accounts) count as translated.
TRANSLATED: dict[type[BaseModel], frozenset[str]] = {
    Allowlist: frozenset({"version", "grants", "honeytokens", "accounts", "judge_public_parameters"}),
    Grant: frozenset(
        {
            "name",
            "owner",
            "reason",
            "expires",
            "principals",
            "parameters",
            "source_cidrs",
            "vpc_endpoints",
            "vpc_endpoint_accounts",
            "via_services",
            "hours",
            "accounts",
            "bulk_threshold",
            "bulk_window_minutes",
        }
    ),
    Hours: frozenset({"days", "start", "end", "timezone"}),
}
_SEVERITY = {
    Rule.HONEYTOKEN: Severity.CRITICAL,
    Rule.UNJUDGEABLE: Severity.HIGH,
    Rule.ROOT: Severity.HIGH,
    Rule.DIRECT_DECRYPT: Severity.HIGH,
    Rule.DIRECT_KMS_USE: Severity.HIGH,
    Rule.DENIED: Severity.LOW,
    Rule.UNAUTHORIZED: Severity.MEDIUM,
}
_SESSION_ARN = r"^[^:]*:[^:]*:sts:[^:]*:[^:]*:(assumed-role|federated-user)/"
_PARAMETER_ARN = r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:parameter/"
_PARAMETER_ARN_NAME = r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:parameter(/[^:]*)"
_ARN_WITH_ACCOUNT = r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:"
_ROOT_ARN = r"^arn:[a-z-]+:iam::[0-9]{12}:root$"
_REGEX_SPECIAL = frozenset("\\.^$|?*+()[]{}")


class HuntError(ValueError):
    """The allowlist or the options cannot become a query; the message is one line."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What to scan: dates (inclusive, UTC) and partition values; and the rules to report. Empty
    means all."""

    since: date | None = None
    until: date | None = None
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BulkRule:
    """The bulk-retrieval knobs, the same as replay's `--bulk-threshold` and `--bulk-window-minutes`."""

    threshold: int = 20
    window_minutes: int = 10


def _default(model: type[BaseModel], name: str) -> Any:
    return model.model_fields[name].get_default(call_default_factory=True)


def _set_fields(obj: BaseModel) -> list[str]:
    return [name for name in type(obj).model_fields if getattr(obj, name) != _default(type(obj), name)]


def untranslated(allowlist: Allowlist) -> list[str]:
    """Every field set in the allowlist that hunt has no SQL form for, named by where it is."""
    problems = []
    for name in _set_fields(allowlist):
        if name not in TRANSLATED[Allowlist]:
            problems.append(f"{name}")
    for index, grant in enumerate(allowlist.grants):
        for name in _set_fields(grant):
            if name not in TRANSLATED[Grant]:
                problems.append(f"grants[{index}] ({grant.name!r}).{name}")
        if grant.hours is not None:
            problems += [
                f"grants[{index}] ({grant.name!r}).hours.{name}"
                for name in _set_fields(grant.hours)
                if name not in TRANSLATED[Hours]
            ]
    return problems


def _public(value: str) -> str:
    """`names.is_public_parameter` in SQL: AWS public parameters hold no secret."""
    return f"({like(value, PUBLIC_PREFIX + '*')} OR {value} = {literal(PUBLIC_PREFIX.rstrip('/'))})"


def _any(parts: list[str]) -> str:
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


def _all(parts: list[str]) -> str:
    return "(" + " AND ".join(parts) + ")" if parts else "TRUE"


@dataclass
class _Builder:
    allowlist: Allowlist
    d: Dialect
    scope: Scope
    bulk: BulkRule
    table: str = TABLE
    grants: list[Grant] = field(init=False)

    def __post_init__(self) -> None:
        self.grants = list(self.allowlist.grants)

    # -- names --------------------------------------------------------------------------------

    def canonical(self, raw: str) -> str:
        """`names.canonical_name` in SQL: NULL where the library raises (a problem)."""
        stem = (
            f"CASE WHEN {raw} IS NULL OR {raw} = {literal(HIDDEN)} THEN NULL "
            f"WHEN starts_with({raw}, 'arn:') THEN CASE WHEN {self.d.regex(raw, _PARAMETER_ARN)} "
            f"THEN {self.d.regex_group(raw, _PARAMETER_ARN_NAME)} END "
            f"ELSE split_part({raw}, ':', 1) END"
        )
        return (
            f"CASE WHEN ({stem}) IS NULL OR ({stem}) IN ('', '/') THEN NULL "
            f"WHEN starts_with(({stem}), '/') THEN ({stem}) ELSE '/' || ({stem}) END"
        )

    # -- grants -------------------------------------------------------------------------------

    def network(self, grant: Grant) -> str:
        """`Grant.allows_source`: a service in `via_services`, a public address in a public range
        (through no VPC endpoint), or an anchor (endpoint, or endpoint owner) narrowed by the private ranges."""
        via = [f"COALESCE({in_list('invoked_by', grant.via_services)}, FALSE)"] if grant.via_services else []
        if not (grant.source_cidrs or grant.vpc_endpoints or grant.vpc_endpoint_accounts):
            return _any(via) if via else "TRUE"
        private = [n for n in grant.networks if is_private_range(n)]
        public = [n for n in grant.networks if not is_private_range(n)]
        parts = list(via)
        if public:
            is_private = _any([self.d.in_network("source_ip", n) for n in PRIVATE_RANGES_MAPPED])
            public_ip = _any([self.d.in_network("source_ip", n) for n in public])
            parts.append(f"(COALESCE(vpc_endpoint, '') = '' AND NOT {is_private} AND {public_ip})")
        anchors = []
        if grant.vpc_endpoints:
            anchors.append(f"COALESCE({in_list('vpc_endpoint', grant.vpc_endpoints)}, FALSE)")
        if grant.vpc_endpoint_accounts:
            owned = in_list("vpc_endpoint_account", grant.vpc_endpoint_accounts)
            anchors.append(f"COALESCE(vpc_endpoint <> '' AND {owned}, FALSE)")
        if anchors:
            narrowed = _any([self.d.in_network("source_ip", n) for n in private]) if private else "TRUE"
            parts.append(f"({_any(anchors)} AND {narrowed})")
        return _any(parts)

    def hours(self, hours: Hours) -> str:
        for moment in (hours.start, hours.end):
            if moment.microsecond or moment.tzinfo:
                raise HuntError(f"hours {moment} has no SQL form (whole seconds, no zone)")
        local = f"(ts AT TIME ZONE {literal(hours.timezone)})"
        secs = f"(hour({local}) * 3600 + minute({local}) * 60 + second({local}))"
        day = self.d.iso_weekday(local)
        days = sorted(DAYS.index(d) + 1 for d in set(hours.days))
        start, end = _seconds(hours.start), _seconds(hours.end)
        if hours.start < hours.end:
            return f"({day} IN ({_ints(days)}) AND {secs} >= {start} AND {secs} < {end})"
        after = sorted(d % 7 + 1 for d in days)  # the days whose previous day is allowed
        return f"(({secs} >= {start} AND {day} IN ({_ints(days)})) OR ({secs} < {end} AND {day} IN ({_ints(after)})))"

    def principal(self, pattern: str) -> str:
        """`names.principal_match`: a LIKE, or a regex when the ARN's account field has a wildcard
        (which then matches within that field only)."""
        parts = pattern.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or not any(c in parts[4] for c in "*?"):
            return like("principal", pattern)
        account = "".join("[^:/]*" if c == "*" else "[^:/]" if c == "?" else _regex_literal(c) for c in parts[4])
        head = ":".join(_glob_regex(p) for p in parts[:4])
        return self.d.regex("principal", f"^{head}:{account}:{_glob_regex(parts[5])}$")

    def account_only(self, grant: Grant) -> list[str]:
        """`Grant.allows_account_of` for an `AWSAccount` identity of another account than the trail's."""
        fields = [p.split(":", 5)[4] for p in grant.principals if p.startswith("arn:") and len(p.split(":", 5)) == 6]
        fields = [f for f in fields if f]
        if not fields:
            return []
        accounts = _any([like("caller_account", f) for f in fields])
        other = "caller_account <> '' AND owner_account <> '' AND caller_account <> owner_account"
        return [f"(identity_type = 'AWSAccount' AND COALESCE({other} AND {accounts}, FALSE))"]

    def grant_accounts(self, grant: Grant) -> str:
        """`accounts`: the principal ARN's account field must be listed (service names never are)."""
        if not grant.accounts:
            return "TRUE"
        field = f"CASE WHEN {self.d.regex('principal', _ARN_WITH_ACCOUNT)} THEN split_part(principal, ':', 5) END"
        return f"COALESCE({in_list(field, grant.accounts)}, FALSE)"

    def grant_time(self, grant: Grant) -> str:
        """Expiry and hours, for a read whose time is known."""
        parts = []
        if grant.expires is not None:
            parts.append(f"ts < {self.d.time(datetime.combine(grant.expires, time(), UTC))}")
        if grant.hours is not None:
            parts.append(self.hours(grant.hours))
        return _all(parts)

    def grant_static(self, index: int, grant: Grant) -> str:
        """Everything of `matching.failed_condition` but time: principal, path, names, network."""
        subtree = _any(
            [
                like("arn_prefix || path_base", p[:-1], suffix="%")
                if is_arn_pattern(p)
                else like("path_base", p[:-1], suffix="%")
                for p in grant.parameters
                if p.endswith("*")
            ]
        )
        return _all(
            [
                self.grant_accounts(grant),
                _any([self.principal(p) for p in grant.principals] + self.account_only(grant)),
                f"(path IS NULL OR {subtree})",
                f"COALESCE(missed_{index}, 0) = 0",
                f"(via_ssm OR {self.network(grant)})",
            ]
        )

    def parameter_match(self, grant: Grant) -> str:
        """`Grant.allows_parameter` over `name` (a path, or another account's ARN) and `arn_prefix`."""
        parts = []
        for pattern in grant.parameters:
            if is_arn_pattern(pattern):
                target = "CASE WHEN starts_with(name, 'arn:') THEN name ELSE arn_prefix || name END"
                parts.append(like(target, pattern))
            else:
                parts.append(f"(NOT starts_with(name, 'arn:') AND {like('name', pattern)})")
        return _any(parts)

    def honey_path(self) -> str:
        """`names.subtree_may_hold` for each honeytoken glob, over `path_base` and `recursive`."""
        parts = []
        for pattern in self.allowlist.honeytokens:
            head = literal_prefix(pattern)
            below = (
                f"(starts_with({literal(head)}, path_base) AND (is_recursive OR "
                f"strpos(substr({literal(head)}, length(path_base) + 1), '/') = 0))"
            )
            parts.append(below if head == pattern else f"({below} OR starts_with(path_base, {literal(head)}))")
        return f"(path_base IS NOT NULL AND {_any(parts)})"

    # -- the query ----------------------------------------------------------------------------

    def reports(self, rule: Rule) -> bool:
        return not self.scope.rules or rule in self.scope.rules

    def only_rules(self) -> str:
        """`--rule`: keep only the rules asked for."""
        return f" AND {in_list('rule', self.scope.rules)}" if self.scope.rules else ""

    def partitions(self) -> list[str]:
        """Partition predicates, first in the WHERE clause. Dates widen by a day: a file lands in
        the folder of its delivery, which can be the day after the event."""
        out = []
        if self.scope.since:
            day = (self.scope.since - timedelta(days=1)).strftime("%Y/%m/%d")
            out.append(self.d.partition(f'"date" >= {literal(day)}', '"date"'))
        if self.scope.until:
            day = (self.scope.until + timedelta(days=1)).strftime("%Y/%m/%d")
            out.append(self.d.partition(f'"date" <= {literal(day)}', '"date"'))
        if self.scope.accounts:
            out.append(self.d.partition(in_list("account", self.scope.accounts), "account"))
        if self.scope.regions:
            out.append(self.d.partition(in_list("region", self.scope.regions), "region"))
        return out

    def time_bounds(self) -> str:
        """Exact bounds on the event time; a record whose time cannot be read stays in (its date
        partition is in range), to be reported as unjudgeable rather than dropped."""
        out = []
        if self.scope.since:
            start = datetime.combine(self.scope.since, time(), UTC)
            out.append(f"(ts IS NULL OR ts >= {self.d.time(start)})")
        if self.scope.until:
            end = datetime.combine(self.scope.until + timedelta(days=1), time(), UTC)
            out.append(f"(ts IS NULL OR ts < {self.d.time(end)})")
        return "".join(f" AND {b}" for b in out)

    def build(self) -> str:
        d = self.d
        contexts = [d.json_value("rp", f"$.{key}.{PARAMETER_ARN_KEY}") for key in KMS_CONTEXTS]
        where = [
            *self.partitions(),
            f"((eventsource = {literal(SSM_SOURCE)} AND {in_list('eventname', SSM_READS)}) "
            f"OR (eventsource = {literal(KMS_SOURCE)} AND {in_list('eventname', KMS_DECRYPTS | KMS_ENCRYPTS)}))",
            "eventid IS NOT NULL AND eventid <> ''",
        ]
        ui = "useridentity"
        session = f"({ui}.type IN ('AssumedRole', 'FederatedUser') OR {d.regex(f'{ui}.arn', _SESSION_ARN)})"
        issuer = f"{ui}.sessioncontext.sessionissuer"
        root_issuer = f"COALESCE({issuer}.type = 'Root' OR {d.regex(f'{issuer}.arn', _ROOT_ARN)}, FALSE)"
        is_root = (
            f"CASE WHEN {session} THEN {root_issuer} "
            f"WHEN {ui}.type = 'AWSService' THEN FALSE "
            f"WHEN {ui}.type = 'AWSAccount' THEN COALESCE({ui}.accountid = recipientaccountid "
            f"AND {d.regex(f'{ui}.arn', _ROOT_ARN)}, FALSE) "
            f"ELSE COALESCE({ui}.type = 'Root' OR {d.regex(f'{ui}.arn', _ROOT_ARN)}, FALSE) END"
        )
        principal = (
            f"CASE WHEN {session} THEN COALESCE(NULLIF({issuer}.arn, ''), CASE WHEN {root_issuer} "
            f"AND {ui}.accountid <> '' THEN 'arn:aws:iam::' || {ui}.accountid || ':root' END) "
            f"WHEN {ui}.type = 'AWSService' THEN {ui}.invokedby "
            f"WHEN {ui}.type = 'AWSAccount' THEN CASE WHEN {ui}.accountid <> '' "
            f"THEN 'arn:aws:iam::' || {ui}.accountid || ':root' END "
            f"ELSE {ui}.arn END"
        )
        kms_keys = d.filter("resources", "k", "k.type = 'AWS::KMS::Key'")
        calls = f"""calls AS (
  SELECT eventid, eventtime, eventsource, eventname, errorcode, awsregion AS region_name,
    sourceipaddress AS source_ip, vpcendpointid AS vpc_endpoint, vpcendpointaccountid AS vpc_endpoint_account,
    useragent AS user_agent, {ui}.accountid AS caller_account, recipientaccountid AS owner_account,
    {ui}.invokedby AS invoked_by,
    COALESCE(NULLIF({ui}.type, ''), 'Unknown') AS identity_type,
    {principal} AS principal,
    {is_root} AS is_root,
    {d.parse_time("eventtime")} AS ts,
    {d.parse_json("requestparameters")} AS rp,
    CASE WHEN eventname = 'ReEncrypt' THEN {kms_keys} END AS key_resources,
    row_number() OVER (PARTITION BY eventid ORDER BY eventtime) AS copy_no
  FROM {self.table}
  WHERE {(chr(10) + "    AND ").join(where)}
)"""
        via = f"COALESCE({in_list('invoked_by', SSM_SERVICE_CALLERS)}, FALSE)"  # AWS sets it; the source is no proof
        path_raw = d.json_string("rp", "$.path")
        home = "COALESCE(NULLIF(caller_account, ''), NULLIF(owner_account, ''))"
        # `access.is_relevant`: a context names a parameter; SSM's own Encrypt (PutParameter) is no read
        kms_relevant = (
            f"({_any([f'{c} IS NOT NULL' for c in contexts])} AND ({in_list('eventname', KMS_DECRYPTS)} OR NOT {via}))"
        )
        dest_key = d.json_string("rp", "$.destinationKeyId")
        second = f"({d.element('key_resources', 2)})"
        # `access._destination_account`: the key ARN's account, else the second KMS key resource's
        destination = f"""CASE WHEN eventname = 'ReEncrypt' THEN CASE
      WHEN starts_with({dest_key}, 'arn:') AND length({dest_key}) - length(replace({dest_key}, ':', '')) >= 4
        THEN split_part({dest_key}, ':', 5)
      WHEN cardinality(key_resources) = 2 AND {second}.accountid IS NOT NULL THEN {second}.accountid
      ELSE {home} END END"""
        reads = f"""reads AS (
  SELECT *,
    eventsource = {literal(KMS_SOURCE)} AS is_kms,
    eventsource = {literal(KMS_SOURCE)} AND ({via}) AS via_ssm,
    CASE WHEN eventsource = {literal(KMS_SOURCE)} THEN {in_list("eventname", KMS_DECRYPTS)}
      ELSE COALESCE({d.json_text("rp", "$.withDecryption")} = 'true', FALSE) END AS decrypted,
    {destination} AS dest_account,
    COALESCE(errorcode <> '', FALSE) AS has_error,
    COALESCE({d.json_text("rp", "$.recursive")} = 'true', FALSE) AS is_recursive,
    {home} AS home_account,
    CASE WHEN awsregion_ok AND COALESCE(NULLIF(caller_account, ''), NULLIF(owner_account, '')) IS NOT NULL
      THEN 'arn:' || CASE WHEN starts_with(principal, 'arn:') AND split_part(principal, ':', 2) <> ''
        THEN split_part(principal, ':', 2) ELSE 'aws' END || ':ssm:' || region_name || ':'
        || COALESCE(NULLIF(caller_account, ''), owner_account) || ':parameter' END AS arn_prefix,
    CASE WHEN eventname = 'GetParametersByPath' THEN {path_raw} END AS path_raw,
    CASE WHEN eventsource = {literal(KMS_SOURCE)} THEN {d.filter(f"ARRAY[{', '.join(contexts)}]", "x", "x IS NOT NULL")}
      WHEN eventname = 'GetParameters' THEN {d.json_array("rp", "$.names")}
      WHEN eventname = 'GetParametersByPath' THEN NULL
      ELSE {d.array_of(d.json_value("rp", "$.name"))}
    END AS raw_names
  FROM (SELECT *, COALESCE(region_name <> '', FALSE) AS awsregion_ok FROM calls) c
  WHERE copy_no = 1 AND (eventsource = {literal(SSM_SOURCE)} OR {kms_relevant}){self.time_bounds()}
)"""
        path_canon = self.canonical("path_raw")
        paths = f"""paths AS (
  SELECT *,
    CASE WHEN path_raw = '/' THEN '/' ELSE {path_canon} END AS path
  FROM reads
)"""
        names_raw = f"""names_raw AS (
  SELECT r.eventid, r.home_account, r.arn_prefix, r.dest_account, {d.element_string("u.raw")} AS raw_name
  FROM reads r CROSS JOIN UNNEST(r.raw_names) AS u(raw)
)"""
        honey_names = _any([like("path_name", p) for p in self.allowlist.honeytokens])
        per_grant = [
            f"count_if(name IS NOT NULL AND NOT COALESCE({self.parameter_match(g)}, FALSE)) AS missed_{i}"
            for i, g in enumerate(self.grants)
        ]
        foreign = (
            f"starts_with(raw_name, 'arn:') AND {d.regex('raw_name', _PARAMETER_ARN)} "
            "AND split_part(raw_name, ':', 5) IS DISTINCT FROM home_account"
        )
        names = f"""names AS (
  SELECT eventid, path_name, arn_prefix, home_account, dest_account,
    CASE WHEN path_name IS NOT NULL AND {foreign} THEN 'arn:' || split_part(raw_name, ':', 2) || ':ssm:'
      || split_part(raw_name, ':', 4) || ':' || split_part(raw_name, ':', 5) || ':parameter' || path_name
      ELSE path_name END AS name
  FROM (SELECT *, {self.canonical("raw_name")} AS path_name FROM names_raw) n
)"""
        # `Access.key_leaves_account`: a parameter's owner (its ARN's account, else the caller's) is
        # not the destination key's account
        owner = "COALESCE(CASE WHEN starts_with(name, 'arn:') THEN split_part(name, ':', 5) ELSE home_account END, '')"
        leaves = f"name IS NOT NULL AND COALESCE(dest_account, '') <> '' AND {owner} NOT IN ('', dest_account)"
        grant_columns = "".join(",\n    " + g for g in per_grant)
        per_read = f"""per_read AS (
  SELECT eventid,
    count_if(name IS NULL) AS bad_names,
    COALESCE(bool_or({honey_names}), FALSE) AS honey_names,
    COALESCE(bool_and(path_name IS NOT NULL AND {_public("path_name")}), FALSE) AS public_names,
    array_sort(array_distinct(array_agg(name) FILTER (WHERE name IS NOT NULL))) AS parameters,
    COALESCE(bool_or({leaves}), FALSE) AS key_leaves{grant_columns}
  FROM names GROUP BY eventid
)"""
        missed = "".join(f", p.missed_{i}" for i in range(len(self.grants)))
        joined = f"""joined AS (
  SELECT r.*, CASE WHEN r.path IS NOT NULL THEN regexp_replace(r.path, '/+$', '') || '/' END AS path_base,
    p.eventid IS NULL AS no_names, COALESCE(p.bad_names, 0) AS bad_names, COALESCE(p.key_leaves, FALSE) AS key_leaves,
    COALESCE(p.honey_names, FALSE) AS honey_names, COALESCE(p.public_names, FALSE) AS public_names,
    p.parameters{missed}
  FROM paths r LEFT JOIN per_read p ON p.eventid = r.eventid
)"""
        statics = [self.grant_static(i, g) for i, g in enumerate(self.grants)]
        timed = [g.hours is not None or g.expires is not None for g in self.grants]
        allows = [
            f"COALESCE({s} AND ts IS NOT NULL AND {self.grant_time(g)}, FALSE)" if t else f"COALESCE({s}, FALSE)"
            for s, g, t in zip(statics, self.grants, timed, strict=True)
        ]
        granted = _any([f"grant_{i}" for i in range(len(self.grants))])
        # `matching.granted_by`: the first grant in document order that allows the read
        first = " ".join(f"WHEN grant_{i} THEN {i}" for i in range(len(self.grants)))
        first_grant = f"CASE {first} END" if first else "CAST(NULL AS INTEGER)"
        allowed = f"""allowed AS (
  SELECT *{"".join(f",{chr(10)}    {a} AS grant_{i}" for i, a in enumerate(allows))}
  FROM joined
)"""
        unknown = _any([f"COALESCE({s} AND ts IS NULL, FALSE)" for s, t in zip(statics, timed, strict=True) if t])
        problems = (
            "(principal IS NULL OR bad_names > 0 "
            "OR (eventname = 'GetParameters' AND no_names) "
            "OR (eventname = 'GetParametersByPath' AND path IS NULL))"
        )
        judged = f"""judged AS (
  SELECT *,
    honey_names OR {self.honey_path()} AS honeytoken,
    {problems} AS problems,
    NOT is_kms AND NOT {problems} AND CASE WHEN eventname = 'GetParametersByPath'
      THEN {_public("regexp_replace(path, '/+$', '')")} ELSE public_names END AS public,
    {granted} AS granted,
    {first_grant} AS first_grant,
    {unknown} AS time_unknown,
    COALESCE(caller_account <> '' AND owner_account <> '' AND caller_account <> owner_account, FALSE) AS cross_account
  FROM allowed
)"""
        judge_public = self.allowlist.judge_public_parameters
        skip_public = "" if judge_public else "\n      WHEN COALESCE(public, FALSE) THEN NULL"
        rule = f"""CASE
      WHEN honeytoken THEN '{Rule.HONEYTOKEN}'
      WHEN is_kms AND eventname <> 'Decrypt' AND NOT via_ssm THEN '{Rule.DIRECT_KMS_USE}'
      WHEN NOT decrypted THEN NULL{skip_public}
      WHEN problems THEN '{Rule.UNJUDGEABLE}'
      WHEN is_root THEN '{Rule.ROOT}'
      WHEN is_kms AND NOT via_ssm THEN '{Rule.DIRECT_DECRYPT}'
      WHEN has_error AND granted AND NOT {in_list("errorcode", DENIAL_CODES)} THEN NULL
      WHEN has_error THEN '{Rule.DENIED}'
      WHEN granted THEN NULL
      WHEN time_unknown THEN '{Rule.UNJUDGEABLE}'
      ELSE '{Rule.UNAUTHORIZED}'
    END"""
        verdicts = f"""verdicts AS (
  SELECT *, {rule} AS rule FROM judged
)"""
        # A read counts under the strictest grant that allows it (detector._bulk_grant): a grant with
        # its own bulk_threshold apart, with its own window; the --bulk-threshold default (scope -1)
        # for one without, and for every read no grant allows.
        own = [(i, g) for i, g in enumerate(self.grants) if g.bulk_threshold is not None]
        ranked = sorted(range(len(self.grants)), key=lambda i: self.grants[i].bulk_threshold or self.bulk.threshold)
        mine = [f"WHEN grant_{i} THEN {i if self.grants[i].bulk_threshold is not None else -1} " for i in ranked]
        scope = "CASE " + "".join(mine) + "ELSE -1 END" if own else "-1"
        default_size = self.bulk.window_minutes * 60
        size = "CASE bulk_scope " + "".join(
            f"WHEN {i} THEN {(g.bulk_window_minutes or self.bulk.window_minutes) * 60} " for i, g in own
        )
        size = f"{size}ELSE {default_size} END" if own else str(default_size)
        threshold = "CASE bulk_scope " + "".join(f"WHEN {i} THEN {g.bulk_threshold} " for i, g in own)
        threshold = f"{threshold}ELSE {self.bulk.threshold} END" if own else str(self.bulk.threshold)
        bulk_reads = f"""bulk_reads AS (
  SELECT r.principal, r.ts, r.eventid, n.name, g.grid, r.bulk_scope, r.window_size,
    floor(({d.epoch("r.ts")} - g.grid * r.window_size / 2) / r.window_size) * r.window_size
      + g.grid * r.window_size / 2 AS window_start
  FROM (SELECT *, {size} AS window_size FROM (SELECT *, {scope} AS bulk_scope FROM judged) j) r
    JOIN names n ON n.eventid = r.eventid
    CROSS JOIN (VALUES (0), (1)) AS g(grid)
  WHERE r.decrypted AND NOT r.has_error AND r.principal IS NOT NULL AND r.ts IS NOT NULL AND n.name IS NOT NULL{
            "" if judge_public else " AND NOT " + _public("n.path_name")
        }
)"""
        bulk_firsts = """bulk_firsts AS (
  SELECT principal, bulk_scope, window_size, grid, window_start, name, min(ts) AS first_ts,
    min_by(eventid, ts) AS eventid
  FROM bulk_reads GROUP BY principal, bulk_scope, window_size, grid, window_start, name
)"""
        bulk = f"""bulk AS (
  SELECT *, {threshold} AS threshold,
    row_number() OVER (PARTITION BY principal, bulk_scope, grid, window_start ORDER BY first_ts, name) AS nth,
    count(*) OVER (PARTITION BY principal, bulk_scope, grid, window_start) AS distinct_parameters
  FROM bulk_firsts
)"""
        severity = "CASE rule " + " ".join(
            f"WHEN '{r}' THEN '{_SEVERITY[r]}'"
            for r in PER_EVENT_RULES
            if r not in (Rule.UNAUTHORIZED, Rule.DIRECT_KMS_USE)
        )
        kms_severity = f"CASE WHEN key_leaves THEN '{Severity.CRITICAL}' ELSE '{Severity.HIGH}' END"
        severity += f" WHEN '{Rule.DIRECT_KMS_USE}' THEN {kms_severity}"
        severity += f" ELSE CASE WHEN cross_account THEN '{Severity.HIGH}' ELSE '{Severity.MEDIUM}' END END"
        final = f"""SELECT rule, {severity} AS severity, eventid AS event_id, eventtime AS event_time, principal,
  identity_type, eventname AS event_name, CASE WHEN path IS NULL THEN parameters ELSE ARRAY[path] END AS parameters,
  source_ip, vpc_endpoint, user_agent, errorcode AS error_code, region_name AS region,
  path, is_recursive, via_ssm, problems, time_unknown, cross_account, caller_account, owner_account, dest_account,
  CAST(NULL AS DOUBLE) AS window_start, CAST(NULL AS BIGINT) AS distinct_parameters,
  CAST(NULL AS INTEGER) AS bulk_scope, CAST(NULL AS INTEGER) AS bulk_threshold, CAST(NULL AS INTEGER) AS bulk_seconds
FROM verdicts WHERE rule IS NOT NULL{self.only_rules()}
UNION ALL
SELECT '{Rule.BULK}', '{Severity.HIGH}', b.eventid, r.eventtime, b.principal, r.identity_type,
  r.eventname, r.parameters, r.source_ip, r.vpc_endpoint, r.user_agent, r.errorcode, r.region_name,
  r.path, r.is_recursive, r.via_ssm, FALSE, FALSE, r.cross_account, r.caller_account, r.owner_account,
  r.dest_account,
  CAST(b.window_start AS DOUBLE), b.distinct_parameters,
  CAST(b.bulk_scope AS INTEGER), CAST(b.threshold AS INTEGER), CAST(b.window_size AS INTEGER)
FROM bulk b JOIN verdicts r ON r.eventid = b.eventid
WHERE b.nth = b.threshold + 1{"" if self.reports(Rule.BULK) else " AND FALSE"}
ORDER BY event_time, event_id, rule"""
        ctes = [
            calls,
            reads,
            paths,
            names_raw,
            names,
            per_read,
            joined,
            allowed,
            judged,
            verdicts,
            bulk_reads,
            bulk_firsts,
            bulk,
        ]
        return "WITH\n" + ",\n".join(ctes) + "\n" + final


def _regex_literal(char: str) -> str:
    """One character as a regex that matches only itself, in Java (Trino) and RE2 (DuckDB) alike."""
    return "\\" + char if char in _REGEX_SPECIAL else char


def _glob_regex(glob: str) -> str:
    """`names.glob_regex` as regex text: `*` any run, `?` one character (newlines included, no flags)."""
    return "".join(r"[\s\S]*" if c == "*" else r"[\s\S]" if c == "?" else _regex_literal(c) for c in glob)


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _ints(values: list[int]) -> str:
    return ", ".join(str(v) for v in values)


def build_query(
    allowlist: Allowlist,
    dialect: Dialect,
    scope: Scope | None = None,
    bulk: BulkRule | None = None,
    table: str = TABLE,
) -> str:
    """The hunt query for `allowlist` in `dialect`; HuntError when any part has no SQL form."""
    missing = untranslated(allowlist)
    if missing:
        raise HuntError(f"hunt has no SQL form for {', '.join(missing)}; judge these archives with replay instead")
    if not _is_identifier(table):
        raise HuntError(f"table name {table!r} must be letters, digits and _ (optionally database.table)")
    try:
        return _Builder(allowlist, dialect, scope or Scope(), bulk or BulkRule(), table).build()
    except SqlError as exc:
        raise HuntError(f"allowlist value cannot be quoted for SQL: {exc}") from None


def _is_identifier(name: str) -> bool:
    parts = name.split(".")
    return 1 <= len(parts) <= 2 and all(
        p and p.replace("_", "a").isascii() and p.replace("_", "a").isalnum() for p in parts
    )
