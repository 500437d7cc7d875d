"""A warm Lambda's memory of what cannot change: claims already made and set members already added.

Claims never change hands before they expire, sets only grow and minima only fall, so a read that
repeats what this container already saw needs no DynamoDB call at all. Everything else goes to the
wrapped state.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from paramwatch.state import Claim, Delivery, Gathered, Member, State


class CachedState:
    """`State` in front of another `State`, with a bounded least-recently-used memory."""

    def __init__(self, inner: State, max_entries: int = 50_000) -> None:
        self._inner = inner
        self._max = max_entries
        self._claims: OrderedDict[str, Claim] = OrderedDict()
        self._sets: OrderedDict[str, tuple[frozenset[str], int]] = OrderedDict()
        self._minima: dict[str, float] = {}

    def _remember(self, cache: OrderedDict, key: str, value: object) -> None:
        cache[key] = value
        cache.move_to_end(key)
        if len(cache) > self._max:
            cache.popitem(last=False)

    def begin(self, event_id: str, now: float, expires: float) -> Delivery:
        return self._inner.begin(event_id, now, expires)

    def finish(self, event_id: str) -> None:
        self._inner.finish(event_id)

    def abandon(self, event_id: str) -> None:
        self._inner.abandon(event_id)

    def claim(self, key: str, claim: Claim, expires: float) -> Claim:
        known = self._claims.get(key)
        if known is not None:
            self._claims.move_to_end(key)
            return known
        holder = self._inner.claim(key, claim, expires)
        self._remember(self._claims, key, holder)
        return holder

    def peek(self, key: str) -> Claim | None:
        known = self._claims.get(key)
        if known is not None:
            return known
        holder = self._inner.peek(key)
        if holder is not None:
            self._remember(self._claims, key, holder)
        return holder

    def members(self, key: str) -> frozenset[str]:
        return self._inner.members(key)

    def minimum(self, key: str, value: float) -> float:
        known = self._minima.get(key)
        if known is not None and known <= value:
            return known  # only a smaller value can change it
        self._minima[key] = self._inner.minimum(key, value)
        return self._minima[key]

    def add_members(self, key: str, members: Iterable[str], expires: float, cap: int) -> int:
        wanted = frozenset(members)
        known, size = self._sets.get(key, (frozenset(), 0))
        if key in self._sets and (wanted <= known or size >= cap):
            # Nothing new, or the set is full (it takes no more members): only an addition can
            # cross a threshold, so the size last seen is as good as the current one for the caller.
            self._sets.move_to_end(key)
            return size
        size = self._inner.add_members(key, wanted, expires, cap)
        self._remember(self._sets, key, (known | wanted, size))
        return size

    def increment(self, key: str, expires: float) -> int:
        return self._inner.increment(key, expires)

    def count(self, key: str) -> int:
        return self._inner.count(key)

    # a held incident changes until it is closed: never cached
    def point(self, key: str, owner: str, now: float, until: float, replacing: str | None) -> str:
        return self._inner.point(key, owner, now, until, replacing)

    def pointed(self, key: str, now: float) -> str | None:
        return self._inner.pointed(key, now)

    def gather(self, key: str, member: Member, lead: str | None, caps: tuple[int, int, int], expires: float) -> bool:
        return self._inner.gather(key, member, lead, caps, expires)

    def close(self, key: str) -> Gathered | None:
        return self._inner.close(key)
