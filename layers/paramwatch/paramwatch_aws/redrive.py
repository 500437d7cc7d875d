"""Re-process what sits in the dead-letter and failure queues once the cause is fixed.

Four kinds of record can be parked:
- an alert SNS refused for good (`paramwatch-parked-alert`): published again as it was;
- a held page whose delivery failed after its retries (`paramwatch-held-page`, moved here by the
  hold queue's redrive policy): handed back to the evaluator as the SQS event source would hand it
  (its publish marker makes a page already sent harmless);
- a Lambda on-failure destination record (`requestPayload`): the event, handed back to the
  evaluator, which judges it again (its delivery record makes a repeat harmless);
- an EventBridge dead-letter message (the event itself): handed to the evaluator the same way.
A record is deleted only after it was handled; anything else stays and is reported.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from paramwatch.hold import HELD_KIND
from paramwatch_aws.alerts import PARKED_KIND


@dataclass
class RedriveReport:
    """What a redrive did, by kind of record."""

    handled: Counter[str] = field(default_factory=Counter)
    left: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class FailedAgain(RuntimeError):
    """The evaluator failed again on a parked event; the record stays in its queue."""


def _event_of(record: Any) -> dict[str, Any] | None:
    if isinstance(record, dict) and isinstance(record.get("requestPayload"), dict):
        return record["requestPayload"]
    if isinstance(record, dict) and "detail-type" in record and "detail" in record:
        return record
    return None


@dataclass(frozen=True)
class Redriver:
    """Drains one queue into the evaluator (events) and the alert topic (parked alerts)."""

    sqs: Any
    lambda_client: Any
    sns: Any
    function_name: str

    def drain(self, queue_url: str, report: RedriveReport, limit: int = 1000) -> RedriveReport:
        """Handle up to `limit` messages of `queue_url`, deleting each one that was handled."""
        seen = 0
        while seen < limit:
            got = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60)
            messages = got.get("Messages", [])
            if not messages:
                break
            for message in messages:
                seen += 1
                try:
                    kind = self._handle(message["Body"])
                except FailedAgain as exc:
                    report.failed.append(f"{queue_url}: message {message['MessageId']}: {exc}")
                    continue
                if kind is None:
                    report.left.append(f"{queue_url}: message {message['MessageId']} is not a paramwatch record")
                    continue
                report.handled[kind] += 1
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return report

    def _handle(self, body: str) -> str | None:
        try:
            record = json.loads(body)
        except ValueError:
            return None
        if isinstance(record, dict) and record.get("kind") == PARKED_KIND:
            self.sns.publish(**record["publish"])
            return "alert republished"
        kind = "event re-evaluated"
        if isinstance(record, dict) and record.get("kind") == HELD_KIND:
            event, kind = (
                {"Records": [{"eventSource": "aws:sqs", "messageId": "redrive", "body": body}]},
                "held page sent",
            )
        else:
            event = _event_of(record)
        if event is None:
            return None
        answer = self.lambda_client.invoke(
            FunctionName=self.function_name, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        if answer.get("FunctionError"):
            raise FailedAgain(f"the evaluator failed again: {answer['Payload'].read()[:500]!r}")
        return kind
