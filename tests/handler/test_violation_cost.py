"""What a violating read costs in the handler, counted against moto, next to what `paramwatch cost`
assumes: DynamoDB requests, finding events put on the bus, and the custom metric series kept alive.

The model's figures are upper bounds: a change that makes a violation cost more fails here, and the
model (and the README's cost section) must follow it.
"""

from __future__ import annotations

from collections import Counter

import botocore.client
import pytest

from harness import LambdaContext, case_event, emf_records
from paramwatch import cost

REPEATS = 20


def test_a_repeating_violation_costs_what_the_model_counts(app, stack, capsys, monkeypatch) -> None:
    # GIVEN one (principal, parameter) pair violating again and again, as the model's incident shape
    calls: Counter = Counter()
    original = botocore.client.BaseClient._make_api_call

    def spy(self, name: str, params: dict) -> dict:
        service = self.meta.service_model.service_name
        if service == "dynamodb":
            calls[name, bool(params.get("ConsistentRead"))] += 1
        if service == "events" and name == "PutEvents":
            calls["entries", False] += len(params["Entries"])
        return original(self, name, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)

    def run(i: int) -> tuple[bool, float, float]:
        calls.clear()
        (verdict,) = app.lambda_handler(case_event("wrong-network", event_id=f"repeat-{i}"), LambdaContext())[
            "verdicts"
        ]
        writes = sum(n for (name, _), n in calls.items() if name in {"PutItem", "UpdateItem", "DeleteItem"})
        reads = sum(n * (1 if consistent else 0.5) for (name, consistent), n in calls.items() if name == "GetItem")
        return verdict["paged"], writes, reads

    runs = [run(i) for i in range(REPEATS)]
    # THEN it paged once, and the repeats were held back
    assert [paged for paged, _, _ in runs] == [True] + [False] * (REPEATS - 1)
    # AND each violating event wrote and read at most what the model counts (items under 1 KB: one
    # unit a write, one a consistent read, half an eventually consistent one), a page a little more
    for _, writes, reads in runs[1:]:
        assert 1 <= writes <= cost.VIOLATION_WRITES and 1 <= reads <= cost.VIOLATION_READS
    _, writes, reads = runs[0]
    assert writes <= cost.VIOLATION_WRITES + cost.PAGE_WRITES and reads <= cost.VIOLATION_READS + cost.PAGE_READS
    # AND one finding event put on the bus per violating event
    assert calls["entries", False] == cost.FINDING_EVENTS_PER_VIOLATION  # the last run's
    # AND the custom metric series it keeps alive are the ones the model bills
    series = {
        (name, tuple(sorted((d, blob.get(d)) for d in dims)))
        for blob in emf_records(capsys.readouterr().out)
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for dims in directive["Dimensions"]
        for name in (m["Name"] for m in directive["Metrics"])
    }
    assert len(series) == cost.CUSTOM_METRICS, sorted(series)


@pytest.mark.parametrize("name", ["FindingEventsPut", "EventsEvaluated"])
def test_no_metric_repeats_what_another_already_counts(app, stack, capsys, name) -> None:
    app.lambda_handler(case_event("wrong-network"), LambdaContext())
    assert not [b for b in emf_records(capsys.readouterr().out) if name in b]
