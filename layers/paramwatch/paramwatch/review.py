"""Allowlist hygiene: grants that expire soon or already did, grants nobody owns, grants nothing uses.

Allowlists rot: exceptions outlive the projects they were made for and nobody remembers who asked.
`check-allowlist` prints these reviews; `replay` with a baseline adds the stale grants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from paramwatch.allowlist import Allowlist

EXPIRY_WARNING_DAYS = 14


@dataclass(frozen=True, slots=True)
class Review:
    """One remark on one grant; `expired` remarks fail `check-allowlist --strict`."""

    grant: str
    source: str | None
    text: str
    expired: bool = False

    def line(self) -> str:
        """The remark as one line for a terminal, naming the piece the grant came from."""
        where = f"{self.source}: " if self.source else ""
        return f"{where}grant {self.grant!r}: {self.text}"


def review(allowlist: Allowlist, today: date, origins: Mapping[str, str] | None = None) -> list[Review]:
    """Remarks on expired grants, grants expiring within 14 days, and grants without an owner."""
    origins = origins or {}
    out = []
    soon = today + timedelta(days=EXPIRY_WARNING_DAYS)
    for grant in allowlist.grants:
        source = origins.get(grant.name)
        if grant.expires is not None and grant.expires <= today:
            text = f"expired on {grant.expires}: it allows nothing; remove it or renew it with its owner"
            out.append(Review(grant.name, source, text, expired=True))
        elif grant.expires is not None and grant.expires <= soon:
            days = (grant.expires - today).days
            out.append(Review(grant.name, source, f"expires on {grant.expires} (in {days} day(s))"))
        if not grant.owner:
            out.append(Review(grant.name, source, "has no owner: say who to ask about it (owner: ...)"))
    return out


def stale(allowlist: Allowlist, used: Iterable[str], origins: Mapping[str, str] | None = None) -> list[Review]:
    """Grants that allowed no decrypting read in the replayed period: candidates for removal (a read
    without decryption needs no grant)."""
    origins = origins or {}
    seen = set(used)
    return [
        Review(g.name, origins.get(g.name), "allowed no decrypting read in the replayed period (stale)")
        for g in allowlist.grants
        if g.name not in seen
    ]
