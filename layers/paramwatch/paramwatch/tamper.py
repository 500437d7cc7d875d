"""Tamper rules: writes that blind paramwatch, judged as findings of rule `tamper`.

An attacker who knows the monitor blinds it first, then reads the secrets: stops or narrows the
trail, disables or retargets the rules, throttles or rewrites the evaluator, silences the alert
topic, disables the key, purges the queues that hold alerts, or rewrites the allowlist. Each such
write is a finding that names what changed, who changed it, and why it blinds the monitor.

Trail-wide rules apply to every trail in the account. The others apply to paramwatch's own
resources (`Own`). A change that CloudFormation makes to them (`invokedBy`
`cloudformation.amazonaws.com`), deploying the stack, is a low finding that does not page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paramwatch.allowlist import AllowlistError, parse
from paramwatch.cloudtrail import CloudTrailRecord
from paramwatch.escape import safe
from paramwatch.findings import Finding, Rule, Severity
from paramwatch.identity import resolve
from paramwatch.names import ParameterNameError, canonical_name
from paramwatch.own import MEMBER_PREFIX, Own, is_canary, matches
from paramwatch.trail import gaps

CLOUDFORMATION = "cloudformation.amazonaws.com"
READ_STATE = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
# Lambda's CloudTrail event names carry the API version: UpdateFunctionCode20150331v2.
_API_VERSION = re.compile(r"\d{8}(v\d+)?$")

SOURCES: dict[str, frozenset[str]] = {
    "cloudtrail.amazonaws.com": frozenset(
        {"StopLogging", "DeleteTrail", "PutEventSelectors", "PutAdvancedEventSelectors", "UpdateTrail"}
    ),
    "events.amazonaws.com": frozenset(
        {
            "DisableRule",
            "DeleteRule",
            "PutRule",
            "RemoveTargets",
            "PutTargets",
            "DeleteEventBus",
            "PutPermission",
            "RemovePermission",
        }
    ),
    "lambda.amazonaws.com": frozenset(
        {
            "UpdateFunctionCode",
            "UpdateFunctionConfiguration",
            "DeleteFunction",
            "RemovePermission",
            "PutFunctionConcurrency",
            "UpdateEventSourceMapping",
            "DeleteEventSourceMapping",
        }
    ),
    "sqs.amazonaws.com": frozenset({"PurgeQueue", "DeleteQueue", "SetQueueAttributes"}),
    "sns.amazonaws.com": frozenset({"Unsubscribe", "DeleteTopic", "SetTopicAttributes", "SetSubscriptionAttributes"}),
    "kms.amazonaws.com": frozenset({"DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy"}),
    "ssm.amazonaws.com": frozenset({"PutParameter", "DeleteParameter", "DeleteParameters", "LabelParameterVersion"}),
    "monitoring.amazonaws.com": frozenset({"DeleteAlarms", "DisableAlarmActions", "PutMetricAlarm", "SetAlarmState"}),
    "cloudformation.amazonaws.com": frozenset({"DeleteStack"}),
}
TRAIL_WIDE = "cloudtrail.amazonaws.com"


@dataclass(frozen=True, slots=True)
class Change:
    """A write that may blind paramwatch: what it touched, how badly, and how to undo it."""

    kind: str
    target: str
    severity: Severity
    why: str
    undo: str
    by_deploy: bool = False
    allowlist_version: int | None = None


# The versioned names Lambda records today, for readers that match exact names (replay's byte
# filter); the EventBridge rule matches by prefix.
LAMBDA_EVENT_NAMES = frozenset(
    {
        "UpdateFunctionCode20150331v2",
        "UpdateFunctionConfiguration20150331v2",
        "DeleteFunction20150331",
        "RemovePermission20150331v2",
        "PutFunctionConcurrency20171031",
        "UpdateEventSourceMapping20150331",
        "DeleteEventSourceMapping20150331",
    }
)


def calls(own: Own) -> frozenset[tuple[str, str]]:
    """Every (eventSource, eventName) a tamper rule may judge for `own`, Lambda's versions included."""
    sources = SOURCES if own.knows_resources else {TRAIL_WIDE: SOURCES[TRAIL_WIDE]}
    out = {(source, name) for source, names in sources.items() for name in names}
    if own.knows_resources:
        out |= {("lambda.amazonaws.com", name) for name in LAMBDA_EVENT_NAMES}
    return frozenset(out)


