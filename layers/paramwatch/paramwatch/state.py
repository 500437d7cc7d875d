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


@dataclass(slots=True)
class MemoryState:
    """In-process state for replay and tests. Expiry is ignored: a replay is short-lived."""

    events: dict[str, Delivery] = field(default_factory=dict)
    claims: dict[str, Claim] = field(default_factory=dict)
    sets: dict[str, set[str]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    minima: dict[str, float] = field(default_factory=dict)

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
