"""Which grant allows an access; and when none does, the nearest grant and the condition it failed.

A responder paged for an unauthorized read needs to know whether it is a stranger or a known
service one condition away from its grant ("orders-api may read this, but only from 10.0.0.0/8;
this call came from 203.0.113.9"). The same ordered checks decide and explain, so an explanation
can never disagree with the verdict.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from paramwatch.access import Access
from paramwatch.allowlist import DAYS, Allowlist, Grant, is_private_range
from paramwatch.escape import safe
from paramwatch.findings import NearMiss


class Condition(StrEnum):
    """A grant's conditions, in the order they are checked."""

    PRINCIPAL = "principal"
    PATH = "path"
    PARAMETER = "parameter"
    NETWORK = "network"
    TIME_UNKNOWN = "time-unknown"
    EXPIRED = "expired"
    HOURS = "hours"


# Nearest first: the grant names principal and parameter and failed only on how or when, then the
# grant names the principal but not what was read.
_NEARNESS = {
    Condition.EXPIRED: 0,
    Condition.NETWORK: 0,
    Condition.HOURS: 0,
    Condition.TIME_UNKNOWN: 0,
    Condition.PARAMETER: 1,
    Condition.PATH: 1,
}


NO_GRANT = NearMiss(None, None, None, None, "No grant names this principal.")


def failed_condition(grant: Grant, access: Access, principal: str) -> Condition | None:
    """The first condition of `grant` the access fails; None when the grant allows it.

    TIME_UNKNOWN means only an unreadable eventTime kept the grant from deciding.
    """
    if not grant.allows_principal(principal) and not _account_only_match(grant, access):
        return Condition.PRINCIPAL
    if access.path is not None and not grant.allows_subtree(access.path, access.arn_of("")):
        return Condition.PATH
    if not all(grant.allows_parameter(p, access.arn_of(p)) for p in access.parameters):
        return Condition.PARAMETER
    if not access.via_ssm and not grant.allows_source(
        access.source_ip, access.vpc_endpoint, access.vpc_endpoint_account, access.invoked_by
    ):
        return Condition.NETWORK
    if grant.hours is None and grant.expires is None:
        return None
    if access.event_time is None:
        return Condition.TIME_UNKNOWN
    if grant.expired_at(access.event_time):
        return Condition.EXPIRED
    if grant.hours is not None and not grant.hours.allows(access.event_time):
        return Condition.HOURS
    return None


def _account_only_match(grant: Grant, access: Access) -> bool:
    """An `AWSAccount` identity is "another account": one that names the account whose trail
    recorded the call (or a record without recipientAccountId) says nothing of who in it called,
    so no grant written for a principal of that account covers it."""
    account = access.principal.account
    return access.principal.type == "AWSAccount" and access.cross_account and grant.allows_account_of(account or "")


def _candidates(access: Access, allowlist: Allowlist) -> list[Grant]:
    """The grants that may name the principal: every grant for an identity that names only an account."""
    if access.principal.type == "AWSAccount":
        return list(allowlist.grants)
    return allowlist.grants_for(access.principal.arn or "")


def granted_by(access: Access, allowlist: Allowlist) -> tuple[Grant | None, bool]:
    """The first grant that allows the access, and whether a grant failed only on unknown time."""
    if access.principal.arn is None:
        return None, False
    time_unknown = False
    for grant in _candidates(access, allowlist):
        failed = failed_condition(grant, access, access.principal.arn)
        if failed is None:
            return grant, False
        time_unknown = time_unknown or failed is Condition.TIME_UNKNOWN
    return None, time_unknown


def granting(access: Access, allowlist: Allowlist) -> list[Grant]:
    """Every grant that allows the access, in document order."""
    if access.principal.arn is None:
        return []
    arn = access.principal.arn
    return [grant for grant in _candidates(access, allowlist) if failed_condition(grant, access, arn) is None]


