"""The detector's state in one DynamoDB table (partition key `pk`, TTL attribute `ttl`).

Each operation is a single conditional or atomic write, so concurrent invocations agree on who
claimed what without locks. Items: `event#ID` (delivery), claims, sets and counters by key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from paramwatch.state import Claim, Delivery

_CONDITION_FAILED = "ConditionalCheckFailedException"


def _ttl(expires: float) -> int:
    return int(min(expires, 2**31 - 1))


class DynamoState:
    """`paramwatch.state.State` on a DynamoDB table resource (`boto3.resource("dynamodb").Table`)."""

    def __init__(self, table: Any, lease_seconds: int = 120) -> None:
        self._table = table
        self._lease = lease_seconds

    def begin(self, event_id: str, now: float, expires: float) -> Delivery:
        key = f"event#{event_id}"
        try:
            self._table.put_item(
                Item={"pk": key, "status": "busy", "lease": int(now) + self._lease, "ttl": _ttl(expires)},
                ConditionExpression="attribute_not_exists(pk) OR (#s = :busy AND lease < :now)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":busy": "busy", ":now": int(now)},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != _CONDITION_FAILED:
                raise
            item = self._table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item", {})
            return Delivery.DONE if item.get("status") == "done" else Delivery.BUSY
        return Delivery.NEW

    def finish(self, event_id: str) -> None:
        self._table.update_item(
            Key={"pk": f"event#{event_id}"},
            UpdateExpression="SET #s = :done",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":done": "done"},
        )

    def abandon(self, event_id: str) -> None:
        try:
            self._table.delete_item(
                Key={"pk": f"event#{event_id}"},
                ConditionExpression="#s = :busy",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":busy": "busy"},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != _CONDITION_FAILED:
                raise

    def claim(self, key: str, claim: Claim, expires: float) -> Claim:
        try:
            self._table.put_item(
                Item={"pk": key, "owner": claim.owner, "note": dict(claim.note), "ttl": _ttl(expires)},
                ConditionExpression="attribute_not_exists(pk) OR #o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": claim.owner},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != _CONDITION_FAILED:
                raise
            item = self._table.get_item(Key={"pk": key}, ConsistentRead=True)["Item"]
            return Claim(owner=str(item["owner"]), note={k: str(v) for k, v in item.get("note", {}).items()})
        return claim

    def add_members(self, key: str, members: Iterable[str], expires: float) -> int:
        values = set(members)
        if not values:
            return self._size(key)
        got = self._table.update_item(
            Key={"pk": key},
            UpdateExpression="ADD members :m SET #t = if_not_exists(#t, :t)",
            ExpressionAttributeNames={"#t": "ttl"},
            ExpressionAttributeValues={":m": values, ":t": _ttl(expires)},
            ReturnValues="ALL_NEW",
        )
        return len(got["Attributes"]["members"])

    def increment(self, key: str, expires: float) -> int:
        got = self._table.update_item(
            Key={"pk": key},
            UpdateExpression="ADD n :one SET #t = if_not_exists(#t, :t)",
            ExpressionAttributeNames={"#t": "ttl"},
            ExpressionAttributeValues={":one": 1, ":t": _ttl(expires)},
            ReturnValues="ALL_NEW",
        )
        return int(got["Attributes"]["n"])

    def count(self, key: str) -> int:
        item = self._table.get_item(Key={"pk": key}).get("Item", {})
        return int(item.get("n", 0))

    def _size(self, key: str) -> int:
        item = self._table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item", {})
        return len(item.get("members", ()))
