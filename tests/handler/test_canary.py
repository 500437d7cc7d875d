"""A canary secret must never reach a log line, a metric or an alert, even with debug logging and
event logging switched on and a (hypothetical) trail that records the value it returned."""

from __future__ import annotations

import copy

from harness import LambdaContext, case_event

CANARY = "CANARY-7f3a9c1e-do-not-log"


def test_canary_value_never_leaves(app, stack, monkeypatch, capsys) -> None:
    # GIVEN the canary stored as a SecureString, debug logs, and event logging asked for
    stack.ssm.put_parameter(Name="/orders/db-password", Value=CANARY, Type="SecureString", Overwrite=True)
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    app.logger.setLevel("DEBUG")
    events = []
    for name in ("wrong-network", "root-user", "granted-assumed-role", "direct-decrypt", "ssm-made-decrypt-granted"):
        event = copy.deepcopy(case_event(name))
        # a trail that recorded the value it returned, in the places CloudTrail could put it
        event["detail"]["responseElements"] = {"parameter": {"value": CANARY}}
        event["detail"]["additionalEventData"] = {"value": CANARY}
        events.append(event)
    # WHEN the evaluator handles every one of them
    try:
        for event in events:
            app.lambda_handler(event, LambdaContext())
    finally:
        app.logger.setLevel("INFO")
    # THEN the canary is in no log line or metric, no alert and no parked record
    output = capsys.readouterr()
    assert '"event received"' in output.out  # debug logging was really on
    assert CANARY not in output.out + output.err
    alerts = stack.alerts()
    assert alerts
    assert all(CANARY not in str(alert) for alert in alerts)
    assert all(CANARY not in str(record) for record in stack.parked())
    assert all(CANARY not in str(item) for item in stack.items())