def nearest(access: Access, allowlist: Allowlist) -> NearMiss:
    """The nearest grant to allowing `access` (first in document order among the nearest)."""
    if access.principal.arn is None:
        return NO_GRANT
    best: tuple[int, Grant, Condition] | None = None
    for grant in _candidates(access, allowlist):
        failed = failed_condition(grant, access, access.principal.arn)
        rank = _NEARNESS.get(failed) if failed is not None else None
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, grant, failed)
    if best is None:
        return NO_GRANT
    _, grant, failed = best
    observed, text = _explain(grant, failed, access)
    return NearMiss(grant.name, grant.owner, str(failed), observed, text)


def _label(grant: Grant) -> str:
    owner = f" (owner {safe(grant.owner, 120)})" if grant.owner else ""
    return f"grant '{safe(grant.name, 128)}'{owner}"


def _where_from(grant: Grant) -> str:
    """The grant's source condition in words: public ranges, anchors (narrowed by the private
    ranges), services."""
    private = [safe(c, 64) for c, n in zip(grant.source_cidrs, grant.networks, strict=True) if is_private_range(n)]
    ways = [
        f"from {safe(c, 64)}"
        for c, n in zip(grant.source_cidrs, grant.networks, strict=True)
        if not is_private_range(n)
    ]
    anchors = [safe(e, 64) for e in grant.vpc_endpoints]
    anchors += [f"an endpoint owned by {safe(a, 16)}" for a in grant.vpc_endpoint_accounts]
    if anchors:
        ways.append(f"through {' or '.join(anchors)}" + (f" from {' or '.join(private)}" if private else ""))
    ways += [f"when made by {safe(s, 64)}" for s in grant.via_services]
    return " or ".join(ways)


def _local(moment: datetime, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo(timezone))
    return f"{DAYS[local.weekday()]} {local:%H:%M} {timezone}"


def _explain(grant: Grant, failed: Condition, access: Access) -> tuple[str, str]:
    """The observed value and an escaped sentence saying what the grant allows and what happened."""
    both = f"{_label(grant)} allows this principal and parameter"
    if failed is Condition.NETWORK:
        observed = access.source_ip or "an unknown address"
        via = f" via {safe(access.vpc_endpoint, 64)}" if access.vpc_endpoint else " (no VPC endpoint)"
        if access.vpc_endpoint and access.vpc_endpoint_account:
            via += f" owned by {safe(access.vpc_endpoint_account, 16)}"
        if access.invoked_by:
            via += f", made by {safe(access.invoked_by, 64)}"
        if access.vpc_endpoint and not all(is_private_range(n) for n in grant.networks):
            via += " (public ranges match only calls through no VPC endpoint: behind one, the VPC picks the address)"
        return observed, f"{both}, but only {_where_from(grant)}; this call came from {safe(observed, 64)}{via}."
    if failed is Condition.EXPIRED:
        observed = access.raw_event_time
        return observed, (
            f"{_label(grant)} allowed this principal and parameter until it expired on "
            f"{grant.expires}; this call was at {safe(observed, 40)}."
        )
    if failed is Condition.HOURS:
        hours = grant.hours
        observed = _local(access.event_time, hours.timezone)
        days = ",".join(hours.days)
        return observed, (
            f"{both}, but only {days} {hours.start:%H:%M}-{hours.end:%H:%M} {hours.timezone}; "
            f"this call was on {observed}."
        )
    if failed is Condition.TIME_UNKNOWN:
        observed = access.raw_event_time
        return observed, f"{both} at some times only, and this call's eventTime {safe(observed, 40)} is unreadable."
    if failed is Condition.PATH:
        observed = access.path or ""
        return observed, f"{_label(grant)} allows this principal, but not everything under path {safe(observed)}."
    missing = [p for p in access.parameters if not grant.allows_parameter(p, access.arn_of(p))]
    observed = missing[0] if missing else ""
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    return observed, f"{_label(grant)} allows this principal, but not parameter {safe(observed)}{more}."
