"""The detector's state in one DynamoDB table (partition key `pk`, TTL attribute `ttl`).

Each operation is a single conditional or atomic write, so concurrent invocations agree on who
claimed what without locks. Items: `event#ID` (delivery), claims, sets and counters by key.

Keys hold attacker-chosen text (parameter names, principals, event IDs), and DynamoDB refuses a
partition key over 2,048 bytes, so every key is stored as its kind (the text before the first `#`,
which paramwatch chooses) and a SHA-256 of the whole key: 70 bytes at most, whatever is read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from paramwatch.state import Claim, Delivery, Gathered, Member

_CONDITION_FAILED = "ConditionalCheckFailedException"


_FOREVER = 2**31 - 1
_OPEN = "attribute_exists(pk) AND attribute_not_exists(#x)"
_INCIDENT_NAMES = {
    "#l": "lead",
    "#c": "calls",
    "#k": "call_order",
    "#n": "names",
    "#s": "secrets",
    "#x": "closed",
    "#t": "ttl",
}


def _ttl(expires: float) -> int:
    return int(min(expires, _FOREVER))


def storage_key(key: str) -> str:
    """The bounded partition key for a state key: its kind and a digest of the whole key."""
    kind = key.split("#", 1)[0][:16]
    return f"{kind}#{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"


class DynamoState:
    """`paramwatch.state.State` on a DynamoDB table resource (`boto3.resource("dynamodb").Table`)."""

    def __init__(self, table: Any, lease_seconds: int = 120) -> None:
        self._table = table
        self._lease = lease_seconds

    def begin(self, event_id: str, now: float, expires: float) -> Delivery:
        key = storage_key(f"event#{event_id}")
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
            Key={"pk": storage_key(f"event#{event_id}")},
            UpdateExpression="SET #s = :done",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":done": "done"},
        )

    def abandon(self, event_id: str) -> None:
        try:
            self._table.delete_item(
                Key={"pk": storage_key(f"event#{event_id}")},
                ConditionExpression="#s = :busy",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":busy": "busy"},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != _CONDITION_FAILED:
                raise

    def claim(self, key: str, claim: Claim, expires: float) -> Claim:
        key = storage_key(key)
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
            return _claim_of(item)
        return claim

    def peek(self, key: str) -> Claim | None:
        item = self._table.get_item(Key={"pk": storage_key(key)}, ConsistentRead=True).get("Item")
        return None if item is None or "owner" not in item else _claim_of(item)

    def add_members(self, key: str, members: Iterable[str], expires: float, cap: int) -> int:
        key = storage_key(key)
        values = set(members)
        if not values:
            return self._size(key)
        try:
            got = self._table.update_item(
                Key={"pk": key},
                UpdateExpression="ADD members :m SET #t = if_not_exists(#t, :t)",
                ConditionExpression="attribute_not_exists(members) OR size(members) < :cap",
                ExpressionAttributeNames={"#t": "ttl"},
                ExpressionAttributeValues={":m": values, ":t": _ttl(expires), ":cap": cap},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != _CONDITION_FAILED:
                raise
            return cap  # full: the set takes no more members
        return len(got["Attributes"]["members"])

    def members(self, key: str) -> frozenset[str]:
        item = self._table.get_item(Key={"pk": storage_key(key)}, ConsistentRead=True).get("Item", {})
        return frozenset(str(m) for m in item.get("members", ()))

    def minimum(self, key: str, value: float) -> float:
        key = storage_key(key)
        number = Decimal(str(value))
        try:
            self._table.update_item(
                Key={"pk": key},
                UpdateExpression="SET v = :v, #t = :t",
                ConditionExpression="attribute_not_exists(v) OR v > :v",
                ExpressionAttributeNames={"#t": "ttl"},
                ExpressionAttributeValues={":v": number, ":t": _FOREVER},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != _CONDITION_FAILED:
                raise
            item = self._table.get_item(Key={"pk": key}, ConsistentRead=True)["Item"]
            return float(item["v"])
        return value

    def increment(self, key: str, expires: float) -> int:
        key = storage_key(key)
        got = self._table.update_item(
            Key={"pk": key},
            UpdateExpression="ADD n :one SET #t = if_not_exists(#t, :t)",
            ExpressionAttributeNames={"#t": "ttl"},
            ExpressionAttributeValues={":one": 1, ":t": _ttl(expires)},
            ReturnValues="ALL_NEW",
        )
        return int(got["Attributes"]["n"])

    def count(self, key: str) -> int:
        item = self._table.get_item(Key={"pk": storage_key(key)}).get("Item", {})
        return int(item.get("n", 0))

    def point(self, key: str, owner: str, now: float, until: float, replacing: str | None) -> str:
        key = storage_key(key)
        condition = "attribute_not_exists(pk) OR #o = :owner OR #u <= :now"
        values: dict[str, Any] = {":owner": owner, ":now": Decimal(str(now))}
        if replacing is not None:
            condition += " OR #o = :replacing"
            values[":replacing"] = replacing
        try:
            self._table.put_item(
                Item={"pk": key, "owner": owner, "until": Decimal(str(until)), "ttl": _ttl(until + 86400)},
                ConditionExpression=condition,
                ExpressionAttributeNames={"#o": "owner", "#u": "until"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != _CONDITION_FAILED:
                raise
            return str(self._table.get_item(Key={"pk": key}, ConsistentRead=True)["Item"]["owner"])
        return owner

    def pointed(self, key: str, now: float) -> str | None:
        item = self._table.get_item(Key={"pk": storage_key(key)}, ConsistentRead=True).get("Item")
        return str(item["owner"]) if item and "until" in item and float(item["until"]) > now else None

    def gather(self, key: str, member: Member, lead: str | None, caps: tuple[int, int, int], expires: float) -> bool:
        """One conditional write per part of the member, each refused once the incident is closed.

        The opener creates the item with empty maps first (a map entry cannot be set in the same
        write that creates its map). A call is kept per path digest; a secret counts in a capped
        set of digests, and its name in a map of the first names.
        """
        key = storage_key(key)
        calls, names, secrets = caps
        if lead is not None and not self._update(
            key,
            "SET #l = if_not_exists(#l, :lead), #c = if_not_exists(#c, :none), #k = if_not_exists(#k, :none), "
            "#n = if_not_exists(#n, :none), #t = if_not_exists(#t, :t)",
            "attribute_not_exists(#x)",
            {":lead": lead, ":none": {}, ":t": _ttl(expires)},
        ):
            return False
        if member.call is not None:
            digest, order, text = member.call
            kept = self._update(
                key,
                "SET #c.#d = :call, #k.#d = :order",
                f"{_OPEN} AND (size(#c) < :cap OR attribute_exists(#c.#d)) "
                "AND (attribute_not_exists(#k.#d) OR #k.#d > :order)",
                {":call": text, ":order": order, ":cap": calls},
                digest,
            )
            if kept is None:
                # refused: closed, full, or an earlier call of the same path is kept (then joined)
                held = self._table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item")
                if held is None or "closed" in held or digest not in held.get("calls", {}):
                    return False
        if member.secret is not None:
            digest, name = member.secret
            item = self._update(
                key,
                "ADD #s :d",
                f"{_OPEN} AND (attribute_not_exists(#s) OR size(#s) < :cap)",
                {":d": {digest}, ":cap": secrets},
            )
            if item is None:
                held = self._table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item")
                if held is None or "closed" in held:
                    return False
                item = held  # full: the count stays at its cap
            if len(item.get("names", {})) < names:
                self._update(
                    key,
                    "SET #n.#d = if_not_exists(#n.#d, :name)",
                    f"{_OPEN} AND (size(#n) < :cap OR attribute_exists(#n.#d))",
                    {":name": name, ":cap": names},
                    digest,
                )
        return True

    def close(self, key: str) -> Gathered | None:
        item = self._update(storage_key(key), "SET #x = :yes", "attribute_exists(pk)", {":yes": 1})
        if item is None:
            return None
        return Gathered(
            lead=str(item.get("lead", "")),
            calls={str(k): str(v) for k, v in item.get("calls", {}).items()},
            names=frozenset(str(v) for v in item.get("names", {}).values()),
            count=len(item.get("secrets", ())),
        )

    def _update(self, key: str, expression: str, condition: str, values: dict[str, Any], entry: str = "") -> Any:
        """A conditional update of an incident; the item as it now stands, or None when the
        condition failed. Attribute names go through placeholders (several are reserved words)."""
        used = {**_INCIDENT_NAMES, **({"#d": entry} if entry else {})}
        text = expression + condition
        try:
            got = self._table.update_item(
                Key={"pk": key},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={k: v for k, v in used.items() if k in text},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != _CONDITION_FAILED:
                raise
            return None
        return got["Attributes"]

    def _size(self, key: str) -> int:
        item = self._table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item", {})
        return len(item.get("members", ()))


def _claim_of(item: dict[str, Any]) -> Claim:
    return Claim(owner=str(item["owner"]), note={k: str(v) for k, v in item.get("note", {}).items()})
