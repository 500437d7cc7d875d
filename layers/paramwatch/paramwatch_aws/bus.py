"""Every finding, paged or not, as an EventBridge event, for routes the user builds.

PagerDuty, Opsgenie, a SIEM or a ticket queue each want their own shape and their own filter; an
EventBridge rule on `source: paramwatch` gives them all of it without a change here. Held-back
and paired findings are published too (with `paged: false` and the reason), so a SIEM sees
everything replay prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from paramwatch.detector import Verdict
from paramwatch.render import verdict_json

SOURCE = "paramwatch"
DETAIL_TYPE = "Parameter access finding"
_BATCH = 10  # PutEvents takes at most 10 entries
_ARN = re.compile(r"arn:aws[a-z\-]*:[a-z0-9\-]+:[a-z0-9\-]*:\d{0,12}:[A-Za-z0-9_+=,.@\-/:]+")


class BusError(RuntimeError):
    """EventBridge refused some entries; raising lets Lambda retry the event."""


@dataclass(frozen=True)
class FindingBus:
    """Puts findings on an event bus (the account's default bus unless the stack names another)."""

    events: Any
    bus_name: str

    def entry(self, verdict: Verdict) -> dict[str, Any]:
        """One PutEvents entry: the verdict's JSON (finding, paged, reason) as the detail."""
        principal = verdict.finding.principal
        return {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": verdict_json(verdict),
            "Resources": [principal] if principal and _ARN.fullmatch(principal) else [],
            "EventBusName": self.bus_name,
        }

    def put(self, verdicts: list[Verdict]) -> int:
        """Put every verdict; raise BusError naming the error codes when any entry failed."""
        entries = [self.entry(v) for v in verdicts]
        for start in range(0, len(entries), _BATCH):
            got = self.events.put_events(Entries=entries[start : start + _BATCH])
            if got.get("FailedEntryCount"):
                codes = sorted({e.get("ErrorCode", "?") for e in got.get("Entries", []) if e.get("ErrorCode")})
                raise BusError(f"EventBridge refused {got['FailedEntryCount']} finding event(s): {', '.join(codes)}")
        return len(entries)
