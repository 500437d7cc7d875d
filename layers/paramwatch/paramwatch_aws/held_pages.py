"""The delay queue that holds a read incident's page while its other parts arrive (see `paramwatch.hold`).

The queue's own DelaySeconds is the hold, so a message is a plain send; its delivery (an SQS event
source on the evaluator) releases the page. A message carries the incident and the verdict that
opened it, so a page can be composed even when the incident's state item is gone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from paramwatch.detector import Verdict
from paramwatch.hold import HELD_KIND, verdict_of, verdict_text


class NotAHeldPage(ValueError):
    """A message on the hold queue that paramwatch did not write."""


@dataclass(frozen=True)
class HoldQueue:
    """Sends the hold message of an incident that was just opened."""

    sqs: Any
    url: str

    def send(self, incident: str, verdict: Verdict) -> None:
        body = {"kind": HELD_KIND, "incident": incident, "verdict": json.loads(verdict_text(verdict))}
        self.sqs.send_message(QueueUrl=self.url, MessageBody=json.dumps(body))


def is_held_batch(event: Any) -> bool:
    """True for a batch the SQS event source delivers (hold messages), not an EventBridge event."""
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def held_page(body: str) -> tuple[str, Verdict]:
    """The incident and opening verdict in a hold message; NotAHeldPage for anything else."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("kind") != HELD_KIND or not isinstance(data.get("incident"), str):
        raise NotAHeldPage("not a paramwatch hold message")
    try:
        return data["incident"], verdict_of(data["verdict"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise NotAHeldPage(f"unreadable verdict in hold message ({type(exc).__name__})") from None
