"""`paramwatch doctor`: a read-only preflight of a deployed stack, one line per check with its fix.

It asks AWS only Describe/Get/List questions, with the standard credential chain (and
`AWS_ENDPOINT_URL`, which boto3 honours). Each check answers one question a person asks when alerts
seem quiet: does a trail record what paramwatch needs here, do its rules still deliver to the
evaluator, does the allowlist parse, will an alert reach a human, is the heartbeat beating, is
anything parked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from paramwatch import allowlist as allowlist_mod
from paramwatch.allowlist import AllowlistError
from paramwatch.escape import safe
from paramwatch.heartbeat import LEGS
from paramwatch.liveness import Member, is_silent
from paramwatch.trail import gaps
from paramwatch_aws.liveness_store import LivenessStore

READ_STATE = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
HEARTBEAT_PERIODS = 3


class Status(StrEnum):
    """What one check found."""

    OK = "ok"
    FAIL = "FAIL"
    UNKNOWN = "??"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: what was checked, what was found, and the fix when it failed."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" -> fix: {self.fix}" if self.fix else ""
        return f"{self.status:<4} {self.name:<12} {self.detail}{fix}"


class CannotCheck(RuntimeError):
    """Nothing can be checked: no credentials, no region, or no such stack."""


@dataclass(frozen=True)
class Stack:
    """What CloudFormation says about the deployed stack."""

    name: str
    region: str
    outputs: dict[str, str]
    parameters: dict[str, str]
    resources: dict[str, tuple[str, str]]  # logical ID -> (type, physical ID)
    template: dict[str, Any]

    def physical(self, kind: str) -> dict[str, str]:
        return {logical: phys for logical, (rtype, phys) in self.resources.items() if rtype == kind}


def load_stack(session: Any, name: str) -> Stack:
    """Describe the stack; CannotCheck when it cannot be found or AWS cannot be asked at all."""
    region = session.region_name
    if not region:
        raise CannotCheck("no AWS region: pass --region or set AWS_REGION")
    cloudformation = session.client("cloudformation")
    try:
        described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        resources: dict[str, tuple[str, str]] = {}
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name):
            for item in page["StackResourceSummaries"]:
                if item.get("LogicalResourceId") and item.get("PhysicalResourceId"):
                    resources[item["LogicalResourceId"]] = (item["ResourceType"], item["PhysicalResourceId"])
        body = cloudformation.get_template(StackName=name, TemplateStage="Processed")["TemplateBody"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if "does not exist" in error.get("Message", ""):
            raise CannotCheck(f"stack {safe(name)} not found in {region}") from None
        raise CannotCheck(f"cannot describe stack {safe(name)}: {error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:
        raise CannotCheck(f"cannot reach AWS: {exc}") from None
    template = body if isinstance(body, dict) else _parse_template(body)
    return Stack(
        name=name,
        region=region,
        outputs={o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
        parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])},
        resources=resources,
        template=template,
    )


def _parse_template(body: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _guarded(name: str, check: Callable[[], list[Check]]) -> list[Check]:
    """Run a check; an AWS error it cannot get past is reported as not checked, never raised."""
    try:
        return check()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return [Check(name, Status.UNKNOWN, f"could not check: {error.get('Code')}: {safe(error.get('Message'), 200)}")]
    except BotoCoreError as exc:
        return [Check(name, Status.UNKNOWN, f"could not check: {safe(exc, 200)}")]


@dataclass(frozen=True)
class Doctor:
    """The checks, over one boto3 session and one stack."""

    session: Any
    stack: Stack

    def run(self) -> Iterator[Check]:
        checks: list[tuple[str, Callable[[], list[Check]]]] = [
            ("trail", self.trail),
            ("rules", self.rules),
            ("evaluator", self.evaluator),
            ("allowlist", self.allowlist),
            ("alerts", self.subscriptions),
            ("heartbeat", self.heartbeat),
            ("members", self.member_heartbeats),
            ("queues", self.queues),
        ]
        for name, check in checks:
            yield from _guarded(name, check)

    # -- the trail ----------------------------------------------------------------------------

    def trail(self) -> list[Check]:
        cloudtrail = self.session.client("cloudtrail")
        region = self.stack.region
        problems = []
        for trail in cloudtrail.describe_trails(includeShadowTrails=True).get("trailList", []):
            if not (trail.get("IsMultiRegionTrail") or trail.get("HomeRegion") == region):
                continue
            arn, name = trail["TrailARN"], safe(trail.get("Name", trail["TrailARN"]))
            logging = cloudtrail.get_trail_status(Name=arn).get("IsLogging", False)
            selectors = cloudtrail.get_event_selectors(TrailName=arn)
            lost = gaps(selectors.get("EventSelectors"), selectors.get("AdvancedEventSelectors"))
            if logging and not lost:
                return [
                    Check("trail", Status.OK, f"{name} logs in {region} with read management events and KMS events")
                ]
            if not logging:
                problems.append((name, "is not logging", f"aws cloudtrail start-logging --name {name}"))
            else:
                fix = (
                    f"aws cloudtrail put-event-selectors --trail-name {name} --event-selectors "
                    '\'[{"ReadWriteType":"All","IncludeManagementEvents":true}]\' (add back any data selectors)'
                )
                problems.append((name, "no longer records " + "; ".join(lost), fix))
        if not problems:
            fix = (
                "aws cloudtrail create-trail --name paramwatch --s3-bucket-name BUCKET --is-multi-region-trail "
                "&& aws cloudtrail start-logging --name paramwatch"
            )
            return [
                Check("trail", Status.FAIL, f"no trail covers {region}: EventBridge gets no CloudTrail events", fix)
            ]
        return [Check("trail", Status.FAIL, f"trail {name} {why}", fix) for name, why, fix in problems]

    # -- the rules ----------------------------------------------------------------------------

    def rules(self) -> list[Check]:
        events = self.session.client("events")
        functions = self.stack.physical("AWS::Lambda::Function")
        template = self.stack.template.get("Resources", {})
        out = []
        for logical, physical in sorted(self.stack.physical("AWS::Events::Rule").items()):
            bus, _, name = physical.rpartition("|")
            ask = {"Name": name, **({"EventBusName": bus} if bus else {})}
            try:
                rule = events.describe_rule(**ask)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                out.append(Check("rule", Status.FAIL, f"{logical} ({safe(name)}) is deleted", "redeploy the stack"))
                continue
            props = template.get(logical, {}).get("Properties", {})
            out.append(self._rule(events, logical, rule, props, functions))
        if not out:
            out.append(Check("rule", Status.FAIL, "the stack has no EventBridge rules", "redeploy the stack"))
        return out

    def _rule(
        self, events: Any, logical: str, rule: dict[str, Any], props: dict[str, Any], functions: dict[str, str]
    ) -> Check:
        name, state, arn = rule["Name"], rule.get("State"), rule["Arn"]
        wanted = props.get("State") if isinstance(props.get("State"), str) else "ENABLED"
        label = f"{logical} ({safe(name)})"
        if state != wanted:
            if wanted == READ_STATE:
                fix = (
                    f"aws events put-rule --name {name} --state {READ_STATE} --event-pattern "
                    f'"$(aws events describe-rule --name {name} --query EventPattern --output text)"'
                )
            else:
                fix = f"aws events enable-rule --name {name}"
            why = " (it receives no read-only events)" if wanted == READ_STATE else ""
            return Check("rule", Status.FAIL, f"{label} is {state}, not {wanted}{why}", fix)
        expected = [t.get("Arn") for t in props.get("Targets", []) if isinstance(t, dict)]
        targets = {t["Arn"] for t in events.list_targets_by_rule(Rule=name).get("Targets", [])}
        for target in expected:
            function = (
                functions.get(target["Fn::GetAtt"][0]) if isinstance(target, dict) and "Fn::GetAtt" in target else None
            )
            if function is None:
                continue
            if not any(t.endswith(f":function:{function}") for t in targets):
                fix = f"aws events put-targets --rule {name} --targets Id=evaluator,Arn=<{function} ARN> (or redeploy)"
                return Check("rule", Status.FAIL, f"{label} no longer targets {function}", fix)
            if not self._may_invoke(function, arn):
                fix = (
                    f"aws lambda add-permission --function-name {function} --statement-id {logical} "
                    f"--action lambda:InvokeFunction --principal events.amazonaws.com --source-arn {arn}"
                )
                return Check("rule", Status.FAIL, f"{label} may not invoke {function}", fix)
        return Check("rule", Status.OK, f"{label} is {state} and delivers to {', '.join(sorted(targets)) or 'nothing'}")

    def _may_invoke(self, function: str, rule_arn: str) -> bool:
        try:
            policy = json.loads(self.session.client("lambda").get_policy(FunctionName=function)["Policy"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise
        for statement in policy.get("Statement", []):
            condition = statement.get("Condition", {})
            sources = [c.get("AWS:SourceArn") for c in condition.values() if isinstance(c, dict)]
            if statement.get("Effect") == "Allow" and rule_arn in sources:
                return True
        return False

    # -- the evaluator ------------------------------------------------------------------------

    def evaluator(self) -> list[Check]:
        function = self.stack.outputs.get("EvaluatorFunctionName")
        if not function:
            return [Check("evaluator", Status.UNKNOWN, "the stack has no EvaluatorFunctionName output")]
        reserved = self.session.client("lambda").get_function_concurrency(FunctionName=function)
        if reserved.get("ReservedConcurrentExecutions") == 0:
            fix = f"aws lambda delete-function-concurrency --function-name {function}"
            return [Check("evaluator", Status.FAIL, f"{function} has reserved concurrency 0: it judges nothing", fix)]
        return [Check("evaluator", Status.OK, f"{function} is not throttled to zero"), *self._held_pages(function)]

    def _held_pages(self, function: str) -> list[Check]:
        """The hold queue's event source: disabled or retargeted, held alerts are never sent."""
        client = self.session.client("lambda")
        out = []
        for logical, uuid in sorted(self.stack.physical("AWS::Lambda::EventSourceMapping").items()):
            try:
                mapping = client.get_event_source_mapping(UUID=uuid)
            except client.exceptions.ResourceNotFoundException:
                out.append(
                    Check(
                        "evaluator",
                        Status.FAIL,
                        f"{logical} ({uuid}) is deleted: held alerts are never sent",
                        "redeploy the stack ('sam deploy')",
                    )
                )
                continue
            state, target = mapping.get("State"), str(mapping.get("FunctionArn", ""))
            if not target.endswith(f":function:{function}"):
                out.append(
                    Check(
                        "evaluator",
                        Status.FAIL,
                        f"{logical} ({uuid}) delivers to {safe(target)}, not {function}",
                        "redeploy the stack ('sam deploy')",
                    )
                )
            elif state in ("Disabled", "Disabling"):
                fix = f"aws lambda update-event-source-mapping --uuid {uuid} --enabled"
                out.append(
                    Check("evaluator", Status.FAIL, f"{logical} ({uuid}) is {state}: held alerts wait unsent", fix)
                )
            else:
                out.append(Check("evaluator", Status.OK, f"{logical} is {state} and hands held alerts to {function}"))
        return out

    # -- the allowlist ------------------------------------------------------------------------

    def allowlist(self) -> list[Check]:
        name = self.stack.outputs.get("AllowlistParameterName")
        if not name:
            return [Check("allowlist", Status.UNKNOWN, "the stack has no AllowlistParameterName output")]
        text = self.session.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
        try:
            parsed = allowlist_mod.parse(text)
        except AllowlistError as exc:
            fix = f"paramwatch check-allowlist FILE, then aws ssm put-parameter --overwrite --name {name} --value file://FILE"
            return [
                Check("allowlist", Status.FAIL, f"{name} does not parse: {safe('; '.join(exc.problems), 300)}", fix)
            ]
        detail = f"{name} parses: {len(parsed.grants)} grant(s), {len(parsed.honeytokens)} honeytoken(s)"
        return [Check("allowlist", Status.OK, detail)]

    # -- alerts -------------------------------------------------------------------------------

    def subscriptions(self) -> list[Check]:
        topic = self.stack.outputs.get("AlertTopicArn")
        if not topic:
            return [Check("alerts", Status.UNKNOWN, "the stack has no AlertTopicArn output")]
        sns = self.session.client("sns")
        confirmed, pending = [], 0
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic):
            for sub in page.get("Subscriptions", []):
                arn = sub.get("SubscriptionArn", "")
                if arn.startswith("arn:"):
                    confirmed.append(sub.get("Protocol", "?"))
                else:
                    pending += 1
        fix = (
            "confirm the subscription mail AWS sent, or subscribe an endpoint: aws sns subscribe "
            f"--topic-arn {topic} --protocol email --notification-endpoint you@example.com"
        )
        if not confirmed:
            why = f"{pending} pending confirmation" if pending else "none at all"
            return [Check("alerts", Status.FAIL, f"the alert topic has no confirmed subscription ({why})", fix)]
        detail = f"the alert topic has {len(confirmed)} confirmed subscription(s) ({', '.join(sorted(set(confirmed)))})"
        return [Check("alerts", Status.OK, detail)]

    # -- heartbeat ----------------------------------------------------------------------------

    def _liveness(self) -> LivenessStore | None:
        table = self.stack.physical("AWS::DynamoDB::Table").get("StateTable")
        return LivenessStore(self.session.resource("dynamodb").Table(table)) if table else None

    def _home(self) -> str | None:
        """The stack's account, from its alert topic's ARN."""
        parts = self.stack.outputs.get("AlertTopicArn", "").split(":")
        return parts[4] if len(parts) > 4 else None

    def heartbeat(self) -> list[Check]:
        """Each of the stack's own legs must have arrived in the last 3 periods (the state table's
        item, the one the canary checks)."""
        store, account = self._liveness(), self._home()
        if store is None or account is None:
            return [Check("heartbeat", Status.UNKNOWN, "the stack has no StateTable or AlertTopicArn")]
        minutes = int(self.stack.parameters.get("HeartbeatMinutes") or 5)
        lean = self.stack.parameters.get("ForwardMode") == "lean"  # the Decrypt SSM makes is not delivered
        legs = [Member.of(account, self.stack.region, leg) for leg in LEGS if not (lean and leg == "kms")]
        wanted = [leg for leg in legs if leg is not None]
        seen = store.last_seen(wanted)
        now = time.time()
        out = []
        for leg in wanted:
            last = seen.get(leg, (None, None))[0]
            if last is not None and not is_silent(last, now, minutes):
                when = datetime.fromtimestamp(last, UTC).strftime("%Y-%m-%d %H:%M UTC")
                out.append(Check("heartbeat", Status.OK, f"{leg.leg} leg: last heartbeat at {when}"))
                continue
            hint = {
                "ssm": "the trail (above), the rules, then",
                "kms": "whether the trail excludes KMS events, then",
                "tamper": "the tamper rule (above), then",
            }[leg.leg]
            fix = f"check {hint} the canary's logs: aws logs tail /paramwatch/{self.stack.name}/canary"
            detail = f"{leg.leg} leg: no heartbeat in the last {HEARTBEAT_PERIODS * minutes} minutes"
            out.append(Check("heartbeat", Status.FAIL, detail, fix))
        return out

    def member_heartbeats(self) -> list[Check]:
        """Organization mode: every member account, region and leg the evaluator has recorded a
        heartbeat of (in the state table, forgotten after 7 silent days) must have beaten in the
        last 3 periods. The central canary pages each silence once; this lists them all."""
        store, account = self._liveness(), self._home()
        if store is None:
            return [Check("members", Status.UNKNOWN, "the stack has no StateTable")]
        members = [m for m in store.members() if (m.account, m.region) != (account, self.stack.region)]
        if not members:
            return []  # standalone, or no member heartbeat has arrived yet
        minutes = int(self.stack.parameters.get("HeartbeatMinutes") or 5)
        seen = store.last_seen(members)
        now = time.time()
        out = []
        for member in members:
            if member not in seen:
                continue  # forgotten: silent for FORGET_DAYS
            last = seen[member][0]
            if is_silent(last, now, minutes):
                when = datetime.fromtimestamp(last, UTC).strftime("%Y-%m-%d %H:%M UTC")
                detail = (
                    f"account {member.account} in {member.region}, {member.leg} leg: no heartbeat in the last "
                    f"{HEARTBEAT_PERIODS * minutes} minutes (last {when})"
                )
                fix = f"check the member stack there (rules, trail), then its canary's log group in {member.region}"
                out.append(Check("members", Status.FAIL, detail, fix))
        beating = sum(1 for m in members if m in seen) - len(out)
        if beating:
            out.append(Check("members", Status.OK, f"{beating} member account/region leg(s) beating"))
        return out

    # -- parked events ------------------------------------------------------------------------

    def queues(self) -> list[Check]:
        sqs = self.session.client("sqs")
        out = []
        for key in ("RulesDeadLetterQueueUrl", "FailureQueueUrl"):
            url = self.stack.outputs.get(key)
            if not url:
                continue
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            held = sum(int(v) for v in attributes.values())
            label = key.removesuffix("Url")
            if held:
                fix = f"paramwatch redrive --stack {self.stack.name} --region {self.stack.region}"
                out.append(Check("queues", Status.FAIL, f"{label} holds {held} parked message(s)", fix))
            else:
                out.append(Check("queues", Status.OK, f"{label} is empty"))
        return out or [Check("queues", Status.UNKNOWN, "the stack names no queues in its outputs")]


def exit_code(checks: list[Check]) -> int:
    """0 when everything holds, 1 when something is wrong, 2 when something could not be checked."""
    if any(c.status is Status.FAIL for c in checks):
        return 1
    return 2 if any(c.status is Status.UNKNOWN for c in checks) else 0
