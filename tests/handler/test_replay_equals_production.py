"""Replay raises what production raises, each through its real path.

Production: every record wrapped as EventBridge delivers it, offered to the template's rules (the
real SAM translation, deployed by moto's CloudFormation, matched by moto's EventBridge), and the
ones a rule delivers handed to the evaluator over moto; what pages is read back from the topic.
Replay: the same records as CloudTrail log files on disk, through `paramwatch replay` (argparse,
file reader, msgspec pre-filter, worker processes, the detector). Paged findings are compared as
sets of (rule, event, principal, parameters).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.events.models import EventPattern

from harness import LambdaContext
from paramwatch.access import KMS_DECRYPTS, KMS_ENCRYPTS, KMS_SOURCE, SSM_READS, SSM_SOURCE, parse_time
from paramwatch.cli import main
from paramwatch.sources import select
from support import (
    CASES,
    DATASET,
    EVENTS,
    ROOT,
    deploy_rule_patterns,
    eventbridge_event,
    load_case,
    ssm_read,
    translate_template,
)

Key = tuple[str, str, str | None, tuple[str, ...]]
KMS_CALLS = KMS_DECRYPTS | KMS_ENCRYPTS


@pytest.fixture(scope="module")
def patterns() -> Iterator[dict[str, str]]:
    """The template's rules as deployed, with its default parameters (HoneytokenPrefix /decoy/)."""
    with pytest.MonkeyPatch.context() as patch:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.setenv(key, "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield deploy_rule_patterns(translate_template(ROOT / "template.yaml"))


def _key(finding: dict) -> Key:
    return (finding["rule"], finding["event_id"], finding["principal"], tuple(finding["parameters"]))


def _event_order(indexed: tuple[int, dict]) -> tuple:
    """Event time; at one time, other calls before SSM reads before KMS ones, reads by event ID,
    then the order of the input. It is the order replay judges in (ties have no order in AWS)."""
    index, record = indexed
    moment = parse_time(record["eventTime"]) if isinstance(record.get("eventTime"), str) else None
    source, name = record.get("eventSource"), record.get("eventName")
    is_read = (source, name) in {*((SSM_SOURCE, n) for n in SSM_READS), *((KMS_SOURCE, n) for n in KMS_CALLS)}
    key = (source == KMS_SOURCE, str(record.get("eventID"))) if is_read else (False, "")
    return (moment.timestamp() if moment else -math.inf, *key, index)


def production(app, stack, patterns: dict[str, str], records: list[dict]) -> tuple[set[Key], int]:
    """What pages when EventBridge's rules deliver `records` to the evaluator in event-time order
    (the order replay judges in; an SSM call before the Decrypts it caused, then by event ID)."""
    loaded = {name: EventPattern.load(raw) for name, raw in patterns.items()}
    delivered = 0
    for _, record in sorted(enumerate(records), key=_event_order):
        event = eventbridge_event(record)
        if any(p.matches_event(event) for p in loaded.values()):
            delivered += 1
            app.lambda_handler(event, LambdaContext())
    paged = set()
    for alert in stack.alerts():
        appendix = alert["Message"].split("Finding (JSON):\n", 1)[1]
        paged.add(_key(json.loads(appendix)))
    return paged, delivered


def backtest(paths: list[Path]) -> tuple[set[Key], list[str]]:
    """What `paramwatch replay --format jsonl` says would page over files on disk, and its errors."""
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["replay", "--allowlist", str(EVENTS / "allowlist.yaml"), "--format", "jsonl", *map(str, paths)], out, err
    )
    errors = [line for line in err.getvalue().splitlines() if line.startswith("paramwatch: error:")]
    assert code == (2 if errors else 1), err.getvalue()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return {_key(f) for f in lines if f["paged"]}, errors


def test_every_verdict_case(app, stack, patterns, tmp_path) -> None:
    # GIVEN every verdict case, each as a CloudTrail log file of its own
    # (named by event ID, so that the input's order is the same for both; no two share one)
    cases = {p.stem: load_case(p) for p in CASES}
    for case in cases.values():
        name = f"111122223333_CloudTrail_us-east-1_{case['record']['eventID']}.json"
        (tmp_path / name).write_text(json.dumps({"Records": [case["record"]]}))
    records = sorted((case["record"] for case in cases.values()), key=lambda r: r["eventID"])
    # WHEN production and replay each see them
    live, delivered = production(app, stack, patterns, records)
    offline, errors = backtest([tmp_path])
    # THEN they page for the same findings, except two records no CloudTrail writes:
    # - an eventName that is a number matches no rule, while replay reports an invalid event;
    # - a record nested deeper than paramwatch judges is an invalid event in Lambda, and makes its
    #   file unreadable in replay (named on stderr, exit code 2).
    assert {(rule, event) for rule, event, *_ in offline - live} == {
        ("invalid-event", cases["invalid-event-name-type"]["record"]["eventID"])
    }
    assert {(rule, event) for rule, event, *_ in live - offline} == {
        ("invalid-event", cases["nested-too-deep"]["record"]["eventID"])
    }
    deep = cases["nested-too-deep"]["record"]["eventID"]
    assert len(errors) == 1 and f"{deep}.json: record 0: the record is nested deeper" in errors[0]
    expected_rules = {case["expected"]["rule"] for case in cases.values()} - {None}
    assert {rule for rule, *_ in live} >= expected_rules
    assert delivered == sum(bool(case["delivered_by"]) for case in cases.values())
    print(
        f"cases: {len(records)} records, {delivered} delivered, {len(live)} paged in production, {len(offline)} in replay"
    )


