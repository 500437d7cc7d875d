"""The detections that remember, against the in-memory state (no mocks: data in, verdicts out)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from paramwatch.allowlist import EMPTY, Allowlist, validate
from paramwatch.detector import Detector, Tuning, Verdict
from paramwatch.state import MemoryState
from support import NO_LEARNING, kms_decrypt, run, ssm_read


def paged(verdicts: list[Verdict]) -> list[Verdict]:
    return [v for v in verdicts if v.paged]


def test_duplicate_event_id_gives_no_second_finding() -> None:
    detector = Detector(EMPTY, MemoryState())
    record = ssm_read("dup", ["/billing/key"])
    assert len(run(detector, [record])) == 1
    assert run(detector, [record]) == []


def test_abandoned_event_is_judged_again_with_the_same_verdict() -> None:
    # GIVEN an event whose alert could not be sent
    detector = Detector(EMPTY, MemoryState())
    first = detector.process(ssm_read("e1", ["/billing/key"]), now=0.0)
    detector.abandon(first.begun)
    # WHEN it is retried
    retry = detector.process(ssm_read("e1", ["/billing/key"]), now=1.0)
    # THEN it pages again: its own claims are not mistaken for an earlier alert
    assert [v.paged for v in retry.verdicts] == [v.paged for v in first.verdicts] == [True]


def test_ssm_then_kms_is_one_alert(sample_allowlist) -> None:
    verdicts = run(Detector(EMPTY, MemoryState()), [ssm_read("s", ["/billing/key"]), kms_decrypt("k", "/billing/key")])
    assert [v.paged for v in verdicts] == [True, False]
    assert "paired with event s, the SSM side" in verdicts[1].reason
    assert verdicts[1].held_back == 0


def test_kms_then_ssm_is_one_alert_that_confirms_securestring() -> None:
    verdicts = run(Detector(EMPTY, MemoryState()), [kms_decrypt("k", "/billing/key"), ssm_read("s", ["/billing/key"])])
    assert [v.paged for v in verdicts] == [True, False]
    assert any("SecureString" in note for note in verdicts[0].notes)
    assert "the KMS side" in verdicts[1].reason


def test_repeats_are_held_back_and_counted_in_the_next_window() -> None:
    detector = Detector(EMPTY, MemoryState(), Tuning(suppression_minutes=60))
    records = [ssm_read(f"e{i}", ["/billing/key"], time=f"2026-11-02T10:{10 + i:02d}:00Z") for i in range(4)]
    verdicts = run(detector, records)
    assert [v.paged for v in verdicts] == [True, False, False, False]
    assert all("repeat within 60 minutes of the alert for event e0" in v.reason for v in verdicts[1:])
    # 11:05 is in the next clock hour but within 60 minutes of the 10:10 alert: still a repeat
    assert not run(detector, [ssm_read("edge", ["/billing/key"], time="2026-11-02T11:05:00Z")])[0].paged
    later = run(detector, [ssm_read("next-hour", ["/billing/key"], time="2026-11-02T11:15:00Z")])
    assert later[0].paged
    assert later[0].held_back == 3
    assert "3 similar finding(s) were held back" in later[0].notes[-1]


def test_different_parameters_page_separately() -> None:
    verdicts = run(Detector(EMPTY, MemoryState()), [ssm_read("a", ["/billing/a"]), ssm_read("b", ["/billing/b"])])
    assert [v.paged for v in verdicts] == [True, True]


def bulk_reads(count: int, start_minute: int = 0, prefix: str = "/platform/p") -> list[dict]:
    return [
        ssm_read(
            f"r{start_minute}-{i}", [f"{prefix}{i}"], time=f"2026-11-02T10:{start_minute + i % 3:02d}:{i % 60:02d}Z"
        )
        for i in range(count)
    ]


def test_bulk_read_of_granted_parameters_is_high(sample_allowlist) -> None:
    # GIVEN alice, granted /platform/*, reading 21 distinct parameters in 3 minutes
    verdicts = run(Detector(sample_allowlist, MemoryState(), Tuning(bulk_threshold=20)), bulk_reads(21))
    # THEN no single read is a finding, but the sweep is
    assert [(str(v.finding.rule), str(v.finding.severity)) for v in paged(verdicts)] == [("bulk-retrieval", "high")]


def test_bulk_threshold_is_exclusive(sample_allowlist) -> None:
    verdicts = run(Detector(sample_allowlist, MemoryState(), Tuning(bulk_threshold=20)), bulk_reads(20))
    assert verdicts == []


def test_bulk_burst_across_a_window_boundary_is_caught(sample_allowlist) -> None:
    # 21 reads from 10:08 to 10:11 straddle the 10:00-10:10 boundary of one grid; the other grid holds them
    records = bulk_reads(21, start_minute=8)
    verdicts = run(
        Detector(sample_allowlist, MemoryState(), Tuning(bulk_threshold=20, bulk_window_minutes=10)), records
    )
    assert [str(v.finding.rule) for v in paged(verdicts)] == ["bulk-retrieval"]


def test_bulk_counts_the_kms_side_of_by_path_reads(sample_allowlist) -> None:
    # GetParametersByPath names no parameter; its Decrypts name each one
    by_path = ssm_read("path", ["/platform"])
    by_path["eventName"] = "GetParametersByPath"
    by_path["requestParameters"] = {"path": "/platform", "recursive": True, "withDecryption": True}
    records = [by_path] + [kms_decrypt(f"k{i}", f"/platform/p{i}") for i in range(21)]
    verdicts = run(Detector(sample_allowlist, MemoryState(), Tuning(bulk_threshold=20)), records)
    assert [str(v.finding.rule) for v in paged(verdicts)] == ["bulk-retrieval"]


def test_first_seen_pairs_after_learning(sample_allowlist) -> None:
    detector = Detector(sample_allowlist, MemoryState(), NO_LEARNING)
    verdicts = run(
        detector, [ssm_read("a", ["/platform/x"]), ssm_read("b", ["/platform/x"]), kms_decrypt("k", "/platform/x")]
    )
    assert [(str(v.finding.rule), str(v.finding.severity)) for v in verdicts] == [("first-seen", "low")]
    assert verdicts[0].finding.parameters == ("/platform/x",)


def test_first_seen_is_silent_during_learning(sample_allowlist) -> None:
    detector = Detector(sample_allowlist, MemoryState(), Tuning(learning_days=7))
    first_day = run(detector, [ssm_read("a", ["/platform/x"], time="2026-11-02T10:00:00Z")])
    after = run(
        detector,
        [
            ssm_read("b", ["/platform/x"], time="2026-11-10T10:00:00Z"),
            ssm_read("c", ["/platform/y"], time="2026-11-10T10:00:00Z"),
        ],
    )
    assert first_day == []
    assert [v.finding.parameters for v in after] == [("/platform/y",)]


def denied(i: int) -> dict:
    return ssm_read(f"d{i}", [f"/secret/{i}"], time=f"2026-11-02T10:15:{i:02d}Z", errorCode="AccessDenied")


def test_denied_burst_is_medium() -> None:
    verdicts = run(Detector(EMPTY, MemoryState(), Tuning(denied_threshold=10)), [denied(i) for i in range(10)])
    # the refused reads page once (low, per principal and window); the burst pages once (medium)
    assert Counter(str(v.finding.rule) for v in paged(verdicts)) == {"denied-attempt": 1, "denied-burst": 1}
    burst = next(v for v in paged(verdicts) if str(v.finding.rule) == "denied-burst")
    assert str(burst.finding.severity) == "medium"


def test_below_denied_threshold_no_burst() -> None:
    verdicts = run(Detector(EMPTY, MemoryState(), Tuning(denied_threshold=10)), [denied(i) for i in range(9)])
    assert "denied-burst" not in {str(v.finding.rule) for v in verdicts}


SCENARIO = (
    [ssm_read("s1", ["/billing/a", "/billing/b"]), kms_decrypt("k1", "/billing/a"), kms_decrypt("k2", "/billing/b")]
    + [ssm_read(f"rep{i}", ["/billing/a"], time=f"2026-11-02T10:2{i}:00Z") for i in range(3)]
    + bulk_reads(22)
    + [denied(i) for i in range(10)]
    + [ssm_read("dup", ["/billing/c"]), ssm_read("dup", ["/billing/c"])]
)


def alert_units(verdicts: list[Verdict]) -> Counter:
    """What pages, per (rule, severity, principal, parameter): the unit suppression works on."""
    units: Counter = Counter()
    for v in paged(verdicts):
        for unit in v.units:
            units[(str(v.finding.rule), str(v.finding.severity), v.finding.principal, unit)] += 1
    return units


@settings(max_examples=200, deadline=None)
@given(st.permutations(SCENARIO))
def test_any_order_gives_the_same_alerts(sample_allowlist, order) -> None:
    expected = alert_units(run(Detector(sample_allowlist, MemoryState(), NO_LEARNING), SCENARIO))
    assert set(expected.values()) == {1}  # every unit pages exactly once
    assert alert_units(run(Detector(sample_allowlist, MemoryState(), NO_LEARNING), list(order))) == expected


def _alice_grant(**extra) -> Allowlist:
    grant = {"name": "sync", "principals": ["arn:aws:iam::111122223333:user/alice"], "parameters": ["/platform/*"]}
    return validate({"version": 1, "grants": [{**grant, **extra}]})


def test_a_grant_carries_its_own_bulk_threshold() -> None:
    # GIVEN a nightly sync granted /platform/* with its own threshold of 30
    allowlist = _alice_grant(bulk_threshold=30)
    tuning = Tuning(bulk_threshold=20)
    # WHEN it reads 25 distinct parameters: over the global threshold, under its own
    assert run(Detector(allowlist, MemoryState(), tuning), bulk_reads(25)) == []
    # THEN 31 are over its own threshold, and the finding names the grant
    verdicts = paged(run(Detector(allowlist, MemoryState(), tuning), bulk_reads(31)))
    assert [str(v.finding.rule) for v in verdicts] == ["bulk-retrieval"]
    assert "more than 30 distinct parameters under grant 'sync'" in verdicts[0].finding.summary


def test_a_grant_threshold_uses_its_own_window() -> None:
    # 25 reads spread over 40 minutes: inside a 60-minute grant window, never 25 in 10 minutes
    allowlist = _alice_grant(bulk_threshold=24, bulk_window_minutes=60)
    records = [ssm_read(f"w{i}", [f"/platform/p{i}"], time=f"2026-11-02T10:{i + 10:02d}:00Z") for i in range(25)]
    verdicts = paged(run(Detector(allowlist, MemoryState(), Tuning(bulk_threshold=20)), records))
    assert [str(v.finding.rule) for v in verdicts] == ["bulk-retrieval"]


def test_reads_no_grant_covers_keep_the_global_threshold() -> None:
    # GIVEN the grant's own threshold of 100, and reads of parameters it does not grant
    allowlist = _alice_grant(bulk_threshold=100)
    records = [ssm_read(f"u{i}", [f"/other/p{i}"], time=f"2026-11-02T10:0{i // 10}:{i % 10:02d}Z") for i in range(21)]
    verdicts = run(Detector(allowlist, MemoryState(), Tuning(bulk_threshold=20)), records)
    # THEN the global threshold of 20 still applies to them
    assert "bulk-retrieval" in {str(v.finding.rule) for v in paged(verdicts)}


def test_a_read_two_grants_allow_counts_under_the_stricter() -> None:
    # GIVEN an office-only grant of everything with a generous threshold, listed first, and a plain
    # grant of /platform/* from anywhere (the global threshold)
    office = {"name": "office-sync", "principals": ["arn:aws:iam::111122223333:user/alice"], "parameters": ["/*"]}
    office.update(source_cidrs=["203.0.113.0/24"], bulk_threshold=500)
    plain = {"name": "plain", "principals": ["arn:aws:iam::111122223333:user/alice"], "parameters": ["/platform/*"]}
    allowlist = validate({"version": 1, "grants": [office, plain]})
    # WHEN alice's credentials sweep /platform by path from elsewhere: the by-path call is plain's,
    # and the 25 Decrypts SSM makes for it carry no network, so the office grant allows them too
    sweep = ssm_read("bp", ["/x"], sourceIPAddress="198.51.100.9")
    sweep.update(eventName="GetParametersByPath")
    sweep["requestParameters"] = {"path": "/platform", "recursive": True, "withDecryption": True}
    records = [sweep] + [kms_decrypt(f"d{i}", f"/platform/p{i}") for i in range(25)]
    verdicts = run(Detector(allowlist, MemoryState(), Tuning(bulk_threshold=20, learning_days=0)), records)
    # THEN they count under the stricter (global) threshold, never the office grant's 500
    assert "bulk-retrieval" in {str(v.finding.rule) for v in paged(verdicts)}
