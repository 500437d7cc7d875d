"""README sentences about what judging gives, as tests (see tests/handler/test_claims.py for the
handler's)."""

from __future__ import annotations

from paramwatch.detector import Detector, Tuning
from paramwatch.state import MemoryState
from support import ssm_read

MALLORY = {
    "type": "IAMUser",
    "principalId": "AIDAM",
    "arn": "arn:aws:iam::111122223333:user/mallory",
    "accountId": "111122223333",
    "userName": "mallory",
}


def test_one_event_can_give_a_rule_finding_and_a_detection_finding(sample_allowlist) -> None:
    # GIVEN mallory (granted nothing) decrypting 21 distinct parameters within a minute
    detector = Detector(sample_allowlist, MemoryState(), Tuning(bulk_threshold=20, learning_days=0))
    rules = []
    for i in range(21):
        record = ssm_read(f"m-{i}", [f"/billing/p{i}"], time=f"2026-11-02T10:15:{i:02d}Z", userIdentity=MALLORY)
        outcome = detector.process(record, now=0.0)
        rules.append(sorted(str(v.finding.rule) for v in outcome.verdicts))
        if outcome.begun:
            detector.finish(outcome.begun)
    # THEN each read is an unauthorized read, and the 21st is also the bulk retrieval
    assert all("unauthorized-read" in r for r in rules)
    assert "bulk-retrieval" not in rules[19] and "bulk-retrieval" in rules[20]


def test_a_broken_allowlist_pages_once_per_window_and_counts_the_rest(sample_allowlist) -> None:
    from paramwatch.findings import Finding, Rule, Severity

    detector = Detector(sample_allowlist, MemoryState(), Tuning(suppression_minutes=60))
    problem = Finding(
        event_id="allowlist:/p",
        rule=Rule.ALLOWLIST_INVALID,
        severity=Severity.HIGH,
        principal=None,
        parameters=("/p",),
        event_time=None,
        source_ip=None,
        summary="[allowlist-invalid] broken",
    )
    start = 1_800_000_000.0  # a window boundary
    first = detector.pipeline_verdict(problem, start + 10, "e1")
    repeats = [detector.pipeline_verdict(problem, start + 20 + i, f"e{i + 2}") for i in range(3)]
    later = detector.pipeline_verdict(problem, start + 3600 + 10, "e9")
    assert first.paged and first.finding is problem
    assert [r.paged for r in repeats] == [False] * 3
    assert all(r.reason.startswith("repeat within 60 minutes of the alert for event e1") for r in repeats)
    assert later.paged and later.held_back == 3


def test_an_abandoned_event_is_judged_again_on_retry(sample_allowlist) -> None:
    detector = Detector(sample_allowlist, MemoryState(), Tuning())
    record = ssm_read("retry-1", ["/billing/key"])
    outcome = detector.process(record, now=0.0)
    assert outcome.begun == "retry-1"
    detector.abandon(outcome.begun)  # sending the alert failed
    again = detector.process(record, now=0.0)
    assert [str(v.finding.rule) for v in again.verdicts] == ["unauthorized-read"] and again.verdicts[0].paged
    detector.finish(again.begun)
    assert detector.process(record, now=0.0).verdicts == []


def test_cloudformation_deploying_paramwatchs_own_stack_never_pages(sample_allowlist) -> None:
    from support import EVENTS, OWN, load_case

    detector = Detector(sample_allowlist, MemoryState(), Tuning(), own=OWN)
    record = load_case(EVENTS / "cases" / "low-rule-cloudformation-deploy.json")["record"]
    (verdict,) = detector.process(record, now=0.0).verdicts
    assert (str(verdict.finding.rule), verdict.paged) == ("tamper", False)
    assert verdict.reason == "CloudFormation deploying paramwatch's own stack"


def test_a_blinding_change_pages_once_per_resource_and_window(sample_allowlist) -> None:
    from support import EVENTS, OWN, load_case

    detector = Detector(sample_allowlist, MemoryState(), Tuning(suppression_minutes=60), own=OWN)
    base = load_case(EVENTS / "cases" / "tamper-trail-stop-logging.json")["record"]
    paged = []
    for event_id, moment in [("t1", "10:15:00"), ("t2", "10:20:00"), ("t3", "11:30:00")]:
        record = {**base, "eventID": event_id, "eventTime": f"2026-11-02T{moment}Z"}
        outcome = detector.process(record, now=0.0)
        paged.append([(str(v.finding.rule), v.paged) for v in outcome.verdicts])
        if outcome.begun:
            detector.finish(outcome.begun)
    assert paged == [[("tamper", True)], [("tamper", False)], [("tamper", True)]]


def test_a_pipeline_problem_naming_no_parameter_still_pages_once(sample_allowlist) -> None:
    from paramwatch.findings import Finding, Rule, Severity

    detector = Detector(sample_allowlist, MemoryState(), Tuning())
    problem = Finding(
        event_id="p",
        rule=Rule.ALLOWLIST_INVALID,
        severity=Severity.HIGH,
        principal=None,
        parameters=(),
        event_time=None,
        source_ip=None,
        summary="[allowlist-invalid] broken",
    )
    verdicts = [detector.pipeline_verdict(problem, 1_800_000_010.0 + i, f"e{i}") for i in range(2)]
    assert [v.paged for v in verdicts] == [True, False]
    assert verdicts[0].units == ("*",)
