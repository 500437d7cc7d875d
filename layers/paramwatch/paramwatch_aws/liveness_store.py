"""Member heartbeats' last arrivals, in the state table (see `paramwatch.liveness`).

The table has a partition key only, so nothing can be listed without a scan. Each member leg gets
one item (`alive#ACCOUNT:REGION:LEG`, hashed like every state key) holding its last arrival `v`,
the arrival it was last paged for `p`, and a TTL of `FORGET_DAYS` after the last arrival; the first
arrival also adds the member to one of `SHARDS` registry sets (`alive-registry#N`, capped), which
the central canary and `paramwatch doctor` read to know whom to look up. A heartbeat costs one
small write, a new member one more; a check costs `SHARDS` plus one read per member leg.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from paramwatch.liveness import FORGET_DAYS, Member, is_silent, silent_page
from paramwatch_aws.dynamo_state import storage_key

SHARDS = 16
SHARD_CAP = 4000  # 64,000 member legs: about 150 KB an item at most, under DynamoDB's 400 KB
_BATCH = 100  # BatchGetItem's limit
_ATTEMPTS = 6
_FOREVER = 2**31 - 1


def _shard(member: Member) -> int:
    return hashlib.sha256(member.key.encode()).digest()[0] % SHARDS


def _registry(shard: int) -> str:
    return storage_key(f"alive-registry#{shard}")


def _item(member: Member) -> str:
    return storage_key(f"alive#{member.key}")


class LivenessStore:
    """Record, list and mark member heartbeats on a DynamoDB table resource."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def record(self, member: Member, now: float) -> bool:
        """Note an arrival; True when the member was not known (and is now registered)."""
        got = self._table.update_item(
            Key={"pk": _item(member)},
            UpdateExpression="SET v = :now, m = :m, #t = :ttl",
            ExpressionAttributeNames={"#t": "ttl"},
            ExpressionAttributeValues=_arrival(member, now),
            ReturnValues="UPDATED_OLD",
        )
        if "v" in got.get("Attributes", {}):
            return False
        try:
            self._table.update_item(
                Key={"pk": _registry(_shard(member))},
                UpdateExpression="ADD members :m SET #t = :forever",
                ConditionExpression="attribute_not_exists(members) OR size(members) < :cap",
                ExpressionAttributeNames={"#t": "ttl"},
                ExpressionAttributeValues={":m": {member.key}, ":forever": _FOREVER, ":cap": SHARD_CAP},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False  # the registry is full: the member beats but cannot be listed
        return True

    def expect(self, member: Member, now: float) -> None:
        """Make sure a leg that must beat (the stack's own) has an item: one never seen counts from now.

        An existing arrival is kept; the TTL is renewed, so that the stack's own legs are never
        forgotten, however long they stay silent.
        """
        self._table.update_item(
            Key={"pk": _item(member)},
            UpdateExpression="SET v = if_not_exists(v, :now), m = :m, #t = :ttl",
            ExpressionAttributeNames={"#t": "ttl"},
            ExpressionAttributeValues=_arrival(member, now),
        )

    def members(self) -> list[Member]:
        """Every registered member leg, sorted."""
        keys = [{"pk": _registry(shard)} for shard in range(SHARDS)]
        found = set()
        for item in self._get(keys):
            found |= {m for m in (Member.parse(str(key)) for key in item.get("members", ())) if m}
        return sorted(found)

    def last_seen(self, members: Iterable[Member]) -> dict[Member, tuple[float, float | None]]:
        """Each member's last arrival and the arrival it was paged for; absent when forgotten."""
        wanted = {_item(m): m for m in members}
        out = {}
        for item in self._get([{"pk": pk} for pk in wanted]):
            member = wanted.get(item["pk"])
            if member is not None and "v" in item:
                out[member] = (float(item["v"]), float(item["p"]) if "p" in item else None)
        return out

    def mark_paged(self, member: Member, last_seen: float) -> bool:
        """Note that this silence was paged; False when another run already did (page nothing)."""
        try:
            self._table.update_item(
                Key={"pk": _item(member)},
                UpdateExpression="SET p = :v",
                ConditionExpression="v = :v AND (attribute_not_exists(p) OR p <> :v)",
                ExpressionAttributeValues={":v": Decimal(int(last_seen))},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def unmark(self, member: Member, last_seen: float) -> None:
        """Undo `mark_paged` when the page could not be sent."""
        self._table.update_item(
            Key={"pk": _item(member)},
            UpdateExpression="REMOVE p",
            ConditionExpression="p = :v",
            ExpressionAttributeValues={":v": Decimal(int(last_seen))},
        )

    def forget(self, member: Member) -> None:
        """Drop a member whose item expired from its registry set."""
        self._table.update_item(
            Key={"pk": _registry(_shard(member))},
            UpdateExpression="DELETE members :m",
            ExpressionAttributeValues={":m": {member.key}},
        )

    def _get(self, keys: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
        """BatchGetItem in chunks, retrying what DynamoDB left unprocessed.

        The resource's client converts Python values both ways, as the table's methods do.
        """
        client, name = self._table.meta.client, self._table.name
        for start in range(0, len(keys), _BATCH):
            pending: dict[str, Any] = {name: {"Keys": keys[start : start + _BATCH]}}
            for attempt in range(_ATTEMPTS):
                got = client.batch_get_item(RequestItems=pending)
                yield from got.get("Responses", {}).get(name, [])
                pending = got.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt)  # throttled: DynamoDB asks to back off
            else:
                raise RuntimeError(f"DynamoDB left {len(pending[name]['Keys'])} key(s) unprocessed")


def _arrival(member: Member, now: float) -> dict[str, Any]:
    """An arrival's values: its time, the member's key, and when to forget it."""
    return {":now": Decimal(int(now)), ":m": member.key, ":ttl": int(now) + FORGET_DAYS * 86400}


@dataclass(frozen=True, slots=True)
class Silence:
    """One silent member, and whether this check paged it (only the first check of a silence does)."""

    member: Member
    last_seen: float
    paged: bool


def check_members(
    store: LivenessStore,
    sns: Any,
    topic_arn: str,
    now: float,
    heartbeat_minutes: int,
    stack: str,
    expected: tuple[Member, ...] = (),
) -> list[Silence]:
    """Page the operations topic once per leg gone silent; forget members whose item expired.

    `expected` are the stack's own legs: checked whether or not they ever beat (a leg never seen
    counts from the first check), and never forgotten.
    """
    for member in expected:
        store.expect(member, now)
    members = sorted(set(store.members()) | set(expected))
    seen = store.last_seen(members)
    out = []
    for member in members:
        if member not in seen:
            store.forget(member)
            continue
        last, paged_for = seen[member]
        if not is_silent(last, now, heartbeat_minutes):
            continue
        page = paged_for != last and store.mark_paged(member, last)
        if page:
            text = silent_page(member, last, heartbeat_minutes, stack, home=member in expected)
            try:
                sns.publish(TopicArn=topic_arn, Subject=text.subject, Message=text.body)
            except Exception:
                store.unmark(member, last)  # the next check pages it instead
                raise
        out.append(Silence(member, last, page))
    return out
