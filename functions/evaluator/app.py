"""Evaluator: judge one CloudTrail event delivered by EventBridge, then alert and count.

The handler is thin on purpose: verdicts come from the pure `paramwatch` library in the layer; this
module reads the allowlist, gives the detector its DynamoDB memory, publishes alerts and emits
metrics.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from paramwatch import allowlist as allowlist_mod
from paramwatch.allowlist import Allowlist, AllowlistError, with_account_names, with_honeytokens
from paramwatch.cloudtrail import detail_of
from paramwatch.detector import Detector, Tuning, Verdict
from paramwatch.escape import safe
from paramwatch.findings import Finding, Rule, Severity
from paramwatch.heartbeat import Heartbeat
from paramwatch.hold import Holds
from paramwatch.liveness import Member, account_of
from paramwatch.pieces import Piece, merge
from paramwatch.render import safe_dict
from paramwatch.settings import Settings
from paramwatch.tamper import Change, allowlist_changes
from paramwatch_aws.account_names import OrganizationNames
from paramwatch_aws.alerts import AlertSender, Delivery
from paramwatch_aws.allowlist_store import RETRIES, AllowlistStore, StoredAllowlist
from paramwatch_aws.bus import FindingBus
from paramwatch_aws.cached_state import CachedState
from paramwatch_aws.dynamo_state import DynamoState
from paramwatch_aws.held_pages import HoldQueue, held_page, is_held_batch
from paramwatch_aws.hub import SecurityHubSink
from paramwatch_aws.liveness_store import LivenessStore
from paramwatch_aws.own_store import OwnStore

logger = Logger()
metrics = Metrics()


@dataclass(frozen=True)
class Runtime:
    """What a warm function reuses between invocations: checked settings and AWS clients."""

    settings: Settings
    tuning: Tuning
    alerts: AlertSender
    state: CachedState
    allowlist: AllowlistStore
    own: OwnStore
    bus: FindingBus
    hub: SecurityHubSink | None
    holds: Holds
    hold_queue: HoldQueue | None
    liveness: LivenessStore
    account_names: OrganizationNames | None


@cache
def runtime() -> Runtime:
    """Built on the first invocation, not at import, so tests and cold starts stay cheap."""
    import boto3  # imported with the first client, off the module-import path
    from botocore.config import Config

    settings = Settings.from_env(os.environ)
    config = Config(retries=RETRIES)
    session = boto3.session.Session()
    table = session.resource("dynamodb", config=config).Table(settings.state_table)
    alerts = AlertSender(
        sns=session.client("sns", config=config),
        sqs=session.client("sqs", config=config),
        topic_arn=settings.alert_topic_arn,
        failure_queue_url=settings.failure_queue_url,
    )
    state = CachedState(DynamoState(table))
    ssm = session.client("ssm", config=config)
    store = AllowlistStore(
        ssm=ssm,
        name=settings.allowlist_parameter,
        max_age=settings.allowlist_cache_seconds,
        grants_path=settings.grants_path,
    )
    own = OwnStore(ssm=ssm, settings=settings, max_age=settings.allowlist_cache_seconds)
    bus = FindingBus(events=session.client("events", config=config), bus_name=settings.findings_bus)
    hub = None
    if settings.security_hub:
        partition, region, account = settings.stack_arn_parts
        hub = SecurityHubSink(
            session.client("securityhub", config=config), partition=partition, region=region, account=account
        )
    hold_queue = None
    if settings.hold_queue_url and settings.incident_hold_seconds:
        hold_queue = HoldQueue(alerts.sqs, settings.hold_queue_url)
    return Runtime(
        holds=Holds(state, settings.incident_hold_seconds if hold_queue else 0),
        hold_queue=hold_queue,
        settings=settings,
        tuning=settings.tuning,
        alerts=alerts,
        state=state,
        allowlist=store,
        own=own,
        bus=bus,
        hub=hub,
        liveness=LivenessStore(table),
        account_names=(
            OrganizationNames(session.client("organizations", config=config))
            if settings.account_names_from_organizations
            else None
        ),
    )


def describe(raw: Any) -> dict[str, str]:
    """What a debug log may say about an event: its identity, escaped, never its body.

    Raw events are never logged (`log_event=False` even if POWERTOOLS_LOGGER_LOG_EVENT is set):
    they hold attacker-controlled text, and a future CloudTrail field could hold a value.
    """
    detail = raw.get("detail") if isinstance(raw, dict) else None
    if not isinstance(detail, dict):
        return {"shape": type(raw).__name__}
    return {key: safe(detail.get(key), 200) for key in ("eventID", "eventSource", "eventName")}


def correlation_id(event: Any) -> str | None:
    """The CloudTrail eventID for every log line, escaped: it comes from the event, unchecked."""
    detail = event.get("detail") if isinstance(event, dict) else None
    event_id = detail.get("eventID") if isinstance(detail, dict) else None
    return safe(event_id, 128) if isinstance(event_id, str) else None


def record_of(event: Any) -> Any:
    """The CloudTrail record in an EventBridge event; whatever else arrives is judged as is."""
    if isinstance(event, dict):
        return detail_of(event) if "detail-type" in event else event.get("detail")
    return event


def load_allowlist(rt: Runtime) -> tuple[Allowlist, Finding | None]:
    """The stored allowlist plus the stack's honeytokens.

    Fails closed: a document that does not validate, or delegated pieces that conflict, are
    judged as one with no grant, and the honeytoken prefix comes from the function's settings, so
    every decoy still fires.
    """
    stored = rt.allowlist.get()
    pieces = [Piece(stored.name, stored.text)] + [Piece(p.name, p.text) for p in rt.allowlist.pieces()]
    try:
        allowlist, problem = merge(pieces), None
    except AllowlistError as exc:
        logger.error("allowlist is invalid", extra={"problems": [safe(p) for p in exc.problems]})
        allowlist, problem = allowlist_mod.EMPTY, invalid_allowlist(stored, exc.problems)
    return with_honeytokens(named(rt, allowlist), rt.settings.honeytokens), problem


def named(rt: Runtime, allowlist: Allowlist) -> Allowlist:
    """The allowlist with the organization's account names under its own map, when enabled.

    Fails soft: a read that fails keeps the names already known, logs one warning and counts one
    `AccountNamesUnavailable`; judging goes on (a name is a convenience, never a verdict).
    """
    if rt.account_names is None:
        return allowlist
    got = rt.account_names.get()
    if got.error is not None:
        logger.warning("account names unavailable from Organizations", extra={"error": safe(got.error, 100)})
        metrics.add_metric(name="AccountNamesUnavailable", unit=MetricUnit.Count, value=1)
    return with_account_names(allowlist, got.names)


def invalid_allowlist(stored: StoredAllowlist, problems: list[str]) -> Finding:
    """The finding for a stored allowlist that does not validate, for whoever must fix it."""
    version = f"version {stored.version}" if stored.version is not None else "current version"
    return Finding(
        event_id=f"allowlist:{stored.name}#{stored.version}",
        rule=Rule.ALLOWLIST_INVALID,
        severity=Severity.HIGH,
        principal=None,
        parameters=(stored.name,),
        event_time=stored.modified,
        source_ip=None,
        summary=(
            f"[{Rule.ALLOWLIST_INVALID}] The allowlist {safe(stored.name)} ({version}) does not validate "
            f"({len(problems)} problem(s)): no grant allows anything until it is fixed; honeytokens still fire."
        ),
        problems=tuple(problems),
    )


def publish(rt: Runtime, verdict: Verdict, event_id: str | None) -> None:
    """Send (or park) one alert, at most once per event and rule, even across retries.

    The detector pages at most once per event and rule, so a marker found here can only have been
    left by an earlier attempt at this same event (a Lambda retry after a later step failed).
    """
    marker = f"sent#{event_id}#{verdict.finding.rule}" if event_id else None
    if marker and rt.state.count(marker):
        logger.info(
            "alert not sent again: an earlier attempt at this event (a Lambda retry) already sent it",
            extra={"rule": str(verdict.finding.rule)},
        )
        return
    delivery = rt.alerts.send(verdict)
    if marker:
        rt.state.increment(marker, time.time() + 86400)
    if delivery is Delivery.PARKED:
        logger.error("alert refused by SNS for good; parked in the failure queue")
        metrics.add_metric(name="AlertsParked", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="AlertsSent", unit=MetricUnit.Count, value=1)


def file_in_security_hub(rt: Runtime, verdict: Verdict, event_id: str | None, now: float) -> None:
    """Import a paged finding into Security Hub (when enabled), once per event and rule."""
    if rt.hub is None:
        return
    marker = f"hub#{event_id}#{verdict.finding.rule}" if event_id else None
    if marker and rt.state.count(marker):
        return
    rt.hub.file(verdict.finding, rt.state, now)
    metrics.add_metric(name="SecurityHubFindings", unit=MetricUnit.Count, value=1)
    if marker:
        rt.state.increment(marker, now + 86400)


def send_hold(rt: Runtime, incident: str, verdict: Verdict) -> bool:
    """Queue the page of an incident just opened; False (page at once) when the queue refuses it."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        rt.hold_queue.send(incident, verdict)
    except (ClientError, BotoCoreError) as exc:
        logger.error("page not held: the hold queue refused it, paging at once", extra={"error": safe(str(exc), 300)})
        metrics.add_metric(name="HoldsFailed", unit=MetricUnit.Count, value=1)
        return False
    metrics.add_metric(name="PagesHeld", unit=MetricUnit.Count, value=1)
    return True


