"""Fuzzing the evaluator handler against moto: hostile events never crash it, forge a log line,
or vanish; each one that cannot be read is counted in InvalidEvents and alerted."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings

from harness import LambdaContext, emf_records, metric_sum
from strategies import any_records
from support import eventbridge_event

EXAMPLES = 1_000


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_handler_fuzz(app, stack, capsys) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(any_records())
    def one(record: Any) -> None:
        capsys.readouterr()
        result = app.lambda_handler(eventbridge_event(record), LambdaContext())
        out = capsys.readouterr().out
        lines = _lines(out)  # every stdout line is one JSON document: nothing was forged
        rules = [v["rule"] for v in result["verdicts"]]
        invalid = metric_sum(emf_records(out), "InvalidEvents")
        assert invalid == rules.count("invalid-event")
        assert sum(1 for line in lines if line.get("message") == "finding") == len(rules)

    one()
