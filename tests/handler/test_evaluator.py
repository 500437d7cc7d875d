"""The evaluator handler invoked in-process against moto."""

from __future__ import annotations

import json

import pytest

from harness import LambdaContext, case_event, emf_records, log_lines, metric_sum
from support import eventbridge_event, ssm_read


def test_violation_publishes_one_alert_with_attributes(app, stack, capsys) -> None:
    # GIVEN the sample allowlist in SSM and an unauthorized read
    event = case_event("wrong-network")
    # WHEN the evaluator handles it
    result = app.lambda_handler(event, LambdaContext())
    # THEN one alert reaches the topic's SQS subscriber, filterable by severity and rule
    alerts = stack.alerts()
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["MessageAttributes"]["severity"]["Value"] == "medium"
    assert alert["MessageAttributes"]["rule"]["Value"] == "unauthorized-read"
    assert alert["Subject"].isascii() and len(alert["Subject"]) < 100
    assert "203.0.113.9" in alert["Message"]
    assert "What to do:" in alert["Message"]
    appended = json.loads(alert["Message"].splitlines()[-1])
    assert appended["event_id"] == event["detail"]["eventID"]
    assert result["verdicts"][0]["rule"] == "unauthorized-read"
    # AND the metrics say so in EMF
    blobs = emf_records(capsys.readouterr().out)
    assert metric_sum(blobs, "AlertsSent") == 1
    assert metric_sum(blobs, "Findings", rule="unauthorized-read", severity="medium") == 1


def test_granted_read_sends_nothing(app, stack, capsys) -> None:
    result = app.lambda_handler(case_event("granted-assumed-role"), LambdaContext())
    assert result == {"verdicts": []}
    assert stack.alerts() == []
    blobs = emf_records(capsys.readouterr().out)
    assert metric_sum(blobs, "AlertsSent") == 0


def test_metric_dimensions_have_low_cardinality(app, stack, capsys) -> None:
    app.lambda_handler(case_event("root-user"), LambdaContext())
    for blob in emf_records(capsys.readouterr().out):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                assert set(dimension_set) <= {"service", "rule", "severity"}


def test_logs_are_json_with_event_id_as_correlation_id(app, stack, capsys) -> None:
    event = case_event("honeytoken-decrypted")
    app.lambda_handler(event, LambdaContext())
    logs = log_lines(capsys.readouterr().out)
    finding_logs = [line for line in logs if line["message"] == "finding"]
    assert len(finding_logs) == 1
    assert finding_logs[0]["correlation_id"] == event["detail"]["eventID"]
    assert finding_logs[0]["finding"]["rule"] == "honeytoken"


def test_allowlist_is_reloaded_after_the_cache_ttl(app, stack, monkeypatch) -> None:
    # GIVEN a zero TTL, so every invocation re-reads the parameter
    monkeypatch.setenv("ALLOWLIST_CACHE_SECONDS", "0")
    app.runtime.cache_clear()
    assert app.lambda_handler(case_event("wrong-network", "first"), LambdaContext())["verdicts"]
    # WHEN an operator widens the grant with put-parameter --overwrite
    stack.put_allowlist(
        json.dumps(
            {
                "version": 1,
                "grants": [
                    {
                        "name": "orders",
                        "principals": ["arn:aws:iam::111122223333:role/app/orders-api"],
                        "parameters": ["/orders/*"],
                    }
                ],
            }
        )
    )
    # THEN the next invocation judges with the new allowlist
    assert app.lambda_handler(case_event("wrong-network", "second"), LambdaContext())["verdicts"] == []


def test_allowlist_is_cached_within_the_ttl(app, stack) -> None:
    assert app.lambda_handler(case_event("wrong-network", "first"), LambdaContext())["verdicts"]
    stack.put_allowlist('{"version": 1, "grants": [{"name": "all", "principals": ["*"], "parameters": ["*"]}]}')
    assert app.lambda_handler(case_event("wrong-network", "second"), LambdaContext())["verdicts"]


def test_broken_allowlist_is_alerted_and_judged_as_empty(app, stack, capsys) -> None:
    stack.put_allowlist('{"version": 1, "grants": [{"name": "x", "source_cidrs": ["10.0.0.0/99"]}]}')
    result = app.lambda_handler(case_event("granted-assumed-role"), LambdaContext())
    rules = [f["rule"] for f in result["verdicts"]]
    assert rules == ["allowlist-invalid", "unauthorized-read"]
    alerts = stack.alerts()
    assert [a["MessageAttributes"]["rule"]["Value"] for a in alerts] == rules
    assert "bad CIDR" in alerts[0]["Message"]
    blobs = emf_records(capsys.readouterr().out)
    assert metric_sum(blobs, "Findings", rule="allowlist-invalid", severity="high") == 1


@pytest.mark.parametrize(
    "event",
    [
        {"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": 1}},
        {"detail-type": "AWS API Call via CloudTrail"},
        {},
        case_event("nested-too-deep"),  # 80 levels: judged as invalid, never a RecursionError
        eventbridge_event(
            ssm_read("big", ["/platform/x"], requestParameters={"name": "/platform/x", "pad": "A" * 2**20})
        ),
    ],
    ids=["name-type", "no-detail", "empty", "too-deep", "too-big"],
)
def test_invalid_event_is_counted_logged_and_alerted(app, stack, capsys, event) -> None:
    result = app.lambda_handler(event, LambdaContext())
    assert [f["rule"] for f in result["verdicts"]] == ["invalid-event"]
    assert len(stack.alerts()) == 1
    out = capsys.readouterr().out
    assert metric_sum(emf_records(out), "InvalidEvents") == 1
    assert any(line["message"] == "finding" for line in log_lines(out))


def test_missing_settings_fail_loudly(app, stack, monkeypatch) -> None:
    monkeypatch.delenv("ALERT_TOPIC_ARN")
    app.runtime.cache_clear()
    with pytest.raises(ValueError, match="ALERT_TOPIC_ARN"):
        app.lambda_handler(case_event("root-user"), LambdaContext())


def test_a_hostile_event_id_cannot_split_a_log_line(app, stack, capsys) -> None:
    # found by the handler fuzz test: the correlation id came straight from the event
    event = case_event("wrong-network", "evil\x85\u2028id\n{")
    app.lambda_handler(event, LambdaContext())
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert all(json.loads(line) for line in lines)
    finding_log = next(json.loads(line) for line in lines if '"finding"' in line and '"_aws"' not in line)
    assert finding_log["correlation_id"] == "evil\\u0085\\u2028id\\u000a{"
