"""One incident, one page in the evaluator against moto: by-path sweeps, window edges, public
parameters, bounded state keys and sets, and the log of an alert a retry already sent.

Record shapes as in tests/unit/test_incidents.py (GetParametersByPath request parameters per the SSM
API reference; SSM-made Decrypts as in the Invictus Stratus Red Team trail).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from harness import STATE_TABLE, LambdaContext, log_lines, release_held
from paramwatch.allowlist import EMPTY
from paramwatch.detector import Detector, Tuning
from paramwatch.replay import replay
from paramwatch.state import MemoryState
from paramwatch_aws.cached_state import CachedState
from paramwatch_aws.dynamo_state import DynamoState
from support import eventbridge_event, kms_decrypt, ssm_read

MALLORY = {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/mallory", "accountId": "111122223333"}


def invoke(app, record: dict) -> dict:
    return app.lambda_handler(eventbridge_event(record), LambdaContext())


def as_mallory(record: dict) -> dict:
    identity = {**MALLORY, **({"invokedBy": "AWS Internal"} if record["eventName"] == "Decrypt" else {})}
    return {**record, "userIdentity": identity}


def sweep() -> list[dict]:
    """`get-parameters-by-path --path /prod --recursive --with-decryption`: 5 pages, 50 SecureStrings."""
    records = []
    for page in range(5):
        time_ = f"2026-11-02T10:15:{page * 2:02d}Z"
        call = ssm_read(f"call-{page}", ["/prod"], time=time_)
        call["eventName"] = "GetParametersByPath"
        call["requestParameters"] = {"path": "/prod", "recursive": True, "withDecryption": True}
        if page:
            call["requestParameters"]["nextToken"] = f"token-{page}"
        records.append(as_mallory(call))
        records += [
            as_mallory(kms_decrypt(f"dec-{page}-{i}", f"/prod/svc{i % 3}/s{page * 10 + i}", time=time_))
            for i in range(10)
        ]
    return records


def rules_of(alerts: list[dict]) -> list[str]:
    return [a["MessageAttributes"]["rule"]["Value"] for a in alerts]


def in_order(records: list[dict], decrypts_first: bool) -> list[dict]:
    """The sweep as delivered: each call before its Decrypts, or every Decrypt before any call."""
    if not decrypts_first:
        return records
    return [r for r in records if r["eventName"] == "Decrypt"] + [r for r in records if r["eventName"] != "Decrypt"]


def replayed_page(tmp_path: Path):
    """The page `paramwatch replay` gives for the sweep (one CloudTrail file per page of it)."""
    records = sweep()
    for page in range(5):
        name = f"111122223333_CloudTrail_us-east-1_20261102T101{page}Z_p{page}.json"
        (tmp_path / name).write_text(json.dumps({"Records": records[page * 11 : page * 11 + 11][::-1]}))
    verdicts = [v for r in replay([tmp_path], Detector(EMPTY, MemoryState(), Tuning()), workers=1) for v in r.verdicts]
    return verdicts, [v for v in verdicts if v.paged]


@pytest.mark.parametrize("decrypts_first", [False, True], ids=["call-first", "decrypts-first"])
def test_a_held_sweep_pages_once_naming_the_path_and_what_it_revealed(
    app, stack, held, tmp_path, decrypts_first
) -> None:
    # GIVEN the evaluator holding read incidents' pages (IncidentHoldSeconds=20), and mallory's
    # sweep of /prod (5 by-path calls, 50 SSM-made Decrypts) delivered in either order
    results = [invoke(app, record) for record in in_order(sweep(), decrypts_first)]
    # WHEN the events are judged, THEN nothing pages yet: one page waits in the hold queue
    assert stack.alerts() == []
    assert sum(v["paged"] for r in results for v in r["verdicts"]) == 1
    # WHEN the hold is over (the SQS event source delivers the held page)
    release_held(app, stack, held)
    # THEN one alert: the first by-path call, naming the path, the count and the first names,
    # in the words replay uses (replay has every Decrypt of the sweep, and pages the same call)
    alerts = stack.alerts()
    assert rules_of(alerts) == ["unauthorized-read"]
    finding = json.loads(alerts[0]["Message"].splitlines()[-1])
    assert finding["event_id"] == "call-0" and finding["parameters"] == ["/prod"]
    revealed = [line for line in alerts[0]["Message"].splitlines() if "Its Decrypts revealed" in line]
    assert len(revealed) == 1 and "revealed 50 secret(s): /prod/svc0/s0, /prod/svc0/s3, " in revealed[0]
    assert revealed[0].endswith(" and 30 more.")
    _, (replayed,) = replayed_page(tmp_path)
    assert replayed.finding.event_id == "call-0" and revealed[0].endswith(replayed.notes[-1])
    # and a redelivery of the hold message (SQS delivers at least once) sends nothing again
    assert stack.alerts() == []


def test_a_held_page_is_the_same_in_both_orders(app, stack, held) -> None:
    # the two orders, each against a fresh table, give the same alert text
    texts = []
    for decrypts_first in (False, True):
        for record in in_order(sweep(), decrypts_first):
            invoke(app, {**record, "eventID": f"{record['eventID']}-{decrypts_first}"})
        release_held(app, stack, held)
        (alert,) = stack.alerts()
        texts.append(alert["Message"].replace(f"-{decrypts_first}", ""))
        for item in stack.items():
            stack.dynamodb.delete_item(TableName=STATE_TABLE, Key={"pk": item["pk"]})
    assert texts[0] == texts[1]


def test_a_50_secret_by_path_sweep_pages_once(app, stack) -> None:
    # GIVEN mallory, granted nothing, sweeping /prod: 5 by-path calls and 50 SSM-made Decrypts
    for record in sweep():
        invoke(app, record)
    # THEN one alert (was 52: 51 unauthorized-read and 1 bulk-retrieval), naming the path
    alerts = stack.alerts()
    assert rules_of(alerts) == ["unauthorized-read"]
    finding = json.loads(alerts[0]["Message"].splitlines()[-1])
    assert finding["event_id"] == "call-0" and finding["parameters"] == ["/prod"]


def test_a_sweep_whose_decrypts_arrive_first_pages_once(app, stack) -> None:
    records = sweep()
    for record in [r for r in records if r["eventName"] == "Decrypt"] + [
        r for r in records if r["eventName"] != "Decrypt"
    ]:
        invoke(app, record)
    assert rules_of(stack.alerts()) == ["unauthorized-read"]


def test_the_same_sweep_pages_once_in_replay(tmp_path: Path) -> None:
    # the backtest of the same records, one CloudTrail file per page of the sweep
    records = sweep()
    for page in range(5):
        name = f"111122223333_CloudTrail_us-east-1_20261102T101{page}Z_p{page}.json"
        (tmp_path / name).write_text(json.dumps({"Records": records[page * 11 : page * 11 + 11][::-1]}))
    verdicts = [v for r in replay([tmp_path], Detector(EMPTY, MemoryState(), Tuning()), workers=1) for v in r.verdicts]
    assert [(str(v.finding.rule), v.finding.event_id) for v in verdicts if v.paged] == [("unauthorized-read", "call-0")]
    assert len(verdicts) == 56  # 5 calls + 50 Decrypts + 1 bulk: every one reported, one pages
    # the backtest has every Decrypt, so the page names what the sweep revealed
    page = next(v for v in verdicts if v.paged)
    assert page.notes[-1].startswith("Its Decrypts revealed 50 secret(s): /prod/svc")
    assert page.notes[-1].endswith(" and 30 more.")


def test_a_pair_across_the_hour_pages_once(app, stack) -> None:
    invoke(app, kms_decrypt("edge-kms", "/billing/key", time="2026-11-02T11:00:00Z"))
    invoke(app, ssm_read("edge-ssm", ["/billing/key"], time="2026-11-02T10:59:59Z"))
    assert rules_of(stack.alerts()) == ["unauthorized-read"]


def test_public_parameters_do_not_page(app, stack) -> None:
    name = "arn:aws:ssm:us-east-1::parameter/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    result = invoke(app, ssm_read("ami", [name]))
    assert result["verdicts"] == [] and stack.alerts() == []


def test_names_beyond_the_key_limits_and_a_100_kb_user_agent_are_judged(app, stack) -> None:
    # GIVEN names at and beyond DynamoDB's 2,048-byte key limit (SSM allows 2,048 characters in a
    # name, more in multi-byte ones), a long role path, and a 100 KB user agent
    names = ["/" + "a" * 2047, "/" + "é" * 2047, "/" + "b" * 5000]
    for i, name in enumerate(names):
        record = ssm_read(f"long-{i}", [name], userAgent="x" * 100_000)
        record["userIdentity"] = {**MALLORY, "arn": f"arn:aws:iam::111122223333:user/{'p/' * 200}mallory{i}"}
        # WHEN each is judged, THEN nothing raises and each pages
        assert [v["paged"] for v in invoke(app, record)["verdicts"]] == [True]
    assert len(stack.alerts()) == 3
    # every key stored is a kind and a digest, far under 2,048 bytes
    assert max(len(item["pk"]["S"].encode()) for item in stack.items()) <= 90


def test_a_denied_burst_far_beyond_the_threshold_keeps_one_small_item(aws, stack) -> None:
    # GIVEN the window set of a burst of refused calls, in DynamoDB behind the warm-container cache
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(STATE_TABLE)
    dynamo = DynamoState(table)
    cached = CachedState(dynamo)
    # WHEN 20,000 refused calls add their event IDs (the first 300 straight to DynamoDB, where a
    # full set refuses the update; the rest through the cache, as the handler does)
    sizes = [
        dynamo.add_members("denied-burst#p#0#0", [f"event-{i:05d}"], time.time() + 600, cap=11) for i in range(300)
    ]
    sizes += [
        cached.add_members("denied-burst#p#0#0", [f"event-{i:05d}"], time.time() + 600, cap=11)
        for i in range(300, 20_000)
    ]
    # THEN every update succeeds, the count stops at the cap, and the item stays small
    assert sizes[:11] == list(range(1, 12)) and set(sizes[11:]) == {11}
    assert len(dynamo.members("denied-burst#p#0#0")) == 11


def test_one_event_crossing_both_bulk_windows_sends_one_alert_and_logs_no_false_retry(
    app, stack, monkeypatch, capsys
) -> None:
    # GIVEN 6 distinct granted reads in one second: the 6th crosses BULK_THRESHOLD=5 in both grids
    monkeypatch.setenv("BULK_THRESHOLD", "5")
    app.runtime.cache_clear()
    for i in range(6):
        invoke(app, ssm_read(f"both-{i}", [f"/platform/p{i}"], time="2026-11-02T10:07:30Z"))
    # THEN one bulk alert naming both windows, and no "already sent" line (nothing was retried)
    alerts = stack.alerts()
    assert rules_of(alerts) == ["bulk-retrieval"]
    assert json.loads(alerts[0]["Message"].splitlines()[-1])["summary"].count("window from") == 2
    assert not [line for line in log_lines(capsys.readouterr().out) if "already sent" in line.get("message", "")]


def test_a_retry_says_why_it_does_not_send_an_alert_again(app, stack, capsys) -> None:
    from paramwatch.detector import Verdict, judge

    verdict = Verdict(judge(ssm_read("retried", ["/billing/key"]), EMPTY), paged=True)
    app.publish(app.runtime(), verdict, "retried")  # the first attempt sent it, then failed later
    app.publish(app.runtime(), verdict, "retried")  # Lambda's retry of the same event
    assert len(stack.alerts()) == 1
    lines = [
        line["message"] for line in log_lines(capsys.readouterr().out) if "not sent again" in str(line.get("message"))
    ]
    assert lines == ["alert not sent again: an earlier attempt at this event (a Lambda retry) already sent it"]
