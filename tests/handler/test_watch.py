"""Watching the watcher, in the handler against moto: heartbeats, tamper alerts, allowlist diffs,
and the canary function that makes the heartbeat read."""

from __future__ import annotations

import importlib
import json
import time

import boto3
import pytest

from harness import ALLOWLIST_NAME, REGION, STATE_TABLE, LambdaContext, case_event, emf_records, log_lines, metric_sum
from paramwatch.escape import safe
from paramwatch.liveness import Member
from paramwatch_aws.liveness_store import LivenessStore
from support import eventbridge_event

CANARY_ROLE = "arn:aws:iam::111122223333:role/paramwatch-CanaryRole-1A2B3C4D5E6F"
RESOURCES = "/paramwatch/test/resources"


@pytest.fixture
def watched(app, stack, monkeypatch):
    """The evaluator with the stack's own resources in its settings, as the template sets them."""
    for key, value in {
        "STACK_NAME": "paramwatch",
        "RESOURCES_PARAMETER": RESOURCES,
        "OWN_FUNCTIONS": "paramwatch-CanaryFunction-Xy12",
        "AWS_LAMBDA_FUNCTION_NAME": "paramwatch-EvaluatorFunction-AbC123dEf456",
        "CANARY_PARAMETER": "/paramwatch/paramwatch/canary",
        "CANARY_ROLE_ARN": CANARY_ROLE,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    # the rules' generated names, as the template's ResourcesParameter writes them
    rules = {"read_rules": ["paramwatch-DecryptingReadRule-1AB2", "paramwatch-ParameterDecryptRule-3CD4"]}
    rules["rules"] = ["paramwatch-TamperRule-5EF6", "paramwatch-CanaryFunctionHeartbeat-7GH8"]
    rules["alarms"] = ["paramwatch-HeartbeatSsmAlarm-9XYZ8WVU7T6S"]
    stack.ssm.put_parameter(Name=RESOURCES, Value=json.dumps(rules), Type="String")
    app.runtime.cache_clear()
    return app


def test_every_leg_of_the_canary_is_a_heartbeat_and_raises_nothing(watched, stack, capsys) -> None:
    # GIVEN the canary role's read of the canary (the SSM call and the Decrypt SSM made for it) and
    # its label on the canary (a write event, delivered by the tamper rule)
    results = [
        watched.lambda_handler(case_event(name), LambdaContext())
        for name in ("canary-heartbeat-ssm", "canary-heartbeat-kms", "canary-heartbeat-tamper")
    ]
    # THEN no finding, no alert, no metric...
    assert results == [{"verdicts": []}] * 3
    assert stack.alerts() == []
    assert emf_records(capsys.readouterr().out) == []
    # ...and each leg's arrival recorded in the state table, where the canary checks it
    store = LivenessStore(boto3.resource("dynamodb", region_name=REGION).Table(STATE_TABLE))
    legs = [Member("111122223333", REGION, leg) for leg in ("ssm", "kms", "tamper")]
    seen = store.last_seen(legs)
    assert set(seen) == set(legs) and all(abs(last - time.time()) < 60 for last, _ in seen.values())


def test_a_member_accounts_heartbeat_is_recorded_as_its_last_arrival(watched, monkeypatch, capsys) -> None:
    # GIVEN organization mode's settings (template.yaml): the members' canary and roles under /paramwatch/
    monkeypatch.setenv("CANARY_PARAMETER", "/paramwatch/paramwatch/canary,/paramwatch/member/canary")
    monkeypatch.setenv("CANARY_ROLE_ARN", f"{CANARY_ROLE},arn:aws:iam::*:role/paramwatch/*")
    watched.runtime.cache_clear()
    # AND member.yaml's canary read, made in another account and region and forwarded
    event = case_event("canary-heartbeat-ssm")
    text = json.dumps(event["detail"]).replace("111122223333", "444455556666")
    text = text.replace("role/paramwatch-CanaryRole-1A2B3C4D5E6F", "role/paramwatch/StackSet-pw-CanaryRole-9Z8Y")
    member = {
        **json.loads(text),
        "awsRegion": "eu-west-1",
        "requestParameters": {"name": "/paramwatch/member/canary", "withDecryption": True},
    }
    assert watched.lambda_handler(eventbridge_event(member), LambdaContext()) == {"verdicts": []}
    blobs = emf_records(capsys.readouterr().out)
    # THEN it is recorded as that member leg's last arrival in the state table, not as a metric
    # series per member (which would cost 0.30 USD a month each), and it feeds no central series
    assert metric_sum(blobs, "Heartbeat") == 0
    store = LivenessStore(boto3.resource("dynamodb", region_name=REGION).Table(STATE_TABLE))
    assert store.members() == [Member("444455556666", "eu-west-1", "ssm")]
    ((last, paged),) = store.last_seen(store.members()).values()
    assert abs(last - time.time()) < 60 and paged is None
    # AND a role outside /paramwatch/ reading the member canary is a finding
    outsider = json.loads(json.dumps(member).replace("role/paramwatch/StackSet-pw-CanaryRole-9Z8Y", "role/ops-admin"))
    assert watched.lambda_handler(eventbridge_event({**outsider, "eventID": "outsider"}), LambdaContext())["verdicts"]
    watched.runtime.cache_clear()


def test_anyone_else_reading_the_canary_gets_an_alert(watched, stack) -> None:
    result = watched.lambda_handler(case_event("canary-read-by-other"), LambdaContext())
    (alert,) = stack.alerts()
    assert alert["MessageAttributes"]["rule"]["Value"] == "unauthorized-read"
    assert "/paramwatch/paramwatch/canary" in alert["Message"]
    assert result["verdicts"][0]["principal"] == "arn:aws:iam::111122223333:role/ops-admin"


def test_the_canary_role_reading_without_ssm_is_not_a_heartbeat(watched, stack) -> None:
    # GIVEN the canary role decrypting the canary's ciphertext itself (no invokedBy: not SSM)
    event = case_event("canary-heartbeat-kms")
    identity = {k: v for k, v in event["detail"]["userIdentity"].items() if k != "invokedBy"}
    event["detail"] = {**event["detail"], "userIdentity": identity, "sourceIPAddress": "198.51.100.4"}
    result = watched.lambda_handler(event, LambdaContext())
    assert result["verdicts"][0]["rule"] == "direct-decrypt"
    assert len(stack.alerts()) == 1


@pytest.mark.parametrize(
    ("case", "severity"),
    [
        ("tamper-rule-disabled", "high"),
        ("tamper-function-throttled-to-zero", "high"),
        ("tamper-trail-selectors-exclude-kms", "high"),
        ("tamper-trail-single-region", "medium"),
        ("tamper-alarm-actions-disabled", "high"),
    ],
)
def test_tampering_pages_with_what_changed_and_why(watched, stack, case: str, severity: str) -> None:
    result = watched.lambda_handler(case_event(case), LambdaContext())
    (alert,) = stack.alerts()
    assert alert["MessageAttributes"]["rule"]["Value"] == "tamper"
    assert alert["MessageAttributes"]["severity"]["Value"] == severity
    (verdict,) = result["verdicts"]
    assert verdict["paged"] is True
    assert "What to do:" in alert["Message"] and "paramwatch doctor" in alert["Message"]


def test_cloudformations_own_deploy_is_low_and_does_not_page(watched, stack, capsys) -> None:
    result = watched.lambda_handler(case_event("low-rule-cloudformation-deploy"), LambdaContext())
    (verdict,) = result["verdicts"]
    assert (verdict["rule"], verdict["severity"], verdict["paged"]) == ("tamper", "low", False)
    assert "CloudFormation" in verdict["reason"]
    assert stack.alerts() == []
    out = capsys.readouterr().out
    assert metric_sum(emf_records(out), "Findings", rule="tamper", severity="low") == 1
    assert [line for line in log_lines(out) if line["message"] == "finding"]


def test_a_change_to_other_resources_is_no_finding(watched, stack) -> None:
    for case in (
        "benign-other-rule-disabled",
        "benign-other-function-code-updated",
        "benign-trail-selectors-keep-all",
        "benign-other-alarm-deleted",
    ):
        assert watched.lambda_handler(case_event(case), LambdaContext()) == {"verdicts": []}
    assert stack.alerts() == []


def put_allowlist_version(stack, document: dict) -> int:
    return stack.ssm.put_parameter(Name=ALLOWLIST_NAME, Value=json.dumps(document), Type="String", Overwrite=True)[
        "Version"
    ]


GRANT = {"name": "orders", "principals": ["arn:aws:iam::111122223333:role/app/orders-api"], "parameters": ["/orders/*"]}


def allowlist_put(version: int) -> dict:
    return case_event(
        "tamper-allowlist-put",
        requestParameters={"name": ALLOWLIST_NAME, "value": "HIDDEN_DUE_TO_SECURITY_REASONS", "overwrite": True},
        responseElements={"version": version, "tier": "Standard"},
    )


def test_an_allowlist_rewrite_says_what_it_now_grants(watched, stack) -> None:
    # GIVEN a reviewed allowlist, then a version that widens a grant and adds one
    put_allowlist_version(stack, {"version": 1, "grants": [GRANT], "honeytokens": ["/decoy/*"]})
    widened = {**GRANT, "parameters": ["/orders/*", "/payments/*"]}
    new = {"name": "backdoor", "principals": ["arn:aws:iam::111122223333:user/mallory"], "parameters": ["/*"]}
    version = put_allowlist_version(stack, {"version": 1, "grants": [widened, new], "honeytokens": ["/decoy/*"]})
    # WHEN the evaluator gets the PutParameter event
    result = watched.lambda_handler(allowlist_put(version), LambdaContext())
    # THEN the alert is medium and names what changed
    (alert,) = stack.alerts()
    assert alert["MessageAttributes"]["severity"]["Value"] == "medium"
    notes = " ".join(result["verdicts"][0]["notes"])
    assert "added grant backdoor" in notes and "mallory" in notes
    assert f"widened grant orders: parameters + {safe('/payments/*')}" in notes
    assert f"added grant backdoor: principals arn:aws:iam::111122223333:user/mallory; parameters {safe('/*')}" in notes


def test_an_allowlist_rewrite_that_drops_a_honeytoken_is_high(watched, stack) -> None:
    put_allowlist_version(stack, {"version": 1, "grants": [GRANT], "honeytokens": ["/decoy/*"]})
    version = put_allowlist_version(stack, {"version": 1, "grants": [GRANT], "honeytokens": []})
    result = watched.lambda_handler(allowlist_put(version), LambdaContext())
    (alert,) = stack.alerts()
    assert alert["MessageAttributes"]["severity"]["Value"] == "high"
    assert f"honeytoken removed: {safe('/decoy/*')}" in " ".join(result["verdicts"][0]["notes"])


def test_the_canary_function_creates_the_canary_once_then_reads_it(stack, monkeypatch, capsys) -> None:
    # GIVEN no canary parameter yet
    monkeypatch.setenv("CANARY_PARAMETER", "/paramwatch/paramwatch/canary")
    monkeypatch.setenv("OPERATIONS_TOPIC_ARN", stack.topic_arn)  # where it would page a silent leg
    monkeypatch.setenv("AWS_REGION", REGION)
    canary = importlib.import_module("canary.app")
    canary.ssm_client.cache_clear()
    canary.member_clients.cache_clear()
    # WHEN the schedule invokes the canary function twice
    first = canary.lambda_handler({"detail-type": "Scheduled Event"}, LambdaContext(function_name="canary"))
    second = canary.lambda_handler({"detail-type": "Scheduled Event"}, LambdaContext(function_name="canary"))
    # THEN the first creates it as a SecureString with PutParameter, and the second only reads it
    assert (first["beat"], second["beat"]) == ("created and read", "read")
    parameter = stack.ssm.get_parameter(Name="/paramwatch/paramwatch/canary", WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "SecureString" and parameter["Version"] == 1
    # AND every beat labels it (the write leg), which moves no version
    history = stack.ssm.get_parameter_history(Name="/paramwatch/paramwatch/canary")["Parameters"]
    assert [(h["Version"], h.get("Labels")) for h in history] == [(1, ["heartbeat"])]
    # AND its value is in no output
    assert parameter["Value"] not in capsys.readouterr().out + json.dumps([first, second])
    # AND it checked the heartbeats: the stack's own legs, counted from its first run, are not silent
    assert first["silent"] == second["silent"] == []
    canary.ssm_client.cache_clear()
    canary.member_clients.cache_clear()


DEAD_LETTER = "https://sqs.us-east-1.amazonaws.com/111122223333/paramwatch-RulesDeadLetterQueue-Kl34Mn56"
MAPPING = "6a7c1f42-3b1e-4d2a-9c55-0e1f2a3b4c5d"


@pytest.fixture
def with_queues(watched, stack):
    """The resources parameter as a stack that holds pages writes it: its dead-letter queue and mapping."""
    data = json.loads(stack.ssm.get_parameter(Name=RESOURCES)["Parameter"]["Value"])
    data |= {"queues": [DEAD_LETTER], "mappings": [MAPPING]}
    stack.ssm.put_parameter(Name=RESOURCES, Value=json.dumps(data), Type="String", Overwrite=True)
    watched.runtime.cache_clear()
    return watched


def test_purging_or_starving_a_queue_that_holds_alerts_pages(with_queues, stack) -> None:
    # GIVEN the failure queue (its URL in the settings) and the rules' dead-letter queue (in the
    # resources parameter): each holds alerts or events nobody has judged yet
    purges = [
        case_event("tamper-hold-queue-purged", requestParameters={"queueUrl": stack.failure_queue_url}),
        case_event("tamper-hold-queue-purged", event_id="purge-dlq", requestParameters={"queueUrl": DEAD_LETTER}),
        case_event(
            "tamper-failure-queue-retention",
            requestParameters={"queueUrl": DEAD_LETTER, "attributes": {"ReceiveMessageWaitTimeSeconds": "20"}},
        ),
    ]
    # WHEN each is purged, then a quiet attribute of one changes
    verdicts = [with_queues.lambda_handler(event, LambdaContext())["verdicts"] for event in purges]
    # THEN the purges page high, naming the queue; the quiet attribute's change is medium
    assert [(v["rule"], v["severity"], v["paged"]) for (v,) in verdicts] == [
        ("tamper", "high", True),
        ("tamper", "high", True),
        ("tamper", "medium", True),
    ]
    alerts = stack.alerts()
    assert len(alerts) == 3 and "purged" in alerts[0]["Message"] and DEAD_LETTER in alerts[1]["Message"]
    assert "ReceiveMessageWaitTimeSeconds changed outside a deploy" in alerts[2]["Message"]


def test_disabling_the_hold_queues_mapping_pages_by_its_uuid(with_queues, stack) -> None:
    # GIVEN the mapping's UUID alone (no function in the request or the response)
    disable = case_event(
        "tamper-held-pages-source-disabled",
        requestParameters={"uUID": MAPPING, "enabled": False},
        responseElements=None,
    )
    # WHEN it is disabled
    (verdict,) = with_queues.lambda_handler(disable, LambdaContext())["verdicts"]
    # THEN it pages high: held alerts would wait unsent
    assert (verdict["severity"], verdict["paged"]) == ("high", True)
    assert "disabled" in stack.alerts()[0]["Message"]


def test_other_queues_and_mappings_are_no_finding(with_queues, stack) -> None:
    other = "arn:aws:lambda:us-east-1:111122223333:function:orders-worker"
    for event in (
        case_event("other-queue-purged"),
        case_event("tamper-hold-queue-purged", requestParameters={"queueUrl": stack.failure_queue_url + "-other"}),
        case_event(
            "tamper-held-pages-source-disabled",
            requestParameters={"uUID": "0f0f0f0f-0000-4000-8000-000000000000", "enabled": False},
            responseElements={"uUID": "0f0f0f0f-0000-4000-8000-000000000000", "functionArn": other},
        ),
    ):
        assert with_queues.lambda_handler(event, LambdaContext()) == {"verdicts": []}
    assert stack.alerts() == []
