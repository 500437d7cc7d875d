"""A pydantic model of the CloudTrail record, as found in S3 log files and in EventBridge `detail`.

Powertools ships no CloudTrail model. This one types only the fields paramwatch judges, ignores the
rest (copying it would cost time on every event), and rejects a record whose typed fields have the
wrong type, so that such a record becomes an `invalid-event` finding instead of a crash or a skip.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class SessionIssuer(_Lenient):
    type: str | None = None
    arn: str | None = None
    account_id: str | None = Field(default=None, alias="accountId")
    user_name: str | None = Field(default=None, alias="userName")


class SessionContext(_Lenient):
    session_issuer: SessionIssuer | None = Field(default=None, alias="sessionIssuer")


class UserIdentity(_Lenient):
    type: str | None = None
    principal_id: str | None = Field(default=None, alias="principalId")
    arn: str | None = None
    account_id: str | None = Field(default=None, alias="accountId")
    user_name: str | None = Field(default=None, alias="userName")
    invoked_by: str | None = Field(default=None, alias="invokedBy")
    session_context: SessionContext | None = Field(default=None, alias="sessionContext")


class CloudTrailRecord(_Lenient):
    """One CloudTrail record (`Records[i]` in a log file, `detail` in an EventBridge event)."""

    event_id: str = Field(alias="eventID", min_length=1)
    event_time: str = Field(alias="eventTime")
    event_source: str = Field(alias="eventSource")
    event_name: str = Field(alias="eventName")
    aws_region: str | None = Field(default=None, alias="awsRegion")
    source_ip_address: str | None = Field(default=None, alias="sourceIPAddress")
    user_agent: str | None = Field(default=None, alias="userAgent")
    user_identity: UserIdentity | None = Field(default=None, alias="userIdentity")
    request_parameters: dict[str, Any] | None = Field(default=None, alias="requestParameters")
    error_code: str | None = Field(default=None, alias="errorCode")
    vpc_endpoint_id: str | None = Field(default=None, alias="vpcEndpointId")
    vpc_endpoint_account_id: str | None = Field(default=None, alias="vpcEndpointAccountId")
    resources: list[Any] | None = None
    recipient_account_id: str | None = Field(default=None, alias="recipientAccountId")
    # Read only by the tamper rules (a new allowlist version, a key's ARN); never logged or sent.
    response_elements: Any = Field(default=None, alias="responseElements")
    resources: Any = Field(default=None, alias="resources")

    @field_validator("event_id")
    @classmethod
    def _no_key_separator(cls, value: str) -> str:
        """CloudTrail's event IDs are UUIDs; '#' separates the parts of paramwatch's state keys and
        claim owners, so an ID holding one is a crafted record, judged as an invalid event."""
        if "#" in value:
            raise ValueError("holds '#', which no CloudTrail event ID does (they are UUIDs)")
        return value


MAX_DEPTH = 64
"""Deeper than any CloudTrail record (a few levels of `requestParameters`); Python recurses on it."""
MAX_BYTES = 1 << 20
"""EventBridge delivers at most 256 KB; a record bigger than this is built to exhaust, not to read."""


NESTED_FIELDS = ("requestParameters", "userIdentity", "resources")
"""The nested fields the model reads; the others (responseElements, ...) are never walked."""


def oversize(record: Any) -> str | None:
    """Why a decoded record is too deep or too big to judge safely, or None. It walks the nested
    fields paramwatch reads, iteratively (so it cannot itself run out of stack), pushing only
    containers, and stops at the first limit crossed."""
    if type(record) is not dict:
        return None
    stack: list[tuple[Any, int]] = [(record.get(key), 2) for key in NESTED_FIELDS]
    size = 0
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"the record is nested deeper than {MAX_DEPTH} levels"
        if type(node) is dict:
            size += sum(len(k) for k in node if type(k) is str) + 4 * len(node)
            values = node.values()
        elif type(node) is list:
            values = node
        else:
            continue
        for value in values:
            kind = type(value)
            if kind is dict or kind is list:
                stack.append((value, depth + 1))
            elif kind is str:
                size += len(value) + 2
            else:
                size += 8
        if size > MAX_BYTES:
            return f"the record is larger than {MAX_BYTES} bytes"
    return None


def detail_of(event: Any) -> Any:
    """The CloudTrail record an EventBridge event carries, knowing which account it came from.

    A record forwarded from a member account keeps its `recipientAccountId`; should one lack it,
    the envelope's `account` (set by AWS, not by the sender) says where the call was recorded.
    Anything that is not an EventBridge event is returned unchanged.
    """
    if not (isinstance(event, dict) and "detail-type" in event and "detail" in event):
        return event
    detail = event["detail"]
    account = event.get("account")
    if isinstance(detail, dict) and "recipientAccountId" not in detail and isinstance(account, str):
        return {**detail, "recipientAccountId": account}
    return detail
