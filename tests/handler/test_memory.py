"""The evaluator's memory in DynamoDB (moto): duplicates, pairs, bulk reads, leases, expiry."""

from __future__ import annotations

import gzip
import importlib
import json
import time

import botocore.handlers
import pytest
from aws_lambda_powertools.utilities import parameters

from harness import LambdaContext
from paramwatch.allowlist import parse
from paramwatch.detector import Detector, EventInProgress, Tuning
from paramwatch.replay import replay
from paramwatch.rules import needs_judging
from paramwatch.sources import select
from paramwatch.state import MemoryState
from support import EVENTS, eventbridge_event, kms_decrypt, ssm_read


def invoke(app, record: dict) -> dict:
    return app.lambda_handler(eventbridge_event(record), LambdaContext())


def test_duplicate_delivery_gives_one_alert(app, stack) -> None:
    record = ssm_read("dup-1", ["/billing/key"])
    first, second = invoke(app, record), invoke(app, record)
    assert len(first["verdicts"]) == 1 and second["verdicts"] == []
    assert len(stack.alerts()) == 1


@pytest.mark.parametrize("kms_first", [False, True], ids=["ssm-then-kms", "kms-then-ssm"])
def test_ssm_and_kms_sides_of_one_read_give_one_alert(app, stack, kms_first: bool) -> None:
    pair = [ssm_read("ssm-1", ["/billing/key"]), kms_decrypt("kms-1", "/billing/key")]
    for record in reversed(pair) if kms_first else pair:
        invoke(app, record)
    alerts = stack.alerts()
    assert len(alerts) == 1
    assert ("SecureString" in alerts[0]["Message"]) is kms_first


def test_bulk_read_pages_high(app, stack, monkeypatch) -> None:
    monkeypatch.setenv("BULK_THRESHOLD", "5")
    app.runtime.cache_clear()
    for i in range(6):
        invoke(app, ssm_read(f"bulk-{i}", [f"/platform/p{i}"], time=f"2026-11-02T10:15:0{i}Z"))
    alerts = stack.alerts()
    assert [(a["MessageAttributes"]["rule"]["Value"], a["MessageAttributes"]["severity"]["Value"]) for a in alerts] == [
        ("bulk-retrieval", "high")
    ]


def test_event_leased_by_another_invocation_is_retried_later(app, stack) -> None:
    # GIVEN another invocation that began the same event moments ago
    record = ssm_read("busy-1", ["/billing/key"])
    app.runtime().state.begin("busy-1", time.time(), time.time() + 3600)
    # WHEN this invocation receives it, THEN it raises so that Lambda retries, and sends nothing
    with pytest.raises(EventInProgress):
        invoke(app, record)
    assert stack.alerts() == []


def test_every_item_expires(app, stack) -> None:
    invoke(app, ssm_read("t-1", ["/billing/key"]))
    invoke(app, kms_decrypt("t-2", "/billing/key"))
    invoke(app, ssm_read("t-3", ["/platform/x"]))
    items = stack.items()
    assert len(items) >= 6
    # windows expire relative to event time (2026-11-02 here), delivery records relative to now
    assert all(int(item["ttl"]["N"]) > 0 for item in items)
    deliveries = [item for item in items if item["pk"]["S"].startswith("event#")]
    assert len(deliveries) == 2  # the allowed read (t-3) has nothing to deduplicate
    assert all(time.time() < int(item["ttl"]["N"]) <= time.time() + 86400 for item in deliveries)


def test_replay_raises_the_alerts_production_raises(app, stack) -> None:
    # GIVEN the bundled sample trail plus a sweep, a pair and a duplicate
    records = [r for path in sorted((EVENTS / "sample-trail").iterdir()) for r in _records(path)]
    records += [ssm_read(f"sweep-{i}", [f"/platform/s{i}"]) for i in range(22)]
    records += [
        kms_decrypt("pair-k", "/billing/z"),
        ssm_read("pair-s", ["/billing/z"]),
        ssm_read("pair-s", ["/billing/z"]),
    ]
    allowlist = parse((EVENTS / "allowlist.yaml").read_text())
    # WHEN production handles them one by one, and replay judges them from memory
    for record in records:
        invoke(app, record)
    production = sorted((a["MessageAttributes"]["rule"]["Value"], a["Subject"]) for a in stack.alerts())
    detector = Detector(allowlist, MemoryState(), Tuning())
    backtest = []
    for record in records:
        outcome = detector.process(record, now=0.0)
        backtest += [v for v in outcome.verdicts if v.paged]
        if outcome.begun:
            detector.finish(outcome.begun)
    # THEN they page for the same findings
    from paramwatch.render import subject

    assert production == sorted((str(v.finding.rule), subject(v.finding)) for v in backtest)
    assert ("bulk-retrieval" in {rule for rule, _ in production}) and len(production) > 20


def _records(path):
    return select(path, lambda record: True).selected


def test_replay_module_is_used_by_the_backtest() -> None:
    # the CLI path and the loop above share Detector.process; this guards the file reader too
    allowlist = parse((EVENTS / "allowlist.yaml").read_text())
    results = list(replay([EVENTS / "sample-trail"], Detector(allowlist, MemoryState())))
    # replay's reader and byte pre-filter keep exactly what the rules' pre-filter keeps from a plain json.load
    expected = 0
    for path in sorted((EVENTS / "sample-trail").iterdir()):
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        expected += sum(needs_judging(record, allowlist) for record in json.loads(raw)["Records"])
    assert expected > 60
    assert sum(r.relevant for r in results) == expected


def test_a_repeated_allowed_read_makes_no_aws_call(aws, stack, monkeypatch) -> None:
    # GIVEN a counter on every request any new botocore client sends (ahead of moto's own hook)
    sent: list[str] = []

    def count(request, **_):
        sent.append(request.url)

    monkeypatch.setattr(
        botocore.handlers, "BUILTIN_HANDLERS", [("before-send", count), *botocore.handlers.BUILTIN_HANDLERS]
    )
    app = importlib.import_module("evaluator.app")
    app.runtime.cache_clear()
    parameters.clear_caches()
    try:
        # WHEN alice reads her granted parameter once (warming up), and then again
        invoke(app, ssm_read("warm-1", ["/platform/grafana"], time="2026-11-02T10:15:00Z"))
        assert sent, "the first read must reach AWS (allowlist, state)"
        sent.clear()
        for i in range(5):
            invoke(app, ssm_read(f"warm-{i + 2}", ["/platform/grafana"], time=f"2026-11-02T10:16:0{i}Z"))
        # THEN the repeated reads cost no AWS call: allowlist cached, state remembered, metrics on stdout
        assert sent == []
    finally:
        app.runtime.cache_clear()
        parameters.clear_caches()
