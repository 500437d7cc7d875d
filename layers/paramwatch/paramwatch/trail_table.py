"""The Athena table over a CloudTrail bucket, and what a hunt over it scans.

The DDL follows AWS's "Create the table for CloudTrail logs in Athena using partition projection"
(Athena User Guide): the same columns, SerDe and input format, with projected partitions on
account, region and date so that no `ALTER TABLE ADD PARTITION` is ever needed. An account trail
writes `s3://B/[P/]AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/`; an organization trail puts the
organization ID before the account: `s3://B/[P/]AWSLogs/o-xxxx/ACCOUNT/CloudTrail/...`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from paramwatch.hunt import TABLE, HuntError
from paramwatch.sql import literal

# The commercial regions CloudTrail can log in, for the region enum; --regions narrows it.
REGIONS = (
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)

# The documented columns, in the documented order (Hive types).
COLUMNS = """    eventversion STRING,
    useridentity STRUCT<
        type: STRING,
        principalid: STRING,
        arn: STRING,
        accountid: STRING,
        invokedby: STRING,
        accesskeyid: STRING,
        username: STRING,
        onbehalfof: STRUCT<
            userid: STRING,
            identitystorearn: STRING>,
        sessioncontext: STRUCT<
            attributes: STRUCT<
                mfaauthenticated: STRING,
                creationdate: STRING>,
            sessionissuer: STRUCT<
                type: STRING,
                principalid: STRING,
                arn: STRING,
                accountid: STRING,
                username: STRING>,
            ec2roledelivery: STRING,
            webidfederationdata: STRUCT<
                federatedprovider: STRING,
                attributes: MAP<STRING, STRING>>>>,
    eventtime STRING,
    eventsource STRING,
    eventname STRING,
    awsregion STRING,
    sourceipaddress STRING,
    useragent STRING,
    errorcode STRING,
    errormessage STRING,
    requestparameters STRING,
    responseelements STRING,
    additionaleventdata STRING,
    requestid STRING,
    eventid STRING,
    readonly STRING,
    resources ARRAY<STRUCT<
        arn: STRING,
        accountid: STRING,
        type: STRING>>,
    eventtype STRING,
    apiversion STRING,
    recipientaccountid STRING,
    serviceeventdetails STRING,
    sharedeventid STRING,
    vpcendpointid STRING,
    vpcendpointaccountid STRING,
    eventcategory STRING,
    addendum STRUCT<
        reason: STRING,
        updatedfields: STRING,
        originalrequestid: STRING,
        originaleventid: STRING>,
    sessioncredentialfromconsole STRING,
    edgedevicedetails STRING,
    tlsdetails STRUCT<
        tlsversion: STRING,
        ciphersuite: STRING,
        clienthostheader: STRING>"""

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")
_ORGANIZATION = re.compile(r"^o-[a-z0-9]{10,32}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


@dataclass(frozen=True, slots=True)
class TrailLocation:
    """Where a trail delivers: bucket, optional prefix, and the organization ID of an org trail."""

    bucket: str
    prefix: str = ""
    organization: str | None = None

    def __post_init__(self) -> None:
        if not _BUCKET.match(self.bucket) or ".." in self.bucket:
            raise HuntError(f"--bucket {self.bucket!r} is not an S3 bucket name")
        if self.prefix and not _PREFIX.match(self.prefix):
            raise HuntError(f"--prefix {self.prefix!r}: give the key prefix without leading or trailing '/'")
        if self.organization is not None and not _ORGANIZATION.match(self.organization):
            raise HuntError(f"--organization {self.organization!r} is not an organization ID (o-...)")

    @property
    def root(self) -> str:
        """The folder above the account folders."""
        parts = [self.bucket, *([self.prefix] if self.prefix else []), "AWSLogs"]
        if self.organization:
            parts.append(self.organization)
        return "s3://" + "/".join(parts) + "/"


def _checked(values: tuple[str, ...], pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    for value in values:
        if not pattern.match(value):
            raise HuntError(f"{value!r} is not {what}")
    return values


def ddl(
    location: TrailLocation,
    *,
    table: str = TABLE,
    regions: tuple[str, ...] = REGIONS,
    accounts: tuple[str, ...] = (),
    start: date = date(2020, 1, 1),
) -> str:
    """`CREATE EXTERNAL TABLE` with partition projection on account, region and date.

    Without `accounts` the account partition is `injected`: every query must then name its
    accounts (`hunt --account`), which suits an organization whose accounts come and go.
    """
    regions = _checked(regions, _REGION, "a region name")
    accounts = _checked(accounts, _ACCOUNT, "a 12-digit account ID")
    properties = [
        ("projection.enabled", "true"),
        ("projection.date.type", "date"),
        ("projection.date.format", "yyyy/MM/dd"),
        ("projection.date.range", f"{start:%Y/%m/%d},NOW"),
        ("projection.date.interval", "1"),
        ("projection.date.interval.unit", "DAYS"),
        ("projection.region.type", "enum"),
        ("projection.region.values", ",".join(regions)),
        ("projection.account.type", "enum" if accounts else "injected"),
        *([("projection.account.values", ",".join(accounts))] if accounts else []),
        ("storage.location.template", location.root + "${account}/CloudTrail/${region}/${date}"),
    ]
    props = ",\n".join(f"  {literal(k)} = {literal(v)}" for k, v in properties)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {table} (\n{COLUMNS}\n)\n"
        "PARTITIONED BY (account STRING, region STRING, `date` STRING)\n"
        "ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'\n"
        "STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n"
        f"LOCATION {literal(location.root)}\n"
        f"TBLPROPERTIES (\n{props}\n)"
    )


@dataclass(frozen=True, slots=True)
class ScanEstimate:
    """What a hunt over a date range scans and costs on Athena."""

    days: int
    bytes: int
    usd: float


def scan_estimate(since: date, until: date, bytes_per_day: int, prices: dict[str, Any]) -> ScanEstimate:
    """Days scanned (the query widens the range by a day each side) times the bytes of a day.

    Athena bills the compressed bytes read, rounded up to the megabyte, at least 10 MB a query.
    """
    days = (until - since).days + 3
    scanned = days * bytes_per_day
    billed_mb = max(math.ceil(scanned / 1e6), prices["athena_minimum_mb_per_query"])
    return ScanEstimate(days, scanned, billed_mb / 1e6 * prices["athena_per_tb_scanned"])
