"""The detector's memory, behind one small interface with two implementations.

`MemoryState` serves `paramwatch replay`; the DynamoDB implementation (package `paramwatch_aws`)
serves Lambda. Every operation is idempotent for the same owner, so a retried event re-derives the
same decisions instead of being mistaken for a repeat of itself. Every item carries an expiry and
every set a cap, so nothing grows without bound, whatever an attacker sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Delivery(StrEnum):
    """What `begin()` says about an event ID."""

    NEW = "new"
    DONE = "done"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class Claim:
    """Who holds a key: the event that claimed it first, and what it noted about itself."""

    owner: str
    note: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Gathered:
    """What an incident held for one page gathered: the page it opened with (`lead`, JSON), its
    by-path calls by path digest (JSON), its first names and how many distinct secrets it revealed."""

    lead: str = ""
    calls: Mapping[str, str] = field(default_factory=dict)
    names: frozenset[str] = frozenset()
    count: int = 0


@dataclass(frozen=True, slots=True)
class Member:
    """One part joining a held incident: a by-path call (its path digest, its order and JSON; of
    several calls of one path the incident keeps the earliest) or a revealed secret (its digest and
    `time|name`), or both empty for a part that brings nothing new."""

    call: tuple[str, str, str] | None = None
    secret: tuple[str, str] | None = None


class State(Protocol):
    """The operations the detections need. Keys are strings; `expires` is epoch seconds."""

    def begin(self, event_id: str, now: float, expires: float) -> Delivery:
        """Start work on an event: NEW the first time, DONE after `finish`, BUSY while leased."""
        ...

    def finish(self, event_id: str) -> None:
        """Mark an event done, so that a redelivery gives no second finding."""
        ...

    def abandon(self, event_id: str) -> None:
        """Release an event whose work failed, so that a retry can redo it."""
        ...

    def claim(self, key: str, claim: Claim, expires: float) -> Claim:
        """Take `key` unless someone else holds it; return the holder (maybe `claim` itself)."""
        ...

    def peek(self, key: str) -> Claim | None:
        """The holder of `key`, or None when nobody claimed it."""
        ...

    def add_members(self, key: str, members: Iterable[str], expires: float, cap: int) -> int:
        """Add to the set at `key` while it holds fewer than `cap`; return how many it holds now.

        A full set takes no more members: the detections only need to know that a threshold was
        crossed, and a burst of refused calls must not grow one item without bound.
        """
        ...

    def members(self, key: str) -> frozenset[str]:
        """The set at `key`, empty when absent."""
        ...

    def minimum(self, key: str, value: float) -> float:
        """Lower the number at `key` to `value` if it is smaller (or absent); return the result."""
        ...

    def increment(self, key: str, expires: float) -> int:
        """Add one to the counter at `key`; return the new value."""
        ...

    def count(self, key: str) -> int:
        """The counter at `key`, 0 when absent."""
        ...

    def point(self, key: str, owner: str, now: float, until: float, replacing: str | None) -> str:
        """Point `key` at incident `owner` until `until`, unless another incident holds it: one
        whose time has not passed and that is not `replacing` (one seen closed). Return the holder."""
        ...

    def pointed(self, key: str, now: float) -> str | None:
        """The incident `key` points at, while its time has not passed."""
        ...

    def gather(self, key: str, member: Member, lead: str | None, caps: tuple[int, int, int], expires: float) -> bool:
        """Add `member` to the incident at `key` unless it was closed; `lead` creates it (the
        opener), otherwise it must exist. `caps` bound (calls, names, secrets). False when closed
        or absent, or when a call could not be kept (so that its page is not lost)."""
        ...

    def close(self, key: str) -> Gathered | None:
        """Close the incident at `key` (no member joins it afterwards); what it gathered, or None."""
        ...


@dataclass(slots=True)
class MemoryState:
    """In-process state for replay and tests. Expiry is ignored: a replay is short-lived."""

    events: dict[str, Delivery] = field(default_factory=dict)
    claims: dict[str, Claim] = field(default_factory=dict)
    sets: dict[str, set[str]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    minima: dict[str, float] = field(default_factory=dict)
    pointers: dict[str, tuple[str, float]] = field(default_factory=dict)
    incidents: dict[str, dict] = field(default_factory=dict)

    def begin(self, event_id: str, now: float, expires: float) -> Delivery:
        if self.events.get(event_id) is Delivery.DONE:
            return Delivery.DONE
        self.events[event_id] = Delivery.BUSY
        return Delivery.NEW

    def finish(self, event_id: str) -> None:
        self.events[event_id] = Delivery.DONE

    def abandon(self, event_id: str) -> None:
        self.events.pop(event_id, None)

    def claim(self, key: str, claim: Claim, expires: float) -> Claim:
        return self.claims.setdefault(key, claim)

    def peek(self, key: str) -> Claim | None:
        return self.claims.get(key)

    def add_members(self, key: str, members: Iterable[str], expires: float, cap: int) -> int:
        bucket = self.sets.setdefault(key, set())
        for member in members:
            if len(bucket) >= cap:
                break
            bucket.add(member)
        return len(bucket)

    def members(self, key: str) -> frozenset[str]:
        return frozenset(self.sets.get(key, ()))

    def minimum(self, key: str, value: float) -> float:
        self.minima[key] = min(self.minima.get(key, value), value)
        return self.minima[key]

    def increment(self, key: str, expires: float) -> int:
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    def count(self, key: str) -> int:
        return self.counters.get(key, 0)

    def point(self, key: str, owner: str, now: float, until: float, replacing: str | None) -> str:
        holder, ends = self.pointers.get(key, (owner, -1.0))
        if holder in (owner, replacing) or ends <= now:
            self.pointers[key] = (owner, until)
            return owner
        return holder

    def pointed(self, key: str, now: float) -> str | None:
        holder, ends = self.pointers.get(key, ("", -1.0))
        return holder if ends > now else None

    def gather(self, key: str, member: Member, lead: str | None, caps: tuple[int, int, int], expires: float) -> bool:
        incident = self.incidents.get(key)
        if incident is None and lead is not None:
            incident = self.incidents[key] = {"lead": lead, "calls": {}, "order": {}, "names": {}, "secrets": set()}
        if incident is None or incident.get("closed"):
            return False
        calls, names, secrets = caps
        if member.call is not None:
            digest, order, text = member.call
            if digest not in incident["calls"] and len(incident["calls"]) >= calls:
                return False
            if order < incident["order"].get(digest, "\uffff"):
                incident["calls"][digest], incident["order"][digest] = text, order
        if member.secret is not None:
            digest, name = member.secret
            if len(incident["secrets"]) < secrets:
                incident["secrets"].add(digest)
            if digest not in incident["names"] and len(incident["names"]) < names:
                incident["names"][digest] = name
        return True

    def close(self, key: str) -> Gathered | None:
        incident = self.incidents.get(key)
        if incident is None:
            return None
        incident["closed"] = True
        return Gathered(
            incident["lead"], dict(incident["calls"]), frozenset(incident["names"].values()), len(incident["secrets"])
        )
