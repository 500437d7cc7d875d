"""The monthly bill of paramwatch, next to what the watched workload already pays for its reads.

Pure arithmetic over a workload and the price table in `prices.json` (dated, with sources). A
month is 30 days, so 10 reads a second is 25,920,000 reads a month.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

SECONDS_PER_MONTH = 30 * 86400
EVENTS_PER_READ = 2  # the SSM call and the KMS Decrypt SSM makes for it
LAMBDA_FULL_CPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB, proportionally less below
CUSTOM_METRICS = 17  # EventsEvaluated, AlertsSent, AlertsSuppressed, AlertsParked, InvalidEvents, 12 Findings series
ALARM_METRICS = 8  # five single-metric alarms and one metric-math alarm over three rules
LOG_BYTES_ALLOWED = 650  # Lambda START/END/REPORT lines and one EMF line
LOG_BYTES_FINDING = 2600  # plus the finding's log line and its EMF line
VIOLATION_WRITES, VIOLATION_READS = 6, 3  # claims, delivery record, sent marker; consistent reads


def load_prices() -> dict[str, Any]:
    """The price table shipped with the package."""
    return json.loads(resources.files("paramwatch").joinpath("prices.json").read_text())


@dataclass(frozen=True)
class Workload:
    """What the watched applications do, and how paramwatch is sized."""

    reads_per_second: float
    violation_share: float = 0.01
    customer_managed_key: bool = False
    higher_throughput: bool = False
    memory_mb: int = 256
    cpu_ms_allowed: float = 0.35  # measured by `make bench` on one full core
    cpu_ms_violation: float = 1.7
    io_ms_violation: float = 40.0  # DynamoDB and SNS round trips of a paging finding
    pipeline_key: bool = True
    email_subscribers: int = 1
    heartbeat_minutes: int = 5  # the HeartbeatMinutes template parameter
    canary_ms: float = 100.0  # one GetParameter with decryption, from a 128 MB function

    @property
    def reads_per_month(self) -> float:
        return self.reads_per_second * SECONDS_PER_MONTH


@dataclass(frozen=True)
class Line:
    """One line of the bill: who pays it, what it is, how much, at what price."""

    payer: str
    item: str
    quantity: float
    unit: str
    monthly: float


def billed_ms(cpu_ms: float, io_ms: float, memory_mb: int) -> int:
    """Lambda bills whole milliseconds; CPU time stretches when memory buys less than a vCPU."""
    share = min(memory_mb, LAMBDA_FULL_CPU_MB) / LAMBDA_FULL_CPU_MB
    return max(1, math.ceil(cpu_ms / share + io_ms))


def monitor_lines(w: Workload, p: dict[str, Any]) -> list[Line]:
    """What paramwatch adds to the bill."""
    events = w.reads_per_month * EVENTS_PER_READ
    violations = w.reads_per_month * w.violation_share
    allowed_events = events - violations * EVENTS_PER_READ
    gb = w.memory_mb / 1024
    gb_seconds = (
        (
            allowed_events * billed_ms(w.cpu_ms_allowed, 0, w.memory_mb)
            + violations * EVENTS_PER_READ * billed_ms(w.cpu_ms_violation, w.io_ms_violation, w.memory_mb)
        )
        / 1000
        * gb
    )
    log_gb = (allowed_events * LOG_BYTES_ALLOWED + violations * EVENTS_PER_READ * LOG_BYTES_FINDING) / 2**30
    lines = [
        Line("paramwatch", "Lambda requests", events, "invocations", events / 1e6 * p["lambda_request_per_million"]),
        Line(
            "paramwatch",
            f"Lambda duration, arm64, {w.memory_mb} MB",
            gb_seconds,
            "GB-s",
            gb_seconds * p["lambda_arm_gb_second"],
        ),
        Line(
            "paramwatch",
            "EventBridge, AWS management events",
            events,
            "events",
            events / 1e6 * p["eventbridge_management_event_delivery_per_million"],
        ),
        Line(
            "paramwatch",
            "SNS publishes (every violation, before suppression)",
            violations,
            "publishes",
            violations / 1e6 * p["sns_publish_per_million"],
        ),
        Line(
            "paramwatch",
            "SNS e-mail deliveries",
            violations * w.email_subscribers,
            "e-mails",
            violations * w.email_subscribers / 1e5 * p["sns_email_per_100k"],
        ),
        Line(
            "paramwatch",
            "DynamoDB writes",
            violations * VIOLATION_WRITES,
            "WRU",
            violations * VIOLATION_WRITES / 1e6 * p["dynamodb_write_request_unit_per_million"],
        ),
        Line(
            "paramwatch",
            "DynamoDB reads",
            violations * VIOLATION_READS,
            "RRU",
            violations * VIOLATION_READS / 1e6 * p["dynamodb_read_request_unit_per_million"],
        ),
        Line(
            "paramwatch",
            "CloudWatch custom metrics",
            CUSTOM_METRICS,
            "metrics",
            CUSTOM_METRICS * p["cloudwatch_metric_month"],
        ),
        Line(
            "paramwatch",
            "CloudWatch alarms",
            ALARM_METRICS,
            "alarm metrics",
            ALARM_METRICS * p["cloudwatch_alarm_metric_month"],
        ),
        Line("paramwatch", "CloudWatch Logs ingestion", log_gb, "GB", log_gb * p["cloudwatch_logs_ingest_per_gb"]),
    ]
    if w.pipeline_key:
        lines.append(Line("paramwatch", "KMS pipeline key", 1, "key", p["kms_key_month"]))
    return lines + heartbeat_lines(w, p)


HEARTBEAT_LEGS = 3  # the canary's GetParameter, the Decrypt SSM makes for it, and its label
HEARTBEAT_ALARMS = 3  # one per leg
CANARY_MEMORY_MB = 128
LOG_BYTES_CANARY = 700  # Lambda START/END/REPORT lines and one "heartbeat" line


def heartbeat_lines(w: Workload, p: dict[str, Any]) -> list[Line]:
    """What the heartbeat adds: a canary read every `heartbeat_minutes`, judged on both legs."""
    beats = SECONDS_PER_MONTH / 60 / w.heartbeat_minutes
    events = beats * HEARTBEAT_LEGS
    canary_gb_s = beats * billed_ms(0, w.canary_ms, CANARY_MEMORY_MB) / 1000 * CANARY_MEMORY_MB / 1024
    evaluator_gb_s = events * billed_ms(w.cpu_ms_allowed, 0, w.memory_mb) / 1000 * w.memory_mb / 1024
    log_gb = (beats * LOG_BYTES_CANARY + events * LOG_BYTES_ALLOWED) / 2**30
    lines = [
        Line(
            "paramwatch",
            "heartbeat: schedule ticks (Scheduler price, upper bound)",
            beats,
            "ticks",
            beats / 1e6 * p["eventbridge_scheduler_per_million"],
        ),
        Line(
            "paramwatch",
            "heartbeat: Lambda requests (canary and each leg)",
            beats + events,
            "invocations",
            (beats + events) / 1e6 * p["lambda_request_per_million"],
        ),
        Line(
            "paramwatch",
            "heartbeat: Lambda duration",
            canary_gb_s + evaluator_gb_s,
            "GB-s",
            (canary_gb_s + evaluator_gb_s) * p["lambda_arm_gb_second"],
        ),
        Line(
            "paramwatch",
            "heartbeat: KMS Decrypt of the canary (aws/ssm key)",
            beats,
            "requests",
            beats / 1e4 * p["kms_requests_per_10k"],
        ),
        Line(
            "paramwatch",
            "heartbeat: Heartbeat metrics (ssm, kms, tamper)",
            HEARTBEAT_LEGS,
            "metrics",
            HEARTBEAT_LEGS * p["cloudwatch_metric_month"],
        ),
        Line(
            "paramwatch",
            "heartbeat: alarms on missing heartbeats",
            HEARTBEAT_ALARMS,
            "alarm metrics",
            HEARTBEAT_ALARMS * p["cloudwatch_alarm_metric_month"],
        ),
        Line("paramwatch", "heartbeat: logs", log_gb, "GB", log_gb * p["cloudwatch_logs_ingest_per_gb"]),
    ]
    if w.higher_throughput:
        lines.append(
            Line(
                "paramwatch",
                "heartbeat: SSM higher-throughput GetParameter",
                beats,
                "calls",
                beats / 1e4 * p["ssm_higher_throughput_per_10k"],
            )
        )
    return lines


def workload_lines(w: Workload, p: dict[str, Any]) -> list[Line]:
    """What the watched workload already pays for its secret reads, with or without paramwatch."""
    requests = w.reads_per_month
    billable = max(0.0, requests - p["kms_free_requests_month"])
    lines = [
        Line(
            "workload",
            "KMS Decrypt requests beyond the free tier",
            billable,
            "requests",
            billable / 1e4 * p["kms_requests_per_10k"],
        )
    ]
    if w.customer_managed_key:
        lines.append(Line("workload", "KMS customer-managed key", 1, "key", p["kms_key_month"]))
    if w.higher_throughput:
        lines.append(
            Line(
                "workload",
                "SSM higher-throughput API interactions",
                requests,
                "calls",
                requests / 1e4 * p["ssm_higher_throughput_per_10k"],
            )
        )
    return lines


def cheapest_memory(
    w: Workload, p: dict[str, Any], sizes: tuple[int, ...] = (128, 256, 512, 1024, 1769)
) -> list[tuple[int, float]]:
    """Monthly Lambda cost (requests and duration) at each memory size, cheapest first."""
    costs = []
    for size in sizes:
        sized = Workload(**{**w.__dict__, "memory_mb": size})
        lambda_lines = [line for line in monitor_lines(sized, p) if line.item.startswith("Lambda")]
        costs.append((size, sum(line.monthly for line in lambda_lines)))
    return sorted(costs, key=lambda item: item[1])