def test_the_real_trail(app, stack, patterns) -> None:
    if not DATASET.is_dir():
        pytest.skip(f"real CloudTrail dataset not found at {DATASET}")
    # GIVEN the Stratus Red Team trail, in file order
    files = sorted(DATASET.glob("*.json*"))
    records = [r for path in files for r in select(path, lambda record: True).selected]
    # WHEN production and replay each see it
    live, delivered = production(app, stack, patterns, records)
    offline, errors = backtest([DATASET])
    assert errors == []
    # THEN they page for the same findings, and those include the bulk retrieval in it
    assert live == offline
    assert delivered > 40 and "bulk-retrieval" in {rule for rule, *_ in live}
    print(f"real trail: {len(records)} records, {delivered} delivered, {len(live)} paged in both")


def _undecrypted(event_id: str, api: str, **params: object) -> dict:
    record = ssm_read(event_id, ["/unused"], eventName=api)
    record["requestParameters"] = params
    return record


def test_undecrypted_reads_near_the_honeytoken_prefix(app, stack, patterns, tmp_path) -> None:
    # GIVEN reads without decryption of the honeytoken prefix's ancestors (a recursive read of / returns
    # the decoys; a flat one does not), the prefix itself, and names that only look alike (the rule
    # matches a prefix of the text; names are case-sensitive)
    records = [
        _undecrypted("root-recursive", "GetParametersByPath", path="/", recursive=True),
        _undecrypted("root-flat", "GetParametersByPath", path="/", recursive=False),
        _undecrypted("decoy-folder", "GetParametersByPath", path="/decoy", recursive=False),
        _undecrypted("decoy-subfolder", "GetParametersByPath", path="/decoy/a", recursive=True),
        _undecrypted("decoy-name", "GetParameter", name="/decoy/db"),
        _undecrypted("decoy-arn", "GetParameter", name="arn:aws:ssm:us-east-1:111122223333:parameter/decoy/db2"),
        _undecrypted("decoy-version", "GetParameter", name="/decoy/db3:3"),
        _undecrypted("decoy-in-list", "GetParameters", names=["/orders/a", "/decoy/db4"]),
        _undecrypted("decoys-lookalike", "GetParameter", name="/decoys/db"),
        _undecrypted("decoy-other-case", "GetParameter", name="/Decoy/db"),
        _undecrypted("decoy-history", "GetParameterHistory", name="/decoy/db5"),
    ]
    trail = tmp_path / "111122223333_CloudTrail_us-east-1_honeytokens.json"
    trail.write_text(json.dumps({"Records": records}))
    # WHEN production and replay each see them
    live, _ = production(app, stack, patterns, records)
    offline, _ = backtest([trail])
    # THEN they page for the same honeytoken reads (each names another decoy: repeats are suppressed)
    assert live == offline
    assert {event for _, event, *_ in live} == {
        "root-recursive",
        "decoy-folder",
        "decoy-subfolder",
        "decoy-name",
        "decoy-arn",
        "decoy-version",
        "decoy-in-list",
        "decoy-history",
    }


def test_a_held_by_path_sweep(app, stack, held, patterns, tmp_path) -> None:
    # GIVEN mallory's 50-secret by-path sweep, its Decrypts delivered before its calls, with the
    # evaluator holding by-path pages (IncidentHoldSeconds=20)
    from test_incident_pages import in_order, sweep

    from harness import release_held

    records = in_order(sweep(), decrypts_first=True)
    for page in range(5):
        name = f"111122223333_CloudTrail_us-east-1_20261102T101{page}Z_p{page}.json"
        (tmp_path / name).write_text(json.dumps({"Records": sweep()[page * 11 : page * 11 + 11]}))
    loaded = {name: EventPattern.load(raw) for name, raw in patterns.items()}
    for record in records:
        event = eventbridge_event(record)
        if any(p.matches_event(event) for p in loaded.values()):
            app.lambda_handler(event, LambdaContext())
    # WHEN the hold ends
    release_held(app, stack, held)
    live = {_key(json.loads(a["Message"].split("Finding (JSON):\n", 1)[1])) for a in stack.alerts()}
    offline, errors = backtest([tmp_path])
    # THEN production pages what replay pages: the first by-path call, naming the path
    assert errors == [] and live == offline
    assert {(rule, event, params) for rule, event, _, params in live} == {("unauthorized-read", "call-0", ("/prod",))}
