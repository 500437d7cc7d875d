"""Fuzzing the evaluator handler against moto: hostile events never crash it, forge a log line,
or vanish; each one that cannot be read is counted in InvalidEvents and alerted."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import LambdaContext, emf_records, metric_sum
from strategies import any_records
from support import eventbridge_event, kms_decrypt, ssm_read

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


JUDGED_EXAMPLES = 400
PRINCIPALS = [
    {
        "type": "IAMUser",
        "principalId": "AIDAM",
        "arn": "arn:aws:iam::111122223333:user/mallory",
        "accountId": "111122223333",
    },
    {
        "type": "AssumedRole",
        "principalId": "AROAO:i-1",
        "arn": "arn:aws:sts::111122223333:assumed-role/orders-api/i-1",
        "accountId": "111122223333",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/app/orders-api"}},
    },
    {
        "type": "Root",
        "principalId": "111122223333",
        "arn": "arn:aws:iam::111122223333:root",
        "accountId": "111122223333",
    },
    {
        "type": "IAMUser",
        "principalId": "AIDAA",
        "arn": "arn:aws:iam::111122223333:user/alice",
        "accountId": "111122223333",
    },
]
# the simplest draws (first entries) give verdicts; alice is granted /platform/* in the sample allowlist
NAMES = ["/orders/db-password", "/billing/key", "/decoy/api-key", "/ci/token", "/platform/grafana", "/platform/db"]


@st.composite
def judged_reads(draw: st.DrawFn) -> dict:
    """A well-formed decrypting read (SSM call or the KMS Decrypt SSM makes), to be judged."""
    who = draw(st.sampled_from(PRINCIPALS))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    when = f"2026-11-02T{draw(st.integers(8, 11)):02d}:{draw(st.integers(0, 59)):02d}:{draw(st.integers(0, 59)):02d}Z"
    error = draw(st.sampled_from([None, None, None, "AccessDenied", "ParameterNotFound"]))
    if draw(st.booleans()) or len(names) > 1:
        record = ssm_read("x", names, time=when, userIdentity=who, sourceIPAddress="203.0.113.5")
    else:
        record = {**kms_decrypt("x", names[0], time=when), "userIdentity": {**who, "invokedBy": "AWS Internal"}}
    if error:
        record["errorCode"] = error
    return record


def test_handler_fuzz_reaches_judging_and_pages_exactly_what_it_says(app, stack, capsys) -> None:
    ids = itertools.count()
    seen = {"judged": 0, "paged": 0, "held": 0, "all": 0}

    @settings(max_examples=JUDGED_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.one_of(judged_reads(), judged_reads(), judged_reads(), any_records()))
    def one(record: Any) -> None:
        if isinstance(record, dict):
            record = {**record, "eventID": f"fuzz-{next(ids)}"}  # fresh: never a redelivery
        result = app.lambda_handler(eventbridge_event(record), LambdaContext())
        capsys.readouterr()
        alerts = stack.alerts()
        sent = set()
        for alert in alerts:
            finding = json.loads(alert["Message"].split("Finding (JSON):\n", 1)[1])
            sent.add((finding["rule"], finding["event_id"]))
        paged = {(v["rule"], v["event_id"]) for v in result["verdicts"] if v["paged"]}
        held = {(v["rule"], v["event_id"]) for v in result["verdicts"] if not v["paged"]}
        # every paged verdict reached the topic, once (none was parked); no unpaged one did
        assert sent == paged and len(alerts) == len(paged) and stack.parked() == []
        assert not held & sent
        seen["all"] += 1
        seen["judged"] += bool(result["verdicts"]) and all(v["rule"] != "invalid-event" for v in result["verdicts"])
        seen["paged"] += len(paged)
        seen["held"] += len(held - paged)

    one()
    # at least half the examples were valid reads that were judged, and some were held back
    assert seen["judged"] >= seen["all"] / 2, seen
    assert seen["paged"] > 0 and seen["held"] > 0, seen
