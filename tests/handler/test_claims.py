"""README claims that an audit could break without any other test failing: each test here fails if
its sentence becomes false.

- "Every value that came from CloudTrail ... is escaped": subject, body, JSON appendix, log lines,
  replay table and JSON lines.
- "a lease of 2 minutes frees events whose invocation died".
- "allowlist-invalid ... pages once per suppression window".
- "Raw events are never logged, even with POWERTOOLS_LOGGER_LOG_EVENT=true": the variable is set
  before Powertools is imported, in a process of its own.
- "The SSM call and the KMS Decrypt SSM makes for it share ... a timestamp": a Decrypt long after
  the call is another read, not its pair.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

from harness import STATE_TABLE, LambdaContext
from paramwatch.cli import main
from paramwatch.state import Delivery
from paramwatch_aws.dynamo_state import DynamoState
from support import EVENTS, ROOT, eventbridge_event, kms_decrypt, ssm_read

# Markup for HTML mail, Slack/Teams markdown and chat links; a newline; a bidi override; a quote.
HOSTILE_NAME = '/orders/<img src=x onerror=alert(1)>*bold*_[a](https//e)~`x`|\n\u202eevil"'
HOSTILE_AGENT = "<script>alert(1)</script> **Click** [here](http://evil.example) \r\nX-Injected: 1"
MARKUP = ("<img", "<script", "*bold*", "[a](", "[here](", "\n\u202e", "\u202e", "`x`", "\nX-Injected")


def hostile_read(event_id: str) -> dict:
    """alice (granted /platform/* only) decrypts a parameter whose name is an attack on the reader."""
    return ssm_read(event_id, [HOSTILE_NAME], userAgent=HOSTILE_AGENT)


def _assert_clean(text: str, where: str) -> None:
    for bad in MARKUP:
        assert bad not in text, f"{where} holds {bad!r}"
    assert "\u202e" not in text and all(c == "\n" or " " <= c <= "~" for c in text), where


def test_every_output_of_a_hostile_read_is_escaped(app, stack, capsys) -> None:
    # WHEN production judges a read of a hostile name with a hostile user agent
    app.lambda_handler(eventbridge_event(hostile_read("hostile-1")), LambdaContext())
    # THEN the subject, the body and the JSON appendix carry no markup, newline or bidi character
    (alert,) = stack.alerts()
    _assert_clean(alert["Subject"], "subject")
    assert "\n" not in alert["Subject"] and len(alert["Subject"]) < 100
    body, appendix = alert["Message"].split("Finding (JSON):\n", 1)
    _assert_clean(body, "body")
    _assert_clean(appendix, "JSON appendix")
    assert "\n" not in appendix.strip()
    # and the appendix still gives the original name back to a program that reads it
    assert json.loads(appendix)["parameters"] == [HOSTILE_NAME]
    # and so do the log lines
    for line in capsys.readouterr().out.splitlines():
        _assert_clean(line, "log line")


def test_replay_outputs_of_a_hostile_read_are_escaped(tmp_path) -> None:
    trail = tmp_path / "trail.json"
    trail.write_text(json.dumps({"Records": [hostile_read("hostile-2")]}))
    for fmt in ("table", "jsonl"):
        out, err = io.StringIO(), io.StringIO()
        code = main(["replay", "--allowlist", str(EVENTS / "allowlist.yaml"), "--format", fmt, str(trail)], out, err)
        assert code == 1, err.getvalue()
        _assert_clean(out.getvalue(), f"replay {fmt}")
        _assert_clean(err.getvalue(), f"replay {fmt} stderr")
        if fmt == "jsonl":
            (line,) = out.getvalue().splitlines()
            assert json.loads(line)["parameters"] == [HOSTILE_NAME]


def test_a_lease_of_two_minutes_frees_an_event_whose_invocation_died(app, stack) -> None:
    # GIVEN an invocation that began an event 121 seconds ago and died without finishing it
    state = DynamoState(_table())
    state.begin("orphan-1", time.time() - 121, time.time() + 3600)
    # WHEN Lambda's retry delivers the event again
    result = app.lambda_handler(eventbridge_event(ssm_read("orphan-1", ["/billing/key"])), LambdaContext())
    # THEN the lease is reclaimed: the event is judged and alerted
    assert [v["rule"] for v in result["verdicts"]] == ["unauthorized-read"]
    assert len(stack.alerts()) == 1


def test_a_live_lease_is_respected_and_a_dead_one_reclaimed(aws, stack) -> None:
    state = DynamoState(_table())
    assert state.begin("e", 1000.0, 10_000.0) is Delivery.NEW
    assert state.begin("e", 1000.0 + 119, 10_000.0) is Delivery.BUSY
    assert state.begin("e", 1000.0 + 121, 10_000.0) is Delivery.NEW
    state.finish("e")
    assert state.begin("e", 1000.0 + 10_000, 20_000.0) is Delivery.DONE


def _table():
    import boto3

    return boto3.resource("dynamodb", region_name="us-east-1").Table(STATE_TABLE)


def test_a_broken_allowlist_pages_once_per_suppression_window(app, stack, monkeypatch) -> None:
    # GIVEN a stored allowlist that does not parse
    stack.put_allowlist("version: 1\ngrants:\n  - name: [unclosed\n")
    clock = [1_800_000_000.0]  # on a window boundary of 60 minutes
    monkeypatch.setattr(app.time, "time", lambda: clock[0])

    def invalid_alerts() -> int:
        return sum(a["MessageAttributes"]["rule"]["Value"] == "allowlist-invalid" for a in stack.alerts())

    # WHEN five allowed reads arrive within one suppression window
    for i in range(5):
        clock[0] += 60
        app.lambda_handler(eventbridge_event(ssm_read(f"ok-{i}", [f"/platform/p{i}"])), LambdaContext())
    # THEN the broken allowlist paged once
    assert invalid_alerts() == 1
    # AND once more in the next window
    clock[0] += 3600
    app.lambda_handler(eventbridge_event(ssm_read("ok-next", ["/platform/next"])), LambdaContext())
    assert invalid_alerts() == 1


def test_a_decrypt_long_after_the_call_is_not_its_pair(app, stack) -> None:
    # GIVEN a read and, in the same suppression window but 30 s later, a Decrypt of the same name
    app.lambda_handler(eventbridge_event(ssm_read("far-s", ["/billing/far"])), LambdaContext())
    later = kms_decrypt("far-k", "/billing/far", time="2026-11-02T10:15:30Z")
    result = app.lambda_handler(eventbridge_event(later), LambdaContext())
    # THEN the Decrypt is held back as a repeat, not as the pair of the call
    (verdict,) = result["verdicts"]
    assert not verdict["paged"] and verdict["reason"].startswith("repeat within")


def test_a_decrypt_within_seconds_of_the_call_is_its_pair(app, stack) -> None:
    app.lambda_handler(eventbridge_event(ssm_read("near-s", ["/billing/near"])), LambdaContext())
    later = kms_decrypt("near-k", "/billing/near", time="2026-11-02T10:15:01Z")
    (verdict,) = app.lambda_handler(eventbridge_event(later), LambdaContext())["verdicts"]
    assert not verdict["paged"] and verdict["reason"].startswith("paired with event near-s")


LOG_EVENT_SCRIPT = r"""
import json, os, sys
import boto3
from moto import mock_aws

MARKER = "CANARY-6f1b2c-NEVER-LOGGED"
with mock_aws():
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/paramwatch/t/allowlist", Type="String",
                      Value=open(sys.argv[1]).read())
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sqs = boto3.client("sqs")
    failures = sqs.create_queue(QueueName="failures")["QueueUrl"]
    boto3.client("dynamodb").create_table(
        TableName="state", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    os.environ.update(ALLOWLIST_PARAMETER="/paramwatch/t/allowlist", ALERT_TOPIC_ARN=topic,
                      STATE_TABLE="state", FAILURE_QUEUE_URL=failures)
    from evaluator import app
    event = json.loads(sys.argv[2])
    event["detail"]["responseElements"] = {"parameter": {"value": MARKER}}
    class Context:
        function_name = "paramwatch-evaluator"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:us-east-1:111122223333:function:paramwatch-evaluator"
        aws_request_id = "r-1"
    app.lambda_handler(event, Context())
    if sys.argv[3] == "control":
        # the same Logger with Powertools' default: the variable, read at import, logs the event
        app.logger.inject_lambda_context(lambda event, context: None)(event, Context())
"""


def _run_with_log_event(mode: str) -> str:
    env = {
        **os.environ,
        "POWERTOOLS_LOGGER_LOG_EVENT": "true",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "POWERTOOLS_SERVICE_NAME": "paramwatch",
        "POWERTOOLS_METRICS_NAMESPACE": "paramwatch",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "functions"), str(ROOT / "layers" / "paramwatch"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    event = json.dumps(eventbridge_event(ssm_read("log-1", ["/billing/key"])))
    done = subprocess.run(
        [sys.executable, "-c", LOG_EVENT_SCRIPT, str(EVENTS / "allowlist.yaml"), event, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout + done.stderr


def test_event_logging_stays_off_when_powertools_is_told_to_log_events_before_import() -> None:
    # GIVEN POWERTOOLS_LOGGER_LOG_EVENT=true and debug logging in the environment of a fresh process
    # WHEN the handler is imported and invoked there with an event holding a marker value
    handled = _run_with_log_event("handler")
    control = _run_with_log_event("control")
    # THEN the handler logged its debug line but never the event; the control proves that
    # Powertools did read the variable and would have logged the event
    assert '"event received"' in handled
    assert "CANARY-6f1b2c-NEVER-LOGGED" not in handled
    assert "CANARY-6f1b2c-NEVER-LOGGED" in control


def test_an_alert_whose_event_carries_a_300_kb_field_still_reaches_the_topic(app, stack) -> None:
    # GIVEN a refused read whose error code (attacker-influenced text, no length limit) is 300 KB
    record = ssm_read("huge-1", ["/billing/key"], errorCode="AccessDenied" + "A" * 300_000)
    # WHEN production judges it
    result = app.lambda_handler(eventbridge_event(record), LambdaContext())
    # THEN the alert is published (SNS takes 256 KB at most), not parked
    assert [v["paged"] for v in result["verdicts"]] == [True]
    assert len(stack.alerts()) == 1 and stack.parked() == []


def test_every_verdict_that_pages_is_sent_even_when_one_event_pages_several(app, stack, monkeypatch) -> None:
    # GIVEN a low bulk threshold, and reads that each page on their own as well
    monkeypatch.setenv("BULK_THRESHOLD", "3")
    app.runtime.cache_clear()
    paged = 0
    for i in range(6):
        record = ssm_read(f"sweep-{i}", [f"/billing/s{i}"], time=f"2026-11-02T10:15:0{i}Z")
        result = app.lambda_handler(eventbridge_event(record), LambdaContext())
        paged += sum(v["paged"] for v in result["verdicts"])
    # THEN the topic got exactly one alert per paged verdict, the bulk retrieval among them
    alerts = stack.alerts()
    assert len(alerts) == paged
    assert "bulk-retrieval" in {a["MessageAttributes"]["rule"]["Value"] for a in alerts}