def api_name(source: str, event_name: str) -> str:
    """The API an event name stands for, without Lambda's version suffix."""
    return _API_VERSION.sub("", event_name) if source == "lambda.amazonaws.com" else event_name


def wants(record: dict[str, Any], own: Own) -> bool:
    """Cheap pre-filter on a raw record, before validation: a write a tamper rule may judge."""
    source, name = record.get("eventSource"), record.get("eventName")
    if not isinstance(source, str) or not isinstance(name, str):
        return False
    if api_name(source, name) not in SOURCES.get(source, ()):
        return False
    if source == TRAIL_WIDE:
        return True
    if not own.knows_resources:
        return False
    if source == "ssm.amazonaws.com":
        params = record.get("requestParameters")
        if not isinstance(params, dict):
            return False
        return bool(_own_parameters(params, own)) or (name == "LabelParameterVersion" and _names_canary(params, own))
    if source == "sqs.amazonaws.com":  # the rule delivers the stack's queues only, like SSM's parameters
        params = record.get("requestParameters")
        return isinstance(params, dict) and matches(own.queues, _text(params, "queueUrl"))
    return True


def _names_canary(params: dict[str, Any], own: Own) -> bool:
    """The canary's label is the heartbeat of this rule's path (see heartbeat.write_heartbeat_of)."""
    return is_canary(own, params.get("name"))


