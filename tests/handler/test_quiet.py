"""What an event costs in CloudWatch Logs: an allowed read writes nothing, a finding a bounded amount.

Counted on the handler's real stdout and stderr (Lambda ships both to CloudWatch Logs), with Python
warnings recorded too: Powertools warns on an empty metrics flush, and a warning is a log line.
"""

from __future__ import annotations

import warnings

from harness import LambdaContext, case_event, emf_records
from paramwatch.cost import LOG_BYTES_ALLOWED, LOG_BYTES_FINDING


def test_an_allowed_read_writes_no_log_line_and_no_metric(app, stack, capsys) -> None:
    # GIVEN a cold function and reads the allowlist grants
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # WHEN it judges 20 of them, the first one a cold start
        for i in range(20):
            result = app.lambda_handler(case_event("granted-assumed-role", f"allowed-{i}"), LambdaContext())
            assert result == {"verdicts": []}
    # THEN nothing reached stdout or stderr, and nothing warned
    captured = capsys.readouterr()
    written = len(captured.out.encode()) + len(captured.err.encode())
    assert written / 20 == LOG_BYTES_ALLOWED == 0, captured.out + captured.err
    assert [str(w.message) for w in caught] == []


def test_a_finding_writes_its_log_line_and_metrics_within_the_cost_model(app, stack, capsys) -> None:
    app.lambda_handler(case_event("wrong-network", "warm-up"), LambdaContext())
    capsys.readouterr()
    for i in range(5):
        app.lambda_handler(case_event("wrong-network", f"violation-{i}"), LambdaContext())
    out = capsys.readouterr().out
    assert emf_records(out), "a finding is counted"
    per_finding = len(out.encode()) / 5
    assert 500 < per_finding <= LOG_BYTES_FINDING, per_finding
