"""Where alerts go, against moto: chat through an HTTP(S) subscription, EventBridge, Security Hub,
and allowlist pieces delegated under /paramwatch/STACK/grants/."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import boto3
import jsonschema
import pytest

from harness import REGION, LambdaContext, case_event
from paramwatch.asff import problems
from support import ROOT

CHAT_SCHEMA = json.loads((ROOT / "docs" / "chat-notification.schema.json").read_text())
GRANTS = "/paramwatch/test/grants"


class _Capture(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def webhook(stack):
    """A real HTTP endpoint subscribed to the alert topic, as Amazon Q Developer's is (over HTTPS)."""
    _Capture.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sns = boto3.client("sns", region_name=REGION)
    sns.subscribe(TopicArn=stack.topic_arn, Protocol="http", Endpoint=f"http://127.0.0.1:{server.server_port}/")
    yield _Capture.received
    server.shutdown()


def test_chat_subscriber_gets_the_custom_notification_and_email_the_text(app, stack, webhook) -> None:
    # GIVEN an e-mail-like (SQS) subscriber and an HTTP(S) subscriber on the alert topic
    # WHEN an unauthorized read by an Identity Center user is judged
    app.lambda_handler(case_event("sso-user-ungranted"), LambdaContext())
    # THEN the text subscriber gets the body as before
    (text,) = stack.alerts()
    assert text["Message"].startswith("Severity:   MEDIUM\nRule:       unauthorized-read\n")
    assert "Person:     jane.doe@example.com (IAM Identity Center user)" in text["Message"]
    # AND the HTTP subscriber gets Amazon Q Developer's custom notification, valid against its schema
    (envelope,) = [m for m in webhook if m.get("Type") == "Notification"]
    payload = json.loads(envelope["Message"])
    jsonschema.validate(payload, CHAT_SCHEMA)
    assert (payload["version"], payload["source"]) == ("1.0", "custom")
    assert "*Person:* `jane.doe@example.com`" in payload["content"]["description"]
    assert "*Why:* no grant names this principal" in payload["content"]["description"]
    assert payload["metadata"]["threadId"].startswith("paramwatch-")
    assert envelope["Subject"] == text["Subject"]


def test_repeats_for_one_principal_and_parameter_share_a_thread(app, stack, webhook, monkeypatch) -> None:
    monkeypatch.setenv("SUPPRESSION_MINUTES", "1")
    app.runtime.cache_clear()
    app.lambda_handler(case_event("wrong-network", "first"), LambdaContext())
    later = case_event("wrong-network", "later")
    later["detail"]["eventTime"] = "2026-11-02T10:25:00Z"
    app.lambda_handler(later, LambdaContext())
    other = case_event("sso-user-ungranted")
    app.lambda_handler(other, LambdaContext())
    threads = [json.loads(m["Message"])["metadata"]["threadId"] for m in webhook if m.get("Type") == "Notification"]
    assert len(threads) == 3 and threads[0] == threads[1] != threads[2]


def test_every_finding_paged_or_not_is_put_on_the_bus(app, stack) -> None:
    # GIVEN a rule on the default bus, as a user routes findings to a SIEM (here: a queue)
    events = boto3.client("events", region_name=REGION)
    sqs = stack.sqs
    queue_url = sqs.create_queue(QueueName="siem")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = (ROOT / "docs" / "examples" / "all-findings-rule.json").read_text()
    events.put_rule(Name="siem", EventPattern=pattern)
    events.put_targets(Rule="siem", Targets=[{"Id": "q", "Arn": queue_arn}])
    # WHEN the same read arrives twice (the second is held back as a repeat)
    app.lambda_handler(case_event("wrong-network", "one"), LambdaContext())
    app.lambda_handler(case_event("wrong-network", "two"), LambdaContext())
    # THEN both findings are on the bus, with whether they paged
    got = stack.drain(queue_url)
    assert [(e["source"], e["detail-type"]) for e in got] == [("paramwatch", "Parameter access finding")] * 2
    assert [(e["detail"]["event_id"], e["detail"]["paged"]) for e in got] == [("one", True), ("two", False)]
    assert got[0]["detail"]["near_miss"]["condition"] == "network"
    assert got[0]["resources"] == ["arn:aws:iam::111122223333:role/app/orders-api"]


def test_a_bus_failure_is_retried_without_a_second_alert(app, stack, capsys) -> None:
    events = app.runtime().bus.events
    calls = {"n": 0}

    def refuse(**_: object) -> dict:
        calls["n"] += 1
        return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}

    original = events.put_events
    events.put_events = refuse
    with pytest.raises(RuntimeError, match="InternalFailure"):
        app.lambda_handler(case_event("wrong-network"), LambdaContext())
    puts = {"n": 0}

    def counted(**kwargs: object) -> dict:
        puts["n"] += 1
        return original(**kwargs)

    events.put_events = counted
    app.lambda_handler(case_event("wrong-network"), LambdaContext())  # Lambda's retry
    events.put_events = original
    assert calls["n"] == 1 and puts["n"] == 1 and len(stack.alerts()) == 1


