"""Liveness: which heartbeat leg, of this stack or of a member account and region, has gone silent.

The canary's legs (and, in organization mode, every member account and region's, member.yaml)
reach the evaluator, which records each leg's last arrival in the state table. A CloudWatch series
and alarm per leg would cost 0.40 USD a month each, and a member's could have no alarm the template
can list; instead the central canary, every heartbeat period, pages once per leg gone silent and
publishes one aggregate `SilentHeartbeats` count, which one alarm watches. This module holds the
arithmetic and the page's words; the storage lives in `paramwatch_aws.liveness_store`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from paramwatch.heartbeat import KMS_LEG, SSM_LEG, TAMPER_LEG

SILENT_PERIODS = 3  # as the central heartbeat alarms: one late period is EventBridge's best effort
FORGET_DAYS = 7  # a member silent this long is forgotten (its account closed, its region removed)
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_LEGS = (SSM_LEG, KMS_LEG, TAMPER_LEG)


@dataclass(frozen=True, slots=True, order=True)
class Member:
    """One member account and region's heartbeat leg. Only well-formed values are ever built."""

    account: str
    region: str
    leg: str

    @property
    def key(self) -> str:
        return f"{self.account}:{self.region}:{self.leg}"

    @classmethod
    def parse(cls, key: str) -> Member | None:
        """The member a stored key names, or None for anything that is not one."""
        parts = key.split(":")
        return cls.of(*parts) if len(parts) == 3 else None

    @classmethod
    def of(cls, account: str | None, region: str | None, leg: str) -> Member | None:
        """A member from a heartbeat's account and region, or None when either is malformed.

        CloudTrail writes both, but they end up in keys and page subjects, so they are checked.
        """
        if not account or not region or not _ACCOUNT.fullmatch(account) or not _REGION.fullmatch(region):
            return None
        return cls(account, region, leg) if leg in _LEGS else None


def account_of(function_arn: str) -> str | None:
    """The account in a Lambda function's ARN (the context's `invoked_function_arn`): the stack's own."""
    parts = function_arn.split(":")
    return parts[4] if len(parts) > 4 else None


def silent_after(heartbeat_minutes: int) -> float:
    """Seconds without a heartbeat after which a member counts as silent."""
    return SILENT_PERIODS * heartbeat_minutes * 60.0


def is_silent(last_seen: float, now: float, heartbeat_minutes: int) -> bool:
    return now - last_seen > silent_after(heartbeat_minutes)


_CHECK_HOME = {
    SSM_LEG: (
        "is the trail logging with read management events ('paramwatch doctor' checks the trail, rules, "
        "subscriptions and queues), are the read rules enabled with their State, then the canary "
        "function's errors and the evaluator's errors"
    ),
    KMS_LEG: (
        "if the ssm leg still beats: does the trail exclude KMS events ('paramwatch doctor'), then "
        "whether the ParameterDecryptRule is enabled and still targets the evaluator"
    ),
    TAMPER_LEG: (
        "is the tamper rule ENABLED and does it still target the evaluator ('paramwatch doctor'); if the "
        "read legs stopped too, the trail"
    ),
}
_CHECK_FIRST = {
    SSM_LEG: (
        "the member stack in that account and region (its rules, State "
        "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS, still target the central bus; its dead-letter "
        "queue), whether a trail there still logs read management events, then the member canary's "
        "log group /paramwatch/member/canary"
    ),
    KMS_LEG: (
        "whether the trail there excludes KMS events (if the ssm leg still beats), then the member "
        "stack's Decrypt rule and its target"
    ),
    TAMPER_LEG: "the member stack's write-event rule and the trail's write events",
}


@dataclass(frozen=True, slots=True)
class SilentPage:
    """The operations page for one silent member: an ASCII subject under 100 characters, a body."""

    subject: str
    body: str


def silent_page(member: Member, last_seen: float, heartbeat_minutes: int, stack: str, home: bool = False) -> SilentPage:
    """What the operations topic gets, once, when a leg goes silent (`home`: the stack's own)."""
    seen = datetime.fromtimestamp(last_seen, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    minutes = SILENT_PERIODS * heartbeat_minutes
    if home:
        subject = f"paramwatch may be blind: no {member.leg} heartbeat in {member.region}"
        body = "\n".join(
            [
                f"paramwatch ({stack}) has had no {member.leg} heartbeat from its own canary in account "
                f"{member.account}, {member.region}, for more than {minutes} minutes (last one at {seen}).",
                "Reads of secrets may go unseen until it beats again.",
                "",
                f"Check first: {_CHECK_HOME[member.leg]}.",
                f"Then: paramwatch doctor --stack {stack}.",
                "",
                "This page is sent once per silence; the HeartbeatAlarm stays in ALARM while any leg is silent.",
            ]
        )
        return SilentPage(subject=subject[:99], body=body)
    subject = f"paramwatch: member {member.account} {member.region} silent ({member.leg} leg)"
    body = "\n".join(
        [
            f"paramwatch ({stack}) has had no {member.leg} heartbeat from account {member.account} in "
            f"{member.region} for more than {minutes} minutes (last one at {seen}).",
            "Reads of secrets there may go unseen until it beats again.",
            "",
            f"Check first: {_CHECK_FIRST[member.leg]}.",
            f"Then: paramwatch doctor --stack {stack} (its 'members' lines).",
            "",
            "This page is sent once per silence; the HeartbeatAlarm stays in ALARM while any member "
            f"is silent. A member silent for {FORGET_DAYS} days is forgotten (an account closed, a region "
            "removed from the StackSet).",
        ]
    )
    return SilentPage(subject=subject[:99], body=body)
