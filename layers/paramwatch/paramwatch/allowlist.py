"""The allowlist: a document with a schema, validated when it loads (c7n's `schema` + `validate()`).

A grant allows a set of principals to read a set of parameters, optionally only from given networks
and at given hours. Errors name the field and the reason, because a typo in an allowlist either
pages people all night or hides a real read.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from paramwatch.names import (
    arn_account,
    canonical_pattern,
    covers_subtree,
    glob_match,
    is_arn_pattern,
    principal_match,
)

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Pattern = Annotated[str, Field(min_length=1, max_length=2048)]
SERVICE_PRINCIPAL = r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)*\.amazonaws\.com(\.cn)?$"
AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
VPC_ENDPOINT_ID = r"^vpce-[0-9a-f]{8,17}$"


class AllowlistError(ValueError):
    """The allowlist document is broken; the message lists every problem with its field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid allowlist:\n" + "\n".join(f"  {p}" for p in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hours(_Strict):
    """Days and a local time window. `end` before `start` is a window across midnight."""

    days: list[Day] = Field(default_factory=lambda: list(DAYS), min_length=1)
    start: time
    end: time
    timezone: str = "UTC"

    @field_validator("start", "end", mode="before")
    @classmethod
    def _hh_mm(cls, value: Any) -> Any:
        if isinstance(value, str) and len(value) != 5:
            raise ValueError(f"time must be HH:MM, got {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only allowlists with hours need it

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _non_empty(self) -> Hours:
        if self.start == self.end:
            raise ValueError("start and end are equal: the window is empty")
        return self

    def allows(self, moment: datetime) -> bool:
        """True when `moment` (aware) falls inside the window, in the window's own time zone."""
        from zoneinfo import ZoneInfo

        local = moment.astimezone(ZoneInfo(self.timezone))
        day, now = DAYS[local.weekday()], local.time().replace(tzinfo=None)
        if self.start < self.end:
            return day in self.days and self.start <= now < self.end
        if now >= self.start:
            return day in self.days
        previous = DAYS[(local.weekday() - 1) % 7]
        return now < self.end and previous in self.days


PRIVATE_RANGES = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
"""RFC 1918, the shared address space of RFC 6598 and IPv6 unique local addresses: every VPC of every
account may use them, so an address in them says nothing about whose network a call came from."""
PRIVATE_RANGES_MAPPED = PRIVATE_RANGES + tuple(
    ipaddress.ip_network(f"::ffff:{n.network_address}/{96 + n.prefixlen}") for n in PRIVATE_RANGES if n.version == 4
)
"""The private ranges with their IPv4-mapped IPv6 forms, for matchers that keep the two apart."""
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_private(address: Address) -> bool:
    """True for an address in one of PRIVATE_RANGES (an IPv4-mapped IPv6 address counts as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return _contains(PRIVATE_RANGES, address)


def is_private_range(network: Network) -> bool:
    """True for a CIDR wholly inside one of PRIVATE_RANGES, or inside the IPv4-mapped IPv6 form of
    one (`::ffff:10.0.0.0/104` is 10.0.0.0/8 written another way)."""
    return any(network.version == net.version and network.subnet_of(net) for net in PRIVATE_RANGES_MAPPED)  # type: ignore[arg-type]


def _contains(networks: tuple[Network, ...], address: Address) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def _address(text: str | None) -> Address | None:
    """The source as an address (an IPv4-mapped IPv6 address stays IPv6 for range matching, as in
    hunt's SQL; `is_private` still sees the IPv4 inside it)."""
    try:
        return ipaddress.ip_address(text or "")
    except ValueError:
        return None


class Grant(_Strict):
    """Principals that may read parameters, optionally from given networks and at given hours.

    `owner` and `reason` say who asked for the grant and why, so that a grant can be questioned
    later; `expires` ends it, so that an exception for a project does not outlive the project.
    """

    name: str = Field(min_length=1, max_length=128)
    owner: str | None = Field(default=None, min_length=1, max_length=256)
    reason: str | None = Field(default=None, min_length=1, max_length=1024)
    expires: date | None = None
    principals: list[Pattern] = Field(min_length=1)
    parameters: list[Pattern] = Field(min_length=1)
    source_cidrs: list[str] = Field(
        default_factory=list,
        description="Public ranges match alone; private ranges (RFC 1918, 100.64.0.0/10, fc00::/7) only narrow "
        "vpc_endpoints or vpc_endpoint_accounts, and are an error without one.",
    )
    vpc_endpoints: list[Annotated[str, Field(pattern=VPC_ENDPOINT_ID)]] = Field(
        default_factory=list, description="The call came through one of these endpoints (vpcEndpointId)."
    )
    vpc_endpoint_accounts: list[str] = Field(
        default_factory=list,
        description="The call came through an endpoint owned by one of these accounts (vpcEndpointAccountId).",
    )
    via_services: list[str] = Field(
        default_factory=list,
        description="Service principals (userIdentity.invokedBy) whose calls for the principals are allowed "
        "instead of the network condition, like cloudformation.amazonaws.com.",
    )
    hours: Hours | None = None
    bulk_threshold: int | None = Field(
        default=None, ge=2, le=100000, description="bulk-retrieval threshold for the reads this grant allows."
    )
    bulk_window_minutes: int | None = Field(
        default=None, ge=1, le=1440, description="Window for bulk_threshold (default: BulkWindowMinutes)."
    )
    accounts: list[AccountId] = Field(default_factory=list)

    @field_validator("accounts", mode="before")
    @classmethod
    def _quoted_accounts(cls, value: Any) -> Any:
        return _account_ids(value)

    @field_validator("parameters")
    @classmethod
    def _canonical(cls, value: list[str]) -> list[str]:
        for i, pattern in enumerate(value):
            parts = pattern.split(":", 5)
            if is_arn_pattern(pattern) and (
                len(parts) != 6 or parts[2] not in ("ssm", "*") or not parts[5].startswith(("parameter/", "*"))
            ):
                raise ValueError(
                    f"[{i}] {pattern!r} is not an SSM parameter ARN pattern (arn:aws:ssm:REGION:ACCOUNT:parameter/PATH)"
                )
        return [canonical_pattern(p) for p in value]

    @field_validator("expires", mode="before")
    @classmethod
    def _a_date(cls, value: Any) -> Any:
        if isinstance(value, datetime) or (isinstance(value, str) and len(value) != 10):
            raise ValueError(f"expires must be a date YYYY-MM-DD, got {value!r}")
        return value

    def expired_at(self, moment: datetime) -> bool:
        """True from 00:00 UTC of the `expires` date on: the grant no longer allows anything."""
        return self.expires is not None and moment >= datetime.combine(self.expires, time(0), tzinfo=UTC)

    @field_validator("source_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for i, cidr in enumerate(value):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"[{i}] bad CIDR {cidr!r}") from exc
        return value

    @field_validator("vpc_endpoint_accounts", mode="before")
    @classmethod
    def _quoted_endpoint_accounts(cls, value: Any) -> Any:
        return _account_ids(value)

    @field_validator("vpc_endpoints", mode="before")
    @classmethod
    def _endpoint_ids(cls, value: Any) -> Any:
        for i, endpoint in enumerate(value if isinstance(value, list) else []):
            if isinstance(endpoint, str) and not re.fullmatch(VPC_ENDPOINT_ID, endpoint):
                raise ValueError(
                    f"[{i}] {endpoint!r} is not a VPC endpoint ID (vpce- and 8 to 17 lowercase hex digits, "
                    "as in vpcEndpointId)"
                )
        return value

    @field_validator("vpc_endpoint_accounts")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        for i, account in enumerate(value):
            if not re.fullmatch(r"\d{12}", account):
                raise ValueError(f"[{i}] {account!r} is not an AWS account ID (12 digits, as in vpcEndpointAccountId)")
        return value

    @field_validator("via_services")
    @classmethod
    def _services(cls, value: list[str]) -> list[str]:
        for i, service in enumerate(value):
            if not re.fullmatch(SERVICE_PRINCIPAL, service):
                raise ValueError(
                    f"[{i}] {service!r} is not a service principal: via_services is matched on "
                    "userIdentity.invokedBy, which names the service, like cloudformation.amazonaws.com"
                )
        return value

    @model_validator(mode="after")
    def _window_needs_threshold(self) -> Grant:
        if self.bulk_window_minutes is not None and self.bulk_threshold is None:
            raise ValueError("bulk_window_minutes needs bulk_threshold: a window alone changes nothing")
        return self

    @model_validator(mode="after")
    def _anchored(self) -> Grant:
        """A private range alone proves nothing (IAM Access Analyzer pairs aws:VpcSourceIp with
        aws:SourceVpce for the same reason): it needs an endpoint the grant names or trusts."""
        if self.vpc_endpoints or self.vpc_endpoint_accounts:
            return self
        for i, network in enumerate(self.networks):
            if is_private_range(network):
                raise ValueError(
                    f"source_cidrs[{i}]: {self.source_cidrs[i]} is a private range, and private addresses "
                    "repeat in every VPC of every account, so it would match a call from anyone's VPC; "
                    "anchor it with vpc_endpoints or vpc_endpoint_accounts (the endpoint the call must "
                    "come through), or remove it"
                )
        return self

    @cached_property
    def networks(self) -> tuple[Network, ...]:
        """Parsed `source_cidrs`."""
        return tuple(ipaddress.ip_network(c, strict=False) for c in self.source_cidrs)

    @cached_property
    def _private_networks(self) -> tuple[Network, ...]:
        return tuple(n for n in self.networks if is_private_range(n))

    def allows_principal(self, arn: str) -> bool:
        """Full-string glob match of a principal ARN, never a substring match.

        A wildcard in an ARN's account field matches one account only; with `accounts`, the
        principal's account must also be listed.
        """
        if self.accounts and arn_account(arn) not in self.accounts:
            return False
        return any(principal_match(p, arn) for p in self.principals)

    def allows_account_of(self, account: str) -> bool:
        """For an identity that names only an account (`AWSAccount`: a call from another account,
        as the key owner's trail logs a cross-account KMS call): true when some principal of the
        grant is in that account. The record says no more, so no grant can say more."""
        if self.accounts and account not in self.accounts:
            return False
        return any(
            len(parts) == 6 and parts[0] == "arn" and bool(parts[4]) and glob_match(parts[4], account)
            for parts in (p.split(":", 5) for p in self.principals)
        )

    def allows_parameter(self, parameter: str, arn: str | None = None) -> bool:
        """True when a pattern matches the parameter.

        `parameter` is a path for a parameter of the calling account and an ARN for another
        account's; `arn` is the full ARN of a calling-account parameter. Path patterns match only
        paths, so they never cover another account's parameters; ARN patterns match ARNs.
        """
        foreign = parameter.startswith("arn:")
        for pattern in self.parameters:
            if is_arn_pattern(pattern):
                target = parameter if foreign else arn
                if target and glob_match(pattern, target):
                    return True
            elif not foreign and glob_match(pattern, parameter):
                return True
        return False

    def allows_subtree(self, path: str, arn_prefix: str | None = None) -> bool:
        """True when the grant covers everything `GetParametersByPath(path)` may return."""
        return any(
            covers_subtree(p, arn_prefix + path) if is_arn_pattern(p) else covers_subtree(p, path)
            for p in self.parameters
            if arn_prefix or not is_arn_pattern(p)
        )

    def allows_source(
        self,
        source_ip: str | None,
        vpc_endpoint: str | None,
        vpc_endpoint_account: str | None = None,
        invoked_by: str | None = None,
    ) -> bool:
        """Where the call came from: a service in `via_services`, or the grant's network.

        The network matches a public source address in a public `source_cidrs` range when the call
        came through no VPC endpoint, or a call through an anchor (one of `vpc_endpoints`, or an
        endpoint owned by one of `vpc_endpoint_accounts`) whose address is in a private
        `source_cidrs` range when the grant lists any. A private address never matches without an
        anchor, nor does any address through an endpoint: a VPC's owner picks its CIDR, publicly
        routable ranges included, so behind an endpoint the address is only what that VPC says
        (IAM likewise drops aws:SourceIp for calls through an endpoint).
        """
        if invoked_by and invoked_by in self.via_services:
            return True
        if not (self.source_cidrs or self.vpc_endpoints or self.vpc_endpoint_accounts):
            return not self.via_services
        address = _address(source_ip)
        if not vpc_endpoint and address is not None and not is_private(address) and _contains(self.networks, address):
            return True
        anchored = bool(vpc_endpoint) and (
            vpc_endpoint in self.vpc_endpoints or (vpc_endpoint_account or "") in self.vpc_endpoint_accounts
        )
        if not anchored:
            return False
        if not self._private_networks:
            return True
        return address is not None and _contains(self._private_networks, address)


class Allowlist(_Strict):
    """The whole document: version, grants, honeytokens and the names of accounts."""

    version: Literal[1]
    grants: list[Grant] = Field(default_factory=list)
    honeytokens: list[Pattern] = Field(default_factory=list)
    # AWS public parameters (/aws/service/...) hold no secret; true judges their reads like any other
    judge_public_parameters: bool = False
    accounts: dict[AccountId, Annotated[str, Field(min_length=1, max_length=128)]] = Field(default_factory=dict)

    @field_validator("accounts", mode="before")
    @classmethod
    def _quoted_account_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            _account_ids(list(value))
        return value

    def account_name(self, account: str | None) -> str | None:
        """The name the `accounts` map gives an account ID, if any."""
        return self.accounts.get(account) if account else None

    @field_validator("honeytokens")
    @classmethod
    def _canonical(cls, value: list[str]) -> list[str]:
        return [canonical_pattern(p) for p in value]

    @model_validator(mode="after")
    def _unique_names(self) -> Allowlist:
        seen: set[str] = set()
        for grant in self.grants:
            if grant.name in seen:
                raise ValueError(f"grant name {grant.name!r} is used twice")
            seen.add(grant.name)
        return self

    @cached_property
    def _by_principal(self) -> tuple[dict[str, list[int]], list[int]]:
        exact: dict[str, list[int]] = {}
        wild: list[int] = []
        for index, grant in enumerate(self.grants):
            if any("*" in p or "?" in p for p in grant.principals):
                wild.append(index)
            else:
                for principal in grant.principals:
                    exact.setdefault(principal, []).append(index)
        return exact, wild

    @cached_property
    def has_bulk_thresholds(self) -> bool:
        """True when some grant carries its own `bulk_threshold`."""
        return any(grant.bulk_threshold is not None for grant in self.grants)

    def grants_for(self, principal: str) -> list[Grant]:
        """The grants whose principal patterns may match, in document order, without scanning all."""
        exact, wild = self._by_principal
        return [self.grants[i] for i in sorted({*exact.get(principal, ()), *wild})]


def _account_ids(value: Any) -> Any:
    """Account IDs must be quoted: YAML reads 011122223333 as an octal number, silently."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, int) and not isinstance(item, bool):
                raise ValueError(f"[{i}] account ID {item} must be a quoted string of 12 digits")
    return value


def schema() -> dict[str, Any]:
    """The JSON Schema of the allowlist document, for editors and reviewers."""
    return Allowlist.model_json_schema()


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def validate(document: Any) -> Allowlist:
    """Validate a parsed document; raise AllowlistError naming every bad field and why."""
    if not isinstance(document, dict):
        raise AllowlistError([f"(document): must be a mapping, got {type(document).__name__}"])
    try:
        return Allowlist.model_validate(document)
    except ValidationError as exc:
        problems = [f"{_where(err['loc'])}: {err['msg'].removeprefix('Value error, ')}" for err in exc.errors()]
        raise AllowlistError(problems) from None


@lru_cache(maxsize=8)
def parse(text: str) -> Allowlist:
    """Parse JSON or YAML text and validate it. Cached: a warm Lambda parses each version once."""
    try:
        document = json.loads(text)
    except ValueError:
        document = _parse_yaml(text) if text.strip() else None
    return validate(document)


def _parse_yaml(text: str) -> Any:
    """YAML for files people write; the stored parameter is JSON, so Lambda never imports yaml."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        # One line, where and what (PyYAML's own text spans three lines and names "<unicode string>").
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise AllowlistError([f"(document): not valid YAML or JSON: {where}{problem}"]) from None


EMPTY = Allowlist(version=1)


def with_honeytokens(allowlist: Allowlist, patterns: tuple[str, ...]) -> Allowlist:
    """The allowlist with `patterns` added to its honeytokens.

    The handler adds the stack's honeytoken prefix this way, so that decoys fire whatever the
    stored document says, and when it does not validate at all (judged as EMPTY plus these).
    """
    extra = [canonical_pattern(p) for p in patterns if p]
    missing = [p for p in extra if p not in allowlist.honeytokens]
    if not missing:
        return allowlist
    return allowlist.model_copy(update={"honeytokens": [*allowlist.honeytokens, *missing]})


def with_account_names(allowlist: Allowlist, names: Mapping[str, str]) -> Allowlist:
    """The allowlist with account names from elsewhere (AWS Organizations) under its own `accounts`.

    The allowlist's map wins: it is what its owners chose to call an account. The names stay text
    like any other in a finding, escaped wherever they are written.
    """
    missing = {account: name for account, name in names.items() if account not in allowlist.accounts}
    if not missing:
        return allowlist
    return allowlist.model_copy(update={"accounts": {**missing, **allowlist.accounts}})