@pytest.fixture
def hub(stack, monkeypatch):
    client = boto3.client("securityhub", region_name=REGION)
    client.enable_security_hub()
    monkeypatch.setenv("SECURITY_HUB", "true")
    return client


def test_paged_findings_are_imported_into_security_hub_once_per_incident(app, stack, hub, monkeypatch) -> None:
    monkeypatch.setenv("SUPPRESSION_MINUTES", "1")
    app.runtime.cache_clear()
    app.lambda_handler(case_event("wrong-network", "first"), LambdaContext())
    later = case_event("wrong-network", "later")
    later["detail"]["eventTime"] = "2026-11-02T11:30:00Z"
    app.lambda_handler(later, LambdaContext())
    findings = hub.get_findings()["Findings"]
    assert len(findings) == 1  # the repeat updated the incident's finding
    (finding,) = findings
    account = stack.topic_arn.split(":")[4]
    assert problems(finding, account) == []
    assert finding["AwsAccountId"] == account
    assert finding["ProductArn"] == f"arn:aws:securityhub:{REGION}:{account}:product/{account}/default"
    assert finding["Severity"]["Label"] == "MEDIUM" and finding["ProductFields"]["paramwatch/pages"] == "2"
    assert finding["LastObservedAt"].startswith("2026-11-02T11:30:00")
    assert finding["FirstObservedAt"].startswith("2026-11-02T10:15:00")
    ids = {r["Id"] for r in finding["Resources"]}
    assert "arn:aws:iam::111122223333:role/app/orders-api" in ids
    assert f"arn:aws:ssm:{REGION}:111122223333:parameter/orders/db-password" in ids
    assert finding["ProductFields"]["paramwatch/near_miss"].startswith("grant 'orders-api'")


def test_security_hub_is_off_by_default(app, stack) -> None:
    assert app.runtime().hub is None


def test_delegated_pieces_are_merged(app, stack) -> None:
    # GIVEN team billing's piece under the grants path
    stack.ssm.put_parameter(
        Name=f"{GRANTS}/billing",
        Type="String",
        Value=json.dumps(
            {
                "version": 1,
                "grants": [
                    {
                        "name": "orders-from-anywhere",
                        "owner": "orders-team",
                        "principals": ["arn:aws:iam::111122223333:role/app/orders-api"],
                        "parameters": ["/orders/*"],
                    }
                ],
            }
        ),
    )
    # WHEN the read the main allowlist refuses (wrong network) arrives
    result = app.lambda_handler(case_event("wrong-network"), LambdaContext())
    # THEN the piece's grant allows it
    assert result == {"verdicts": []}


def test_a_conflict_between_pieces_fails_closed_naming_both(app, stack) -> None:
    stack.ssm.put_parameter(
        Name=f"{GRANTS}/rogue",
        Type="String",
        Value='{"version": 1, "grants": [{"name": "orders-api", "principals": ["*"], "parameters": ["*"]}]}',
    )
    result = app.lambda_handler(case_event("granted-assumed-role"), LambdaContext())
    assert [v["rule"] for v in result["verdicts"]] == ["allowlist-invalid", "unauthorized-read"]
    problem = result["verdicts"][0]["problems"][0]
    assert problem == f"{GRANTS}/rogue: grant name 'orders-api' is also defined in /paramwatch/test/allowlist"


@pytest.fixture(autouse=True)
def _grants_path(monkeypatch) -> None:
    monkeypatch.setenv("GRANTS_PATH", GRANTS)


def test_the_chat_schema_file_is_the_one_the_readme_names() -> None:
    assert "docs/chat-notification.schema.json" in (ROOT / "README.md").read_text()
    assert Path(ROOT / "docs" / "examples" / "all-findings-rule.json").is_file()


def test_kms_side_bulk_alert_lists_names_and_the_ssm_caller(app, stack) -> None:
    from support import eventbridge_event, kms_decrypt, ssm_read

    # GIVEN one SSM call of alice's burst, then its Decrypts (source "AWS Internal") over DynamoDB state
    app.lambda_handler(eventbridge_event(ssm_read("call", ["/platform/p0"])), LambdaContext())
    for i in range(1, 22):
        app.lambda_handler(eventbridge_event(kms_decrypt(f"k{i}", f"/platform/p{i}")), LambdaContext())
    # THEN the bulk alert names 20 parameters, counts them, and gives the SSM side's caller
    (bulk,) = [a for a in stack.alerts() if a["MessageAttributes"]["rule"]["Value"] == "bulk-retrieval"]
    text = bulk["Message"]
    assert "From:       AWS Internal" in text
    assert "SSM call:   from 203.0.113.5, event call" in text and "user agent aws-cli/2.17.0" in text
    assert "(21 distinct parameters in the window; 1 more not listed)" in text
    assert text.count("    - /platform/p") == 20
