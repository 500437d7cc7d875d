"""The monthly bill of paramwatch, next to what the watched workload already pays for its reads.

Pure arithmetic over a workload and the price table in `prices.json` (dated, with sources). A
month is 30 days, so 10 reads a second is 25,920,000 reads a month.

Alerts are counted after suppression for a stated incident shape: the violating reads come from
`violating_pairs` (principal, parameter) pairs that keep repeating all month, so each pair pages
once per suppression window, and the SSM call and its Decrypt page once together.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

SECONDS_PER_MONTH = 30 * 86400
EVENTS_PER_READ = 2  # the SSM call and the KMS Decrypt SSM makes for it
LEAN_EVENTS_PER_READ = 1  # lean mode drops the Decrypt SSM makes; direct Decrypts are attacks, left out
LAMBDA_FULL_CPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB, proportionally less below
# Custom metrics are billed per hour in which they are published. The incident shape keeps three
# alive: Findings for its rule and severity, AlertsSent and AlertsSuppressed; the other series
# (InvalidEvents, AlertsParked, other rules) cost only in hours that have such findings. The
# heartbeat's own metrics and alarms are counted in `heartbeat_lines`.
CUSTOM_METRICS = 3
# The standalone template's alarm metrics but the heartbeat's (a test counts them): errors,
# throttles, two queue depths, invalid events, destination failures, the metric-math alarm over
# the four rules' InvocationsFailedToBeSentToDlq, and held pages waiting past their hold. No
# FailedInvocations alarm: every rule target has a dead-letter queue, whose depth alarm already
# reports an invocation that failed for good.
ALARM_METRICS = 11
ORGANIZATION_ALARM_METRICS = 4  # the same dead-letter math alarm over the organization bus's four rules
FULL_GOAL, LEAN_GOAL = 0.20, 0.10  # of the workload's KMS Decrypt bill (the organization-wide issue's goal)
FINDING_EVENTS_PER_VIOLATION = 1  # every finding, paged or not, is one entry put on the findings bus
LOG_BYTES_ALLOWED = 0  # JSON log format, system level WARN, no per-event metric (tests/handler/test_quiet.py)
LOG_BYTES_FINDING = 2300  # the finding's log line and its EMF lines (2,089 bytes measured by the same test)
# Per violating event (a violating read is two events in full mode, one in lean mode), as
# tests/handler/test_violation_cost.py counts them for a held-back repeat: the delivery record
# (put, then done) and the held-back counter; four consistent reads of the pair's page claims.
# A page adds its claims, the sent marker and the first-seen bookkeeping.
VIOLATION_WRITES, VIOLATION_READS = 3, 4
PAGE_WRITES, PAGE_READS = 7, 1


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
    lean: bool = False
    accounts: int = 1
    regions: int = 1
    violating_pairs: int = 10
    suppression_minutes: int = 60
    heartbeat_minutes: int = 5  # the HeartbeatMinutes template parameter
    dashboard: bool = False  # the DashboardEnabled template parameter
    canary_ms: float = 100.0  # one GetParameter with decryption, from a 128 MB function

    @property
    def reads_per_month(self) -> float:
        return self.reads_per_second * SECONDS_PER_MONTH

    @property
    def events_per_read(self) -> int:
        return LEAN_EVENTS_PER_READ if self.lean else EVENTS_PER_READ

    @property
    def pages_per_month(self) -> float:
        """Alerts after pairing and suppression: at most one per violating pair and window."""
        windows = SECONDS_PER_MONTH / 60 / self.suppression_minutes
        return min(self.reads_per_month * self.violation_share, self.violating_pairs * windows)

    @property
    def forwarded_share(self) -> float:
        """Share of events a member stack forwards to the central bus in another account or region.

        Reads are spread evenly over accounts and regions; only the security account's own region
        reaches the evaluator from its default bus, for free.
        """
        stacks = self.accounts * self.regions
        return (stacks - 1) / stacks


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
    events = w.reads_per_month * w.events_per_read
    violations = w.reads_per_month * w.violation_share
    violating_events = violations * w.events_per_read
    allowed_events = events - violating_events
    pages = w.pages_per_month
    forwarded = events * w.forwarded_share
    alarm_metrics = ALARM_METRICS + (ORGANIZATION_ALARM_METRICS if w.accounts * w.regions > 1 else 0)
    gb = w.memory_mb / 1024
    gb_seconds = (
        (
            allowed_events * billed_ms(w.cpu_ms_allowed, 0, w.memory_mb)
            + violating_events * billed_ms(w.cpu_ms_violation, w.io_ms_violation, w.memory_mb)
        )
        / 1000
        * gb
    )
    log_gb = (allowed_events * LOG_BYTES_ALLOWED + violating_events * LOG_BYTES_FINDING) / 2**30
    writes = violating_events * VIOLATION_WRITES + pages * PAGE_WRITES
    reads = violating_events * VIOLATION_READS + pages * PAGE_READS
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
            "EventBridge, forwarded to the central bus",
            forwarded,
            "events",
            forwarded / 1e6 * p["eventbridge_cross_account_event_per_million"],
        ),
        Line(
            "paramwatch",
            "EventBridge, findings put on the findings bus",
            violating_events * FINDING_EVENTS_PER_VIOLATION,
            "events",
            violating_events * FINDING_EVENTS_PER_VIOLATION / 1e6 * p["eventbridge_custom_event_per_million"],
        ),
        Line(
            "paramwatch",
            "SNS publishes (pages, after suppression)",
            pages,
            "publishes",
            pages / 1e6 * p["sns_publish_per_million"],
        ),
        Line(
            "paramwatch",
            "SNS e-mail deliveries",
            pages * w.email_subscribers,
            "e-mails",
            pages * w.email_subscribers / 1e5 * p["sns_email_per_100k"],
        ),
        Line(
            "paramwatch",
            "DynamoDB writes",
            writes,
            "WRU",
            writes / 1e6 * p["dynamodb_write_request_unit_per_million"],
        ),
        Line(
            "paramwatch",
            "DynamoDB reads",
            reads,
            "RRU",
            reads / 1e6 * p["dynamodb_read_request_unit_per_million"],
        ),
        Line(
            "paramwatch",
            "CloudWatch custom metrics (published hourly)",
            CUSTOM_METRICS,
            "metrics",
            CUSTOM_METRICS * p["cloudwatch_metric_month"],
        ),
        Line(
            "paramwatch",
            "CloudWatch alarms",
            alarm_metrics,
            "alarm metrics",
            alarm_metrics * p["cloudwatch_alarm_metric_month"],
        ),
        Line("paramwatch", "CloudWatch Logs ingestion", log_gb, "GB", log_gb * p["cloudwatch_logs_ingest_per_gb"]),
    ]
    if w.pipeline_key:
        lines.append(Line("paramwatch", "KMS pipeline key", 1, "key", p["kms_key_month"]))
    if w.dashboard:
        lines.append(
            Line(
                "paramwatch",
                "CloudWatch dashboard (DashboardEnabled=true)",
                1,
                "dashboard",
                p["cloudwatch_dashboard_month"],
            )
        )
    return lines + heartbeat_lines(w, p)


HEARTBEAT_LEGS = 3  # the canary's GetParameter, the Decrypt SSM makes for it (not in lean mode), and its label
MEMBER_HEARTBEAT_LEGS = 2  # a member forwards its canary's read and Decrypt (not in lean mode), no write events
HEARTBEAT_ALARMS = 1  # HeartbeatAlarm on SilentHeartbeats, one series whatever the legs and members
REGISTRY_SHARDS = 16  # paramwatch_aws.liveness_store.SHARDS (a test keeps them equal)
CANARY_MEMORY_MB = 128
LOG_BYTES_CANARY = 700  # Lambda START/END/REPORT lines and one "heartbeat" line


def heartbeat_lines(w: Workload, p: dict[str, Any]) -> list[Line]:
    """What the heartbeat adds: a canary read every `heartbeat_minutes` in every account and region.

    The evaluator records each leg's arrival (the central stack's own legs and, in organization
    mode, each member account and region's) as one small item in the state table: one write unit.
    Every period the central canary renews its own legs' items (one write each) and reads all items
    and the registry's shards (eventually consistent, half a read unit per item of up to 4 KB), and
    publishes one `SilentHeartbeats` series, with one alarm. Each other account and region runs its
    own canary (member.yaml): its schedule, Lambda, Decrypt and logs are billed to that member, and
    are counted here as what the organization pays; its read and Decrypt cross to the central bus.
    """
    beats = SECONDS_PER_MONTH / 60 / w.heartbeat_minutes
    legs = HEARTBEAT_LEGS - 1 if w.lean else HEARTBEAT_LEGS
    member_legs = MEMBER_HEARTBEAT_LEGS - 1 if w.lean else MEMBER_HEARTBEAT_LEGS
    members = w.accounts * w.regions - 1
    canaries = beats * (1 + members)
    forwarded = beats * members * member_legs
    events = beats * legs + forwarded
    writes = events + beats * legs
    check_reads = beats * (REGISTRY_SHARDS + legs + members * member_legs) * 0.5
    canary_gb_s = canaries * billed_ms(0, w.canary_ms, CANARY_MEMORY_MB) / 1000 * CANARY_MEMORY_MB / 1024
    evaluator_gb_s = events * billed_ms(w.cpu_ms_allowed, 0, w.memory_mb) / 1000 * w.memory_mb / 1024
    log_gb = (canaries * LOG_BYTES_CANARY + events * LOG_BYTES_ALLOWED) / 2**30
    lines = [
        Line(
            "paramwatch",
            "heartbeat: schedule ticks (Scheduler price, upper bound)",
            canaries,
            "ticks",
            canaries / 1e6 * p["eventbridge_scheduler_per_million"],
        ),
        Line(
            "paramwatch",
            "heartbeat: Lambda requests (canaries and each leg)",
            canaries + events,
            "invocations",
            (canaries + events) / 1e6 * p["lambda_request_per_million"],
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
            "heartbeat: KMS Decrypt of the canaries (aws/ssm key)",
            canaries,
            "requests",
            canaries / 1e4 * p["kms_requests_per_10k"],
        ),
        Line(
            "paramwatch",
            "heartbeat: members' legs forwarded to the central bus",
            forwarded,
            "events",
            forwarded / 1e6 * p["eventbridge_cross_account_event_per_million"],
        ),
        Line(
            "paramwatch",
            "heartbeat: last arrivals written (DynamoDB)",
            writes,
            "WRU",
            writes / 1e6 * p["dynamodb_write_request_unit_per_million"],
        ),
        Line(
            "paramwatch",
            "heartbeat: canary's checks (DynamoDB)",
            check_reads,
            "RRU",
            check_reads / 1e6 * p["dynamodb_read_request_unit_per_million"],
        ),
        Line(
            "paramwatch",
            "heartbeat: SilentHeartbeats metric",
            1,
            "metrics",
            p["cloudwatch_metric_month"],
        ),
        Line(
            "paramwatch",
            "heartbeat: HeartbeatAlarm",
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
                canaries,
                "calls",
                canaries / 1e4 * p["ssm_higher_throughput_per_10k"],
            )
        )
    return lines


def workload_lines(w: Workload, p: dict[str, Any]) -> list[Line]:
    """What the watched workload already pays for its secret reads, with or without paramwatch."""
    requests = w.reads_per_month
    billable = max(0.0, requests - p["kms_free_requests_month"] * w.accounts)  # the free tier is per account
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
        keys = w.accounts * w.regions
        lines.append(Line("workload", "KMS customer-managed keys", keys, "keys", keys * p["kms_key_month"]))
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


def share(w: Workload, p: dict[str, Any]) -> float:
    """paramwatch's bill as a share of the workload's KMS Decrypt bill (infinite when that is 0)."""
    kms = sum(line.monthly for line in workload_lines(w, p) if line.item.startswith("KMS Decrypt"))
    monitor = sum(line.monthly for line in monitor_lines(w, p))
    return monitor / kms if kms else math.inf


def goal_met_from(w: Workload, p: dict[str, Any], goal: float, ceiling: float = 100_000.0) -> float | None:
    """The lowest read rate (reads/s, to 0.1) at which `w`, at that rate, costs at most `goal` of the
    KMS bill; None when even `ceiling` reads/s does not (the per-read part alone exceeds the goal).

    The share falls as the rate grows (the fixed part thins out; pages are capped by the incident
    shape), so a bisection finds it.
    """

    def at(rate: float) -> float:
        return share(Workload(**{**w.__dict__, "reads_per_second": rate}), p)

    if at(ceiling) > goal:
        return None
    low, high = 0.0, ceiling
    while high - low > 0.05:
        middle = (low + high) / 2
        low, high = (middle, high) if at(middle) > goal else (low, middle)
    return math.ceil(high * 10) / 10
