"""Evaluator: judge one CloudTrail event delivered by EventBridge, then alert and count.

The handler is thin on purpose: the verdict comes from the pure `paramwatch` library in the layer;
this module only reads the allowlist, publishes alerts and emits metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from paramwatch import allowlist as allowlist_mod
from paramwatch.allowlist import Allowlist, AllowlistError
from paramwatch.escape import safe
from paramwatch.findings import Finding, Rule, Severity
from paramwatch.render import body, safe_dict, subject
from paramwatch.rules import judge
from paramwatch.settings import Settings

logger = Logger()
metrics = Metrics()


@dataclass(frozen=True)
class Runtime:
    """What a warm function reuses between invocations: checked settings and the SNS client."""

    settings: Settings
    sns: Any


@cache
def runtime() -> Runtime:
    """Built on the first invocation, not at import, so tests and cold starts stay cheap."""
    return Runtime(settings=Settings.from_env(os.environ), sns=boto3.client("sns"))


def load_allowlist(settings: Settings) -> tuple[Allowlist, Finding | None]:
    """Fetch the allowlist (cached for the configured TTL); a broken one is judged as empty."""
    text = parameters.get_parameter(settings.allowlist_parameter, max_age=settings.allowlist_cache_seconds)
    try:
        return allowlist_mod.parse(text), None
    except AllowlistError as exc:
        logger.error("allowlist is invalid", extra={"problems": [safe(p) for p in exc.problems]})
        problem = Finding(
            event_id=f"allowlist:{settings.allowlist_parameter}",
            rule=Rule.ALLOWLIST_INVALID,
            severity=Severity.HIGH,
            principal=None,
            parameters=(settings.allowlist_parameter,),
            event_time=None,
            source_ip=None,
            summary=f"[{Rule.ALLOWLIST_INVALID}] " + safe("; ".join(exc.problems), 900),
            problems=tuple(exc.problems),
        )
        return allowlist_mod.EMPTY, problem


def publish(rt: Runtime, finding: Finding) -> None:
    """Send one alert. Errors propagate so that Lambda retries the event."""
    rt.sns.publish(
        TopicArn=rt.settings.alert_topic_arn,
        Subject=subject(finding),
        Message=body(finding),
        MessageAttributes={
            "severity": {"DataType": "String", "StringValue": str(finding.severity)},
            "rule": {"DataType": "String", "StringValue": str(finding.rule)},
        },
    )
    metrics.add_metric(name="AlertsSent", unit=MetricUnit.Count, value=1)


def count_finding(finding: Finding) -> None:
    """One `Findings` data point per finding, by rule and severity (both low-cardinality)."""
    with single_metric(
        name="Findings", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
    ) as metric:
        metric.add_dimension(name="rule", value=str(finding.rule))
        metric.add_dimension(name="severity", value=str(finding.severity))
    if finding.rule is Rule.INVALID_EVENT:
        metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(correlation_id_path="detail.eventID")
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    """Judge the event's CloudTrail record; alert on each finding."""
    rt = runtime()
    allowlist, allowlist_problem = load_allowlist(rt.settings)
    metrics.add_metric(name="EventsEvaluated", unit=MetricUnit.Count, value=1)
    raw = event.raw_event
    detail = raw.get("detail") if isinstance(raw, dict) else raw
    findings = [f for f in (allowlist_problem, judge(detail, allowlist)) if f]
    for finding in findings:
        logger.warning("finding", extra={"finding": safe_dict(finding)})
        count_finding(finding)
        publish(rt, finding)
    return {"findings": [f.to_dict() for f in findings]}
