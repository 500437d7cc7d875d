"""Holding a read incident's page for a few seconds, so that one incident is one complete page.

Lambda judges each event as it arrives. An ungranted GetParametersByPath call arrives before or
after the Decrypts SSM makes for it, and CloudTrail records no response elements for SSM reads,
so neither half alone can say which path was read and which secrets it revealed. So the first part
of such an incident that pages opens it, and its page waits (`IncidentHoldSeconds`, in a delay
queue) while the other parts join it:

- opening is a conditional write on the principal's pointer, so two invocations judging two halves
  of one incident at the same moment agree on one opener; the other half joins, and does not page;
- each part joins with a conditional write that fails once the incident is closed;
- when the wait is over the incident is closed and its page is composed from what it gathered: the
  by-path call when one arrived (whichever half came first), and the count and first names of the
  secrets its Decrypts revealed.

Everything here is pure: data in, decisions out, on the `State` interface.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from paramwatch.detector import Verdict, natural, paging
from paramwatch.escape import safe
from paramwatch.findings import finding_of
from paramwatch.render import bounded
from paramwatch.state import Member, State

HELD_KIND = "paramwatch-held-page"
SHOWN = 20  # a page names this many secrets, then says how many more (as a bulk alert does)
CALLS_CAP = 5  # distinct paths one incident keeps; a sixth path opens an incident (a page) of its own
SECRETS_CAP = 1000  # distinct secrets counted; more reads "at least 1000"
NAME_LIMIT = 512
# Members still join while a page waits a little longer than its delay in a busy queue; closing the
# incident, not this margin, is what decides which parts the page names.
GRACE_SECONDS = 60
OPEN_ATTEMPTS = 3
DAY = 86400


@dataclass(frozen=True, slots=True)
class Held:
    """A verdict after holding: as it now stands (a part that joined another's incident does not
    page), and the incident it opened, whose hold message must now be sent."""

    verdict: Verdict
    opened: str | None = None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def revealed_note(entries: Iterable[tuple[str, str]], count: int, capped: bool = False) -> str:
    """The note naming what a by-path call's Decrypts revealed, from (event time, name) pairs,
    earliest first: the same words in Lambda's held page and in replay's."""
    names = list(dict.fromkeys(name for _, name in sorted(entries, key=lambda e: (e[0], natural(e[1])))))
    count = max(count, len(names))
    listed = ", ".join(safe(n, 160) for n in names[:SHOWN])
    more = f" and {count - min(len(names), SHOWN)} more" if count > min(len(names), SHOWN) else ""
    return f"Its Decrypts revealed {'at least ' if capped else ''}{count} secret(s): {listed}{more}."


def verdict_text(verdict: Verdict) -> str:
    """A verdict as JSON that `verdict_of` reads back, its strings bounded (a CloudTrail field can be
    any length; state items and queue messages cannot)."""
    data = bounded(verdict.to_dict())
    data["part"] = verdict.part
    return json.dumps(data, separators=(",", ":"))


def verdict_of(data: dict[str, Any]) -> Verdict:
    """The verdict `verdict_text` wrote."""
    return Verdict(
        finding_of(data),
        paged=bool(data.get("paged")),
        reason=data.get("reason"),
        held_back=int(data.get("held_back") or 0),
        notes=tuple(data.get("notes") or ()),
        units=tuple(data.get("paged_for") or ()),
        part=data.get("part"),
    )


def incident_key(incident: str) -> str:
    return f"incident#{incident}"


@dataclass(frozen=True)
class Holds:
    """Holds the pages of read incidents for `seconds` (0: every page goes at once)."""

    state: State
    seconds: int

    def take(self, verdict: Verdict, now: float) -> Held:
        """Join the verdict to its principal's open incident, or open one when it pages.

        Fails closed: when no incident can be opened or joined, the verdict pages as it is.
        """
        if not self.seconds or verdict.part is None:
            return Held(verdict)
        finding = verdict.finding
        pointer = f"hold#{finding.rule}#{paging(finding)}"
        member = self._member(verdict)
        caps = (CALLS_CAP, SHOWN, SECRETS_CAP)
        expires = now + DAY
        if not verdict.paged:
            holder = self.state.pointed(pointer, now)
            if holder is not None:
                self.state.gather(incident_key(holder), member, None, caps, expires)
            return Held(verdict)
        mine = f"{finding.rule}#{finding.event_id}"
        if not self.state.gather(incident_key(mine), member, verdict_text(verdict), caps, expires):
            return Held(verdict, mine)  # a retry after its page went: sending again is harmless
        replacing = None
        for _ in range(OPEN_ATTEMPTS):
            holder = self.state.point(pointer, mine, now, now + self.seconds + GRACE_SECONDS, replacing)
            if holder == mine:
                return Held(verdict, mine)
            if self.state.gather(incident_key(holder), member, None, caps, expires):
                event = safe(holder.split("#", 1)[-1], 64)
                return Held(replace(verdict, paged=False, reason=f"part of the incident held for event {event}"))
            replacing = holder  # closed since: this part opens the next incident
        return Held(verdict)

    def release(self, incident: str, lead: Verdict) -> Verdict:
        """Close the incident and compose its page: the by-path call when one joined (the earliest),
        else the part that opened it, with the count and first names of the secrets revealed."""
        gathered = self.state.close(incident_key(incident))
        if gathered is None:
            return replace(lead, paged=True)
        calls = sorted(
            (verdict_of(json.loads(text)) for text in gathered.calls.values()),
            key=lambda v: (v.finding.event_time or "", v.finding.event_id),
        )
        page = calls[0] if calls else verdict_of(json.loads(gathered.lead)) if gathered.lead else lead
        notes = page.notes
        paths = sorted({p for call in calls[1:] for p in call.finding.parameters} - set(page.finding.parameters))
        if paths:
            notes += (f"The same principal also read by path: {', '.join(safe(p, 160) for p in paths)}.",)
        if gathered.names:
            entries = [tuple(text.split("|", 1)) for text in gathered.names if "|" in text]
            notes += (revealed_note(entries, gathered.count, capped=gathered.count >= SECRETS_CAP),)
        return replace(page, paged=True, reason=None, notes=notes, units=page.units or page.finding.parameters)

    @staticmethod
    def _member(verdict: Verdict) -> Member:
        finding = verdict.finding
        if verdict.part == "path" and finding.parameters:
            call = verdict_text(replace(verdict, paged=True, reason=None))
            return Member(call=(_digest(finding.parameters[0]), f"{finding.event_time or ''}|{finding.event_id}", call))
        if verdict.part == "kms" and finding.parameters:
            name = finding.parameters[0][:NAME_LIMIT]
            return Member(secret=(_digest(name), f"{finding.event_time or ''}|{name}"))
        return Member()