def release(rt: Runtime, body: str) -> Verdict:
    """Send the page of a held incident, composed from what the incident gathered meanwhile.

    A redelivered message sends nothing again (the publish marker is the incident's); a failure
    raises, so the message is retried and, after its retries, lands in the failure queue.
    """
    incident, lead = held_page(body)
    logger.set_correlation_id(safe(incident, 128))
    page = rt.holds.release(incident, lead)
    logger.warning("finding", extra={"finding": safe_dict(page.finding), "paged": True, "held": True})
    publish(rt, page, incident)
    file_in_security_hub(rt, page, incident, time.time())
    return page


def release_batch(rt: Runtime, records: list[dict[str, Any]]) -> list[Verdict]:
    """Send every held page of an SQS batch, then re-raise the first failure, if any.

    One message that fails (a foreign body, a throttled publish) must not hold back the pages after
    it; SQS then delivers the whole batch again, and the pages already sent are not sent twice.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    pages, failure = [], None
    for record in records:
        try:
            pages.append(release(rt, record["body"]))
        except (ValueError, ClientError, BotoCoreError) as exc:  # re-raised below, after the rest
            failure = failure or exc
    if failure is not None:
        raise failure
    return pages


def announce(rt: Runtime, verdicts: list[Verdict]) -> None:
    """Put every finding, paged or not, on the event bus.

    No marker guards a retry: the delivery record already stops a redelivery of a finished event,
    so only a retry after `finish` itself failed puts the findings again. The bus is at least once
    anyway (EventBridge's own delivery is), and consumers deduplicate on the finding's event_id and
    rule; a marker would cost a write and a read on every finding, paged or not.
    """
    if verdicts:
        rt.bus.put(verdicts)  # no metric: it would equal the sum of Findings, at 0.30 USD a month more


def count(verdict: Verdict) -> None:
    """One `Findings` data point per finding, by rule and severity (both low-cardinality)."""
    finding = verdict.finding
    with single_metric(name="Findings", unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as metric:
        metric.add_dimension(name="rule", value=str(finding.rule))
        metric.add_dimension(name="severity", value=str(finding.severity))
    if finding.rule is Rule.INVALID_EVENT:
        metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
    if not verdict.paged:
        metrics.add_metric(name="AlertsSuppressed", unit=MetricUnit.Count, value=1)


def beat(rt: Runtime, heartbeat: Heartbeat, context: LambdaContext, now: float) -> None:
    """Record the leg's arrival (`ssm`, `kms` or `tamper`) in the state table; the canary checks them.

    The stack's own legs and, in organization mode, every member account and region's, each as one
    small item, not a metric series and alarm per leg (see `paramwatch.liveness`).
    """
    home = (account_of(getattr(context, "invoked_function_arn", "")), os.environ.get("AWS_REGION"))
    account, region = (heartbeat.account, heartbeat.region) if heartbeat.account and heartbeat.region else home
    leg = Member.of(account, region, heartbeat.leg)
    if leg is None:
        logger.warning("heartbeat with a malformed account or region ignored", extra={"leg": heartbeat.leg})
    elif rt.liveness.record(leg, now):
        logger.info("first heartbeat of a leg", extra={"leg": leg.key})


def _version(rt: Runtime, version: int) -> str | None:
    """One version of the allowlist parameter (a String, no secret); None when it cannot be read."""
    from botocore.exceptions import ClientError

    try:
        answer = rt.allowlist.ssm.get_parameter(Name=f"{rt.settings.allowlist_parameter}:{version}")
    except ClientError as exc:
        logger.warning("allowlist version unreadable", extra={"version": version, "error": safe(str(exc), 300)})
        return None
    return answer["Parameter"]["Value"]


def explain_allowlist_change(rt: Runtime, verdict: Verdict, change: Change) -> Verdict:
    """Add what the new allowlist version grants that the previous did not (added, removed, widened).

    A version that does not validate, or that drops a honeytoken, blinds paramwatch: high.
    """
    version = change.allowlist_version or 0
    new = _version(rt, version)
    if new is None:
        return replace(verdict, notes=(*verdict.notes, f"Allowlist version {version} could not be read to compare."))
    lines, blinding = allowlist_changes(_version(rt, version - 1) if version > 1 else None, new)
    notes = (*verdict.notes, *(f"Allowlist version {version}: {line}" for line in lines))
    finding = verdict.finding
    if blinding and finding.severity is Severity.MEDIUM:
        finding = replace(finding, severity=Severity.HIGH)
    return replace(verdict, finding=finding, notes=notes)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Judge the event's CloudTrail record; alert on each finding that pages.

    An allowed read writes nothing: no log line, no metric (Lambda's own `Invocations` counts
    events for free, and the system log level WARN drops START/END/REPORT). Metrics are flushed
    only when a finding counted something, because Powertools warns on an empty flush.
    """
    try:
        if is_held_batch(event):
            return {"pages": [page.to_dict() for page in release_batch(runtime(), event["Records"])]}
        return _handle(event, context)
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()


def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(correlation_id(event))
    rt = runtime()
    now = time.time()
    allowlist, problem = load_allowlist(rt)
    detector = Detector(allowlist, rt.state, rt.tuning, own=rt.own.get())
    logger.debug("event received", extra={"event": describe(event)})
    outcome = detector.process(record_of(event), now)
    if outcome.heartbeat is not None:
        beat(rt, outcome.heartbeat, context, now)
    verdicts = list(outcome.verdicts)
    if outcome.change is not None and outcome.change.allowlist_version:
        verdicts = [explain_allowlist_change(rt, v, outcome.change) for v in verdicts]
    if problem is not None:
        verdicts.insert(0, detector.pipeline_verdict(problem, now, outcome.begun or "unknown"))
    try:
        for i, verdict in enumerate(verdicts):
            held = rt.holds.take(verdict, now)
            verdicts[i] = verdict = held.verdict
            logger.warning("finding", extra={"finding": safe_dict(verdict.finding), "paged": verdict.paged})
            count(verdict)
            if verdict.paged and not (held.opened and send_hold(rt, held.opened, verdict)):
                publish(rt, verdict, outcome.begun)
                file_in_security_hub(rt, verdict, outcome.begun, now)
        announce(rt, verdicts)
    except Exception:
        if outcome.begun:
            detector.abandon(outcome.begun)
        raise
    if outcome.begun:
        detector.finish(outcome.begun)
    return {"verdicts": [v.to_dict() for v in verdicts]}
