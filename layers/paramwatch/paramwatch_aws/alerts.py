"""Sending alerts so that none is lost and none is sent twice.

A publish that may succeed later raises, so that Lambda retries the event (and, once its retries
are spent, parks the event in the failure destination). A publish that can never succeed (the
topic is gone, the key is disabled, the role may not publish) parks the alert itself, finding
intact, in the failure queue, where `paramwatch redrive` picks it up once the cause is fixed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from paramwatch.chat import notification
from paramwatch.detector import Verdict
from paramwatch.findings import Finding
from paramwatch.render import body, subject

PARKED_KIND = "paramwatch-parked-alert"
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")

# SNS error codes that no retry of the same request can fix.
PERMANENT = frozenset(
    {
        "AuthorizationError",
        "NotFound",
        "InvalidParameter",
        "InvalidParameterValue",
        "ValidationError",
        "InvalidSecurity",
        "KMSDisabled",
        "KMSNotFound",
        "KMSAccessDenied",
        "KMSInvalidState",
        "EndpointDisabled",
        "PlatformApplicationDisabled",
    }
)


class Delivery(StrEnum):
    """What happened to one alert."""

    SENT = "sent"
    PARKED = "parked"


@dataclass(frozen=True)
class AlertSender:
    """Publishes alerts to SNS and parks the ones SNS refuses for good."""

    sns: Any
    sqs: Any
    topic_arn: str
    failure_queue_url: str

    def message(self, verdict: Verdict) -> dict[str, Any]:
        """The SNS publish request for a verdict: one message per protocol (`MessageStructure` json).

        E-mail, SQS, Lambda and every other protocol get the plain-text body (`default`); HTTP(S)
        subscribers, Amazon Q Developer in chat applications among them, get the custom
        notification it renders. One publish serves both, so an alert never reaches one kind of
        subscriber and not the other.
        """
        finding = verdict.finding
        text = body(finding, verdict.notes)
        chat = json.dumps(notification(finding, verdict.notes), ensure_ascii=True)
        return {
            "TopicArn": self.topic_arn,
            "Subject": subject(finding),
            "MessageStructure": "json",
            "Message": json.dumps({"default": text, "email": text, "http": chat, "https": chat}),
            "MessageAttributes": {
                "severity": {"DataType": "String", "StringValue": str(finding.severity)},
                "rule": {"DataType": "String", "StringValue": str(finding.rule)},
                **_where_attributes(finding),
            },
        }

    def send(self, verdict: Verdict) -> Delivery:
        """Publish, raise to retry, or park: it never returns unless the alert was sent or parked."""
        request = self.message(verdict)
        try:
            self.sns.publish(**request)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in PERMANENT:
                raise
            self.park(request, verdict, f"{code}: {exc.response.get('Error', {}).get('Message', '')}")
            return Delivery.PARKED
        return Delivery.SENT

    def park(self, request: dict[str, Any], verdict: Verdict, error: str) -> None:
        """Keep the alert and its finding in the failure queue for `paramwatch redrive`."""
        record = {"kind": PARKED_KIND, "error": error, "publish": request, "verdict": verdict.to_dict()}
        self.sqs.send_message(QueueUrl=self.failure_queue_url, MessageBody=json.dumps(record))


def _where_attributes(finding: Finding) -> dict[str, Any]:
    """`account` and `region` attributes for subscription filters, only when well-formed."""
    out = {}
    for key, value, shape in (("account", finding.account, _ACCOUNT), ("region", finding.region, _REGION)):
        if value and shape.fullmatch(value):
            out[key] = {"DataType": "String", "StringValue": value}
    return out