def _text(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    return value if isinstance(value, str) else None


def _function_name(raw: str | None) -> str | None:
    """A function's name from a name, a partial ARN or a full ARN, qualifier dropped."""
    if raw is None:
        return None
    rest = raw.split(":function:", 1)[-1]
    return rest.split(":", 1)[0]


def _own_parameters(params: dict[str, Any], own: Own, patterns: tuple[str, ...] | None = None) -> list[str]:
    """The stack's parameters a write names (the canary aside: its heartbeat recreates it)."""
    raw = params.get("names") if isinstance(params.get("names"), list) else [params.get("name")]
    out = []
    for name in raw:
        if not isinstance(name, str):
            continue
        try:
            canonical = canonical_name(name)
        except ParameterNameError:
            continue
        wanted = (*own.allowlists, *own.parameters) if patterns is None else patterns
        if not is_canary(own, canonical) and matches(wanted, canonical):
            out.append(canonical)
    return out


# -- the rules, one per service ------------------------------------------------------------------


def _trail(name: str, params: dict[str, Any], own: Own, record: CloudTrailRecord) -> Change | None:
    trail = _text(params, "name") or _text(params, "trailName") or "unknown trail"
    if name == "StopLogging":
        return Change(
            "trail",
            trail,
            Severity.HIGH,
            "CloudTrail stops recording, so EventBridge gets no events and paramwatch sees no read",
            f"Run 'aws cloudtrail start-logging --name {safe(trail)}'.",
        )
    if name == "DeleteTrail":
        return Change(
            "trail",
            trail,
            Severity.HIGH,
            "without a logging trail EventBridge gets no CloudTrail events, so paramwatch sees no read",
            "Recreate a trail that records management events, read and write, with KMS events.",
        )
    if name in ("PutEventSelectors", "PutAdvancedEventSelectors"):
        lost = gaps(params.get("eventSelectors"), params.get("advancedEventSelectors"))
        if not lost:
            return None
        return Change(
            "trail",
            trail,
            Severity.HIGH,
            "its new event selectors no longer record " + "; ".join(lost),
            "Restore selectors that record all management events, read and write, KMS included "
            "(or confirm another trail still does: 'paramwatch doctor').",
        )
    if name == "UpdateTrail" and params.get("isMultiRegionTrail") is False:
        return Change(
            "trail",
            trail,
            Severity.MEDIUM,
            "the trail now records only its home region, so reads in other regions go unseen",
            f"If other regions relied on it: 'aws cloudtrail update-trail --name {safe(trail)} "
            "--is-multi-region-trail'.",
        )
    return None


def _rules(name: str, params: dict[str, Any], own: Own, record: CloudTrailRecord) -> Change | None:
    if name in ("DeleteEventBus", "PutPermission", "RemovePermission"):
        bus = _text(params, "name") if name == "DeleteEventBus" else _text(params, "eventBusName")
        if not matches(own.buses, bus):
            return None
        return Change(
            "bus",
            bus,
            Severity.HIGH,
            "the event bus that carries forwarded reads to the evaluator was deleted or its access changed",
            "Redeploy the stack ('sam deploy') to restore the bus and its policy.",
        )
    rule = _text(params, "name") or _text(params, "rule")
    if not matches(own.rules, rule):
        return None
    why = {
        "DisableRule": "the rule is disabled, so the events it delivers no longer reach the evaluator",
        "DeleteRule": "the rule is deleted, so the events it delivered no longer reach the evaluator",
        "RemoveTargets": "targets were removed, so matching events go nowhere",
        "PutTargets": "targets were added or replaced, so events may go elsewhere than the evaluator",
    }.get(name)
    severity = Severity.HIGH
    if name == "PutRule":
        state = _text(params, "state") or "ENABLED"
        if state == "DISABLED":
            why = "the rule was rewritten as DISABLED"
        elif matches(own.read_rules, rule) and state != READ_STATE:
            why = f"the rule was rewritten with State {safe(state, 60)}, which receives no read-only events (no reads)"
        else:
            why = "the rule's pattern was rewritten outside a deploy; it may no longer match what it should"
            severity = Severity.MEDIUM
    undo = "Redeploy the stack ('sam deploy') to restore its rules."
    if rule is not None and rule.startswith(MEMBER_PREFIX):
        undo = (
            "Restore the member stack in that account and region: re-run the StackSet's instance "
            "(aws cloudformation update-stack-instances), or redeploy member.yaml there."
        )
    return Change("rule", rule, severity, why, undo)


def _functions(name: str, params: dict[str, Any], own: Own, record: CloudTrailRecord) -> Change | None:
    if name.endswith("EventSourceMapping"):
        return _mapping(name, params, own, record)
    function = _function_name(_text(params, "functionName"))
    if not matches(own.functions, function):
        return None
    severity = Severity.HIGH
    why = {
        "UpdateFunctionCode": "its code was replaced outside a deploy; new code can judge nothing and send nothing",
        "UpdateFunctionConfiguration": "its settings (environment, role, layers, timeout) changed outside a deploy",
        "DeleteFunction": "the function is gone, so events are not judged",
        "RemovePermission": "a permission was removed, so EventBridge may no longer invoke it",
    }.get(name, "")
    if name == "PutFunctionConcurrency":
        reserved = params.get("reservedConcurrentExecutions")
        if reserved == 0:
            why = "reserved concurrency 0 throttles it to nothing: no event is judged"
        else:
            why = f"reserved concurrency set to {safe(reserved)}: a burst of reads is throttled and alerts are late"
            severity = Severity.MEDIUM
    return Change("function", function, severity, why, "Redeploy the stack ('sam deploy') to restore the function.")


def _mapping_fields(record: CloudTrailRecord) -> tuple[set[str], set[str]]:
    """The UUIDs and function names a mapping change names, request and response alike.

    Matched on any spelling of the key (CloudTrail writes request fields in lower camel case, so
    `UUID` may read `uUID`): a mapping change that names paramwatch's is judged whatever the casing.
    """
    uuids: set[str] = set()
    functions: set[str] = set()
    for part in (record.request_parameters, record.response_elements):
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if not isinstance(value, str):
                continue
            if key.lower() == "uuid":
                uuids.add(value)
            elif key.lower() in ("functionname", "functionarn"):
                functions.add(_function_name(value) or value)
    return uuids, functions


def _mapping(name: str, params: dict[str, Any], own: Own, record: CloudTrailRecord) -> Change | None:
    """The hold queue's event source mapping: disabled or deleted, held pages are never sent."""
    uuids, functions = _mapping_fields(record)
    mine = sorted(u for u in uuids if matches(own.mappings, u))
    if not mine and not any(matches(own.functions, f) for f in functions):
        return None
    target = (mine or sorted(uuids) or ["an event source mapping of the evaluator"])[0]
    if name.startswith("Delete"):
        why = "the mapping that delivers held pages to the evaluator is deleted, so held alerts are never sent"
    elif params.get("enabled") is False:
        why = "the mapping that delivers held pages to the evaluator is disabled, so held alerts wait unsent"
    else:
        why = "the mapping that delivers held pages to the evaluator was changed outside a deploy"
    return Change("event source mapping", target, Severity.HIGH, why, "Redeploy the stack ('sam deploy').")


# what a queue attribute can do to the alerts it holds: delay them, drop them, or lock out their readers
_LOUD_QUEUE_ATTRIBUTES = frozenset(
    {"DelaySeconds", "MessageRetentionPeriod", "Policy", "KmsMasterKeyId", "RedrivePolicy", "VisibilityTimeout"}
)


def _queues(name: str, params: dict[str, Any], own: Own, record: CloudTrailRecord) -> Change | None:
    """The queues that hold alerts: held pages, parked alerts, events EventBridge could not deliver."""
    queue = _text(params, "queueUrl")
    if not matches(own.queues, queue):
        return None
    if name == "PurgeQueue":
        return Change(
            "queue",
            queue,
            Severity.HIGH,
            "the queue was purged: the alerts it held (held pages, parked alerts, undelivered events) are gone",
            "Nothing brings them back: 'paramwatch replay' over the trail's last hours shows what they were.",
        )
    if name == "DeleteQueue":
        return Change(
            "queue",
            queue,
            Severity.HIGH,
            "the queue and every alert it held are gone",
            "Redeploy the stack ('sam deploy'), then replay the trail for the last hours.",
        )
    attributes = params.get("attributes")
    changed = sorted(attributes) if isinstance(attributes, dict) else []
    loud = [a for a in changed if a in _LOUD_QUEUE_ATTRIBUTES] or (["attributes"] if not changed else [])
    why = (
        f"its {_items(loud)} changed: a delay, a short retention, a policy or a key can hold back or drop alerts"
        if loud
        else f"its {_items(changed)} changed outside a deploy"
    )
    severity = Severity.HIGH if loud else Severity.MEDIUM
    return Change("queue", queue, severity, why, "Redeploy the stack ('sam deploy') to restore its attributes.")


_LOUD_TOPIC_ATTRIBUTES = frozenset({"Policy", "KmsMasterKeyId", "DeliveryPolicy", "DataProtectionPolicy"})
_LOUD_SUBSCRIPTION_ATTRIBUTES = frozenset({"FilterPolicy", "FilterPolicyScope", "RedrivePolicy"})


def _topics(name: str, params: dict[str, Any], own: Own, record: CloudTrailRecord) -> Change | None:
    subscription = _text(params, "subscriptionArn")
    topic = _text(params, "topicArn") or (subscription.rsplit(":", 1)[0] if subscription else None)
    if not matches(own.topics, topic):
        return None
    attribute = _text(params, "attributeName") or ""
    severity = Severity.HIGH
    if name == "Unsubscribe":
        why = "a subscriber was removed and no longer gets alerts"
    elif name == "DeleteTopic":
        why = "the topic is gone, so no alert or alarm reaches anyone"
    elif name == "SetTopicAttributes":
        why = f"its {safe(attribute)} changed; a policy or key change can stop every delivery"
        severity = Severity.HIGH if attribute in _LOUD_TOPIC_ATTRIBUTES else Severity.MEDIUM
    else:
        why = f"a subscription's {safe(attribute)} changed; a filter policy can silence alerts"
        severity = Severity.HIGH if attribute in _LOUD_SUBSCRIPTION_ATTRIBUTES else Severity.MEDIUM
    return Change("topic", topic, severity, why, "Check the topic's subscriptions and attributes; redeploy the stack.")


def _keys(name: str, params: dict[str, Any], own: Own, record: CloudTrailRecord) -> Change | None:
    key = _text(params, "keyId")
    resources = record.resources if isinstance(record.resources, list) else []
    arns = [r.get("ARN") for r in resources if isinstance(r, dict)]
    if not any(matches(own.keys, k) for k in [key, *arns]):
        return None
    why = {
        "DisableKey": "the pipeline key is disabled: the state table, the operations topic and its alarms stop working",
        "ScheduleKeyDeletion": "the pipeline key is scheduled for deletion: state, alarms and logs will be lost",
        "PutKeyPolicy": "the pipeline key's policy changed; it may lock out the evaluator or CloudWatch alarms",
    }[name]
    undo = "Run 'aws kms cancel-key-deletion' / 'enable-key', and restore the key policy from the template."
    return Change("key", key or "the pipeline key", Severity.HIGH, why, undo)


def _allowlist(name: str, params: dict[str, Any], own: Own, record: CloudTrailRecord) -> Change | None:
    names = _own_parameters(params, own, own.allowlists)
    if not names:
        others = _own_parameters(params, own, own.parameters)
        if not others:
            return None
        return Change(
            "parameter",
            others[0],
            Severity.HIGH,
            "a parameter of the paramwatch stack changed outside a deploy; the list of its resources tells "
            "the evaluator which rules are its own",
            "Redeploy the stack ('sam deploy') to write it again.",
        )
    target = names[0]
    if name in ("DeleteParameter", "DeleteParameters"):
        return Change(
            "allowlist",
            target,
            Severity.HIGH,
            "the allowlist is deleted, so the evaluator cannot load it and fails on every event",
            "Redeploy the stack ('sam deploy') to write the allowlist again.",
        )
    version = None
    response = record.response_elements
    if name == "PutParameter" and isinstance(response, dict) and isinstance(response.get("version"), int):
        version = response["version"]
    why = (
        "the allowlist was rewritten: what it grants decides what pages"
        if name == "PutParameter"
        else "a label was moved on the allowlist"
    )
    undo = "Confirm the change with whoever made it; 'paramwatch check-allowlist' checks a fix."
    return Change("allowlist", target, Severity.MEDIUM, why, undo, allowlist_version=version)


def _alarms(name: str, params: dict[str, Any], own: Own, record: CloudTrailRecord) -> Change | None:
    raw = params.get("alarmNames") if isinstance(params.get("alarmNames"), list) else [params.get("alarmName")]
    alarms = [a for a in raw if isinstance(a, str) and matches(own.alarms, a)]
    if not alarms:
        return None
    severity = Severity.HIGH
    why = {
        "DeleteAlarms": "alarms on paramwatch itself were deleted: a blind or failing pipeline no longer tells anyone",
        "DisableAlarmActions": "alarms on paramwatch itself no longer notify anyone",
        "PutMetricAlarm": "an alarm on paramwatch itself was rewritten outside a deploy (threshold, actions, metric)",
    }.get(name)
    if name == "SetAlarmState":
        why = "an alarm on paramwatch itself was forced to a state; it returns to its real state at the next evaluation"
        severity = Severity.MEDIUM
    more = f" and {len(alarms) - 1} more" if len(alarms) > 1 else ""
    return Change("alarm", alarms[0] + more, severity, why, "Redeploy the stack ('sam deploy') or enable the actions.")


def _stack(name: str, params: dict[str, Any], own: Own, record: CloudTrailRecord) -> Change | None:
    stack = _text(params, "stackName")
    if own.stack is None or stack is None:
        return None
    arn = rf"arn:[^:]+:cloudformation:[^:]+:\d+:stack/{re.escape(own.stack)}/.+"
    if stack != own.stack and not re.fullmatch(arn, stack):
        return None
    return Change(
        "stack",
        stack,
        Severity.HIGH,
        "the paramwatch stack is being deleted, with its rules, evaluator, topics and alarms",
        "If nobody planned this, redeploy at once and find out who deleted it.",
    )


_JUDGES: dict[str, Callable[[str, dict[str, Any], Own, CloudTrailRecord], Change | None]] = {
    "cloudtrail.amazonaws.com": _trail,
    "events.amazonaws.com": _rules,
    "lambda.amazonaws.com": _functions,
    "sqs.amazonaws.com": _queues,
    "sns.amazonaws.com": _topics,
    "kms.amazonaws.com": _keys,
    "ssm.amazonaws.com": _allowlist,
    "monitoring.amazonaws.com": _alarms,
    "cloudformation.amazonaws.com": _stack,
}


def change_of(record: CloudTrailRecord, own: Own) -> Change | None:
    """The blinding change a write makes, or None when it leaves paramwatch seeing."""
    name = api_name(record.event_source, record.event_name)
    if name not in SOURCES.get(record.event_source, ()):
        return None
    if record.event_source != TRAIL_WIDE and not own.knows_resources:
        return None
    change = _JUDGES[record.event_source](name, record.request_parameters or {}, own, record)
    if change is None:
        return None
    invoked_by = record.user_identity.invoked_by if record.user_identity else None
    if invoked_by == CLOUDFORMATION and record.event_source != TRAIL_WIDE:
        return Change(
            change.kind,
            change.target,
            Severity.LOW,
            f"CloudFormation changed it while deploying the stack ({change.why})",
            "Nothing, if a deploy of paramwatch was planned at this time.",
            by_deploy=True,
            allowlist_version=change.allowlist_version,
        )
    if record.error_code and change.severity > Severity.MEDIUM:
        return Change(
            change.kind,
            change.target,
            Severity.MEDIUM,
            f"the call failed ({safe(record.error_code)}), but had it worked: {change.why}",
            "Find out why this principal tried; the next attempt may succeed.",
        )
    return change


def tamper_finding(record: CloudTrailRecord, change: Change) -> Finding:
    """The finding for a blinding change; every CloudTrail value in it is escaped."""
    principal = resolve(record.user_identity)
    who = safe(principal.arn or "an unknown principal")
    verb = "tried to call" if record.error_code else "called"
    summary = (
        f"[{Rule.TAMPER}] {safe(principal.type)} {who} {verb} {safe(record.event_name)} on {change.kind} "
        f"{safe(change.target, 300)}: {change.why}. {change.undo}"
    )
    return Finding(
        event_id=record.event_id,
        rule=Rule.TAMPER,
        severity=change.severity,
        principal=principal.arn,
        parameters=(change.target,),
        event_time=record.event_time,
        source_ip=record.source_ip_address,
        summary=summary,
        event_name=record.event_name,
        identity_type=principal.type,
        user_agent=record.user_agent,
        region=record.aws_region,
        error_code=record.error_code,
        # where the change was made: a member account's, in organization mode
        account=record.recipient_account_id or principal.account,
    )


def _items(values: Any) -> str:
    """Values for a sentence, each escaped: allowlist text is whatever its writer put there."""
    if isinstance(values, list):
        return ", ".join(safe(v, 200) for v in values[:10]) + (
            f" and {len(values) - 10} more" if len(values) > 10 else ""
        )
    return safe(values, 200)


def _grant(grant: dict[str, Any]) -> str:
    return "; ".join(f"{field} {_items(value)}" for field, value in grant.items() if value and field != "name")


def _grant_changes(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for field in sorted(set(old) | set(new)):
        before, after = old.get(field), new.get(field)
        if before == after or field == "name":
            continue
        if isinstance(before, list) and isinstance(after, list) and after:
            added = [v for v in after if v not in before]
            removed = [v for v in before if v not in after]
            if added:
                out.append(f"widened grant {safe(name)}: {field} + {_items(added)}")
            if removed:
                out.append(f"narrowed grant {safe(name)}: {field} - {_items(removed)}")
        elif before and not after:
            out.append(f"widened grant {safe(name)}: no longer limited by {field}")
        else:
            out.append(f"changed grant {safe(name)}: {field} {_items(before)} -> {_items(after)}")
    return out


def allowlist_changes(old_text: str | None, new_text: str) -> tuple[list[str], bool]:
    """What a new allowlist version grants that the previous one did not, one line per change.

    The flag is True when the change blinds paramwatch outright: the new version does not validate
    (every read is judged against an empty allowlist) or a honeytoken was removed.
    """
    try:
        new = parse(new_text)
    except AllowlistError as exc:
        return [f"the new version does not validate: {safe('; '.join(exc.problems), 400)}"], True
    try:
        old = parse(old_text) if old_text is not None else None
    except AllowlistError:
        old = None
    if old is None:
        return [f"no valid previous version to compare; the new one has {len(new.grants)} grant(s)"], False
    before = {g.name: g.model_dump(mode="json") for g in old.grants}
    after = {g.name: g.model_dump(mode="json") for g in new.grants}
    lines = [f"added grant {safe(n)}: {_grant(after[n])}" for n in after if n not in before]
    lines += [f"removed grant {safe(n)}" for n in before if n not in after]
    for name in (n for n in after if n in before):
        lines += _grant_changes(name, before[name], after[name])
    lost = [h for h in old.honeytokens if h not in new.honeytokens]
    lines += [f"honeytoken removed: {safe(h)}" for h in lost]
    lines += [f"honeytoken added: {safe(h)}" for h in new.honeytokens if h not in old.honeytokens]
    return lines or ["no change to grants or honeytokens"], bool(lost)
