"""What the detector remembers and for how long: heartbeats, by-path incidents however the path is
spelled, retries after a failed send, the learning period's end, first-seen pairs over 180 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paramwatch.allowlist import EMPTY
from paramwatch.baseline import export_pairs
from paramwatch.detector import Detector, EventInProgress, Tuning
from paramwatch.state import MemoryState
from support import CASES, NO_LEARNING, OWN, ExpiringState, kms_decrypt, load_case, run, ssm_read

DAY = 86400


@pytest.mark.parametrize("name", ["canary-heartbeat-ssm", "canary-heartbeat-kms", "canary-heartbeat-tamper"])
def test_the_canarys_calls_are_heartbeats_not_findings(name: str, sample_allowlist) -> None:
    case = load_case(next(p for p in CASES if p.stem == name))
    outcome = Detector(sample_allowlist, MemoryState(), own=OWN).process(case["record"], now=0.0)
    assert outcome.verdicts == [] and outcome.heartbeat is not None


def _by_path(event_id: str, path: str) -> dict:
    record = ssm_read(event_id, ["/unused"], eventName="GetParametersByPath")
    record["requestParameters"] = {"path": path, "recursive": True, "withDecryption": True}
    return record


@pytest.mark.parametrize(("path", "name"), [("/finance/TAX/", "/finance/TAX/db"), ("/", "/team/app/db")])
def test_a_by_path_call_and_its_decrypts_page_once_however_the_path_is_spelled(path: str, name: str) -> None:
    # GIVEN an ungranted by-path call (its path with a trailing slash, or the root) and the Decrypt SSM made
    verdicts = run(Detector(EMPTY, MemoryState(), NO_LEARNING), [_by_path("call", path), kms_decrypt("dec", name)])
    # THEN one incident pages: the call; the Decrypt joins it
    assert [v.finding.event_id for v in verdicts if v.paged] == ["call"]
    assert any(v.finding.event_id == "dec" and not v.paged for v in verdicts)


def test_an_abandoned_event_is_judged_again_when_lambda_retries_it() -> None:
    detector = Detector(EMPTY, ExpiringState(), NO_LEARNING)
    record = ssm_read("retry-1", ["/billing/key"])
    first = detector.process(record, now=0.0)
    assert first.verdicts and first.begun == "retry-1"
    # WHEN sending its alert failed and the handler abandons it
    detector.abandon(first.begun)
    # THEN the retry gets the same verdicts (an event still in progress would raise EventInProgress)
    again = detector.process(record, now=1.0)
    assert [v.finding.rule for v in again.verdicts] == [v.finding.rule for v in first.verdicts]


def _first_seen(verdicts) -> list[str]:
    return [v.finding.event_id for v in verdicts if str(v.finding.rule) == "first-seen"]


def test_learning_lasts_exactly_learning_days_from_the_earliest_event(sample_allowlist) -> None:
    # GIVEN a one-day learning period: alice reads a granted parameter, then new ones just before and
    # exactly one day after her first read
    start = datetime(2026, 11, 2, 10, 15, tzinfo=UTC)
    at = [start, start + timedelta(days=1, seconds=-1), start + timedelta(days=1)]
    records = [ssm_read(f"l-{i}", [f"/platform/p{i}"], time=t.isoformat()) for i, t in enumerate(at)]
    verdicts = run(Detector(sample_allowlist, MemoryState(), Tuning(learning_days=1)), records)
    # THEN only the read at the end of the period reports its pair
    assert _first_seen(verdicts) == ["l-2"]


def test_a_pair_is_remembered_for_180_days_after_it_is_first_seen(sample_allowlist) -> None:
    # GIVEN alice's granted read of a parameter, seen for the first time, and the same read again
    state = ExpiringState()
    detector = Detector(sample_allowlist, state, Tuning(learning_days=0))
    start = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    seen = []
    for i, days in enumerate([0, 1, 179, 181]):
        moment = start + timedelta(days=days)
        state.now = moment.timestamp()
        seen += _first_seen(run(detector, [ssm_read(f"r-{i}", ["/platform/db"], time=moment.isoformat())]))
    # THEN it is new at first, known for 180 days, and new again after that
    assert seen == ["r-0", "r-3"]


def test_the_baseline_keeps_when_each_pair_was_first_seen(sample_allowlist) -> None:
    state = MemoryState()
    run(Detector(sample_allowlist, state, NO_LEARNING), [ssm_read("b-1", ["/platform/db"])])
    assert [(p["parameter"], p["first_seen"]) for p in export_pairs(state)] == [
        ("/platform/db", "2026-11-02T10:15:00+00:00")
    ]


ALICE = "arn:aws:iam::111122223333:user/alice"
D1 = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday, 00:00 UTC


def _storms(state: ExpiringState, tuning: Tuning, reads: list[tuple[str, list[str], datetime, datetime]], grants):
    """Each read (event ID, names, event time, arrival time) in turn; the first-seen verdicts."""
    detector = Detector(grants, state, tuning)
    verdicts = []
    for event_id, names, moment, arrival in reads:
        state.now = arrival.timestamp()
        verdicts += run(detector, [ssm_read(event_id, names, time=moment.isoformat())])
    return [v for v in verdicts if str(v.finding.rule) == "first-seen"]


def test_a_first_seen_storm_names_only_the_new_parameters_and_what_it_counted(sample_allowlist) -> None:
    # GIVEN storm_pairs 1, and alice (no history) reading one platform secret, then it and a second
    state = ExpiringState()
    t0, t1, t2 = (D1 + timedelta(hours=h) for h in (10, 11, 12))
    reads = [("r0", ["/platform/a"], t0, t0), ("r1", ["/platform/a", "/platform/b"], t1, t1)]
    reads.append(("r2", ["/platform/c"], t2, t2))
    seen = _storms(state, Tuning(learning_days=0, storm_pairs=1), reads, sample_allowlist)
    # THEN the second new pair of the day exceeds max(1, 2 x 0 known before): one high alert for it
    storm = next(v for v in seen if str(v.finding.severity) == "high")
    assert storm.finding.event_id == "r1" and storm.finding.parameters == ("/platform/b",)
    assert storm.finding.summary == (
        f"[first-seen] IAMUser {ALICE} read 1 parameter(s) it had never read before. It read 2 new "
        "parameter(s) today (UTC) against 0 known before: a slow sweep."
    )
    # and the day's later new pair joins it
    later = next(v for v in seen if v.finding.event_id == "r2")
    assert str(later.finding.severity) == "low" and later.reason == "part of the first-seen storm paged for event r1"


# D1, and 1969-12-31 (negative epoch seconds, on either side of 1970-01-01)
@pytest.mark.parametrize("start", [D1, datetime(1969, 12, 31, tzinfo=UTC)], ids=["2026", "1969"])
def test_each_utc_day_has_its_own_count_and_storm(start: datetime, sample_allowlist) -> None:
    # GIVEN storm_pairs 1 and no ratio: two new pairs make a storm; two on each of two days
    reads = []
    for day in (0, 1):
        for i in (0, 1):
            at = start + timedelta(days=day, hours=10 + i)
            reads.append((f"d{day}-{i}", [f"/platform/d{day}-{i}"], at, at))
    seen = _storms(ExpiringState(), Tuning(learning_days=0, storm_pairs=1, storm_ratio=0), reads, sample_allowlist)
    # THEN each day's second read is that day's storm
    assert [v.finding.event_id for v in seen if str(v.finding.severity) == "high"] == ["d0-1", "d1-1"]


@pytest.mark.parametrize(("late", "storm"), [(timedelta(days=2, seconds=-1), True), (timedelta(days=2), False)])
def test_a_days_count_is_kept_until_the_end_of_the_next_utc_day(late: timedelta, storm: bool, sample_allowlist) -> None:
    # GIVEN one new pair on day 1, and a second one of day 1 delivered late: before, or at, the end of day 2
    reads = [
        ("early", ["/platform/a"], D1 + timedelta(hours=10), D1 + timedelta(hours=10)),
        ("late", ["/platform/b"], D1 + timedelta(hours=11), D1 + late),
    ]
    seen = _storms(ExpiringState(), Tuning(learning_days=0, storm_pairs=1, storm_ratio=0), reads, sample_allowlist)
    # THEN it still counts towards day 1's storm until day 2 ends
    assert ("late" in [v.finding.event_id for v in seen if str(v.finding.severity) == "high"]) is storm


@pytest.mark.parametrize(("late", "joins"), [(timedelta(days=2, seconds=-1), True), (timedelta(days=2), False)])
def test_a_days_storm_is_kept_until_the_end_of_the_next_utc_day(late: timedelta, joins: bool, sample_allowlist) -> None:
    # GIVEN day 1's storm, and a third new pair of day 1 delivered late
    at = [D1 + timedelta(hours=h) for h in (10, 11, 12)]
    reads = [("s0", ["/platform/a"], at[0], at[0]), ("s1", ["/platform/b"], at[1], at[1])]
    reads.append(("s2", ["/platform/c"], at[2], D1 + late))
    seen = _storms(ExpiringState(), Tuning(learning_days=0, storm_pairs=1, storm_ratio=0), reads, sample_allowlist)
    # THEN it joins the storm until day 2 ends (after that the storm is forgotten and it pages alone)
    late_verdict = next(v for v in seen if v.finding.event_id == "s2")
    assert (late_verdict.reason == "part of the first-seen storm paged for event s1") is joins


@pytest.mark.parametrize("order", ["call first", "decrypt first"])
def test_a_read_and_its_decrypt_across_a_window_edge_page_once(order: str) -> None:
    # GIVEN an ungranted read stamped at the first second of a suppression window and the Decrypt SSM
    # made for it stamped one second earlier, in the window before, delivered in either order
    call = ssm_read("edge-call", ["/billing/key"], time="2026-11-02T11:00:00Z")
    decrypt = kms_decrypt("edge-dec", "/billing/key", time="2026-11-02T10:59:59Z")
    records = [call, decrypt] if order == "call first" else [decrypt, call]
    verdicts = run(Detector(EMPTY, MemoryState(), NO_LEARNING), records)
    # THEN they are one read: one page
    assert sum(v.paged for v in verdicts) == 1


def test_a_pair_that_joined_the_storm_does_not_hold_back_the_next_days_first_seen_page(sample_allowlist) -> None:
    # GIVEN 7-minute suppression windows (one spans midnight: 23:56 to 00:03), day 1's storm, a
    # new pair at 23:58 that joins it, and the first new pair of day 2 at 00:01
    tuning = Tuning(learning_days=0, storm_pairs=1, storm_ratio=0, suppression_minutes=7)
    at = [D1 + timedelta(hours=10), D1 + timedelta(hours=11), D1 + timedelta(hours=23, minutes=58)]
    at.append(D1 + timedelta(days=1, minutes=1))
    reads = [(f"n{i}", [f"/platform/n{i}"], t, t) for i, t in enumerate(at)]
    seen = {v.finding.event_id: v for v in _storms(ExpiringState(), tuning, reads, sample_allowlist)}
    # THEN the pair that joined the storm paged nothing, so day 2's first new pair pages
    assert seen["n2"].reason == "part of the first-seen storm paged for event n1"
    assert seen["n3"].paged and str(seen["n3"].finding.severity) == "low"


def test_a_storm_raised_again_after_its_day_was_forgotten_is_a_repeat_of_the_first(sample_allowlist) -> None:
    # GIVEN day-long suppression, day 1's storm, and two more new pairs of day 1 delivered once
    # day 1's count and storm are forgotten (after day 2): they make a storm of their own
    tuning = Tuning(learning_days=0, storm_pairs=1, storm_ratio=0, suppression_minutes=1440)
    at = [D1 + timedelta(hours=h) for h in (10, 11, 12)]
    reads = [("s0", ["/platform/a"], at[0], at[0]), ("s1", ["/platform/b"], at[1], at[1])]
    reads.append(("late", ["/platform/c", "/platform/d"], at[2], D1 + timedelta(days=2)))
    seen = [v for v in _storms(ExpiringState(), tuning, reads, sample_allowlist) if str(v.finding.severity) == "high"]
    # THEN the second storm does not page within the suppression window of the first, and says so
    assert [(v.finding.event_id, v.paged) for v in seen] == [("s1", True), ("late", False)]
    assert seen[1].reason == "repeat within 1440 minutes of the alert for event s1"


def _deliver(detector: Detector, state: ExpiringState, records: list[tuple[dict, datetime]]) -> dict[str, list]:
    """Each record at its arrival time (the state forgets what expired by then); verdicts by event."""
    out: dict[str, list] = {}
    for record, arrival in records:
        state.now = arrival.timestamp()
        for verdict in run(detector, [record]):
            out.setdefault(verdict.finding.event_id, []).append(verdict)
    return out


def _at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-02T{clock}+00:00")


def _by_path(event_id: str, path: str, time: str = "2026-11-02T10:15:00Z") -> dict:
    record = ssm_read(event_id, ["/unused"], eventName="GetParametersByPath", time=time)
    record["requestParameters"] = {"path": path, "recursive": True, "withDecryption": True}
    return record


# What an incident leaves behind for a later event of the next window, with 60-minute windows: the
# page of an SSM call, the page of a Decrypt SSM made (which arrived first), a by-path call's page.
FIRSTS = {
    "ssm call": ssm_read("first", ["/billing/key"], time="2026-11-02T10:50:00Z"),
    "decrypt": kms_decrypt("first", "/billing/key", time="2026-11-02T10:50:00Z"),
    "by-path call": _by_path("first", "/billing", time="2026-11-02T10:50:00Z"),
}
LATERS = {
    "ssm call": ssm_read("later", ["/billing/key"], time="2026-11-02T11:10:00Z"),
    "decrypt": ssm_read("later", ["/billing/key"], time="2026-11-02T11:10:00Z"),
    "by-path call": kms_decrypt("later", "/billing/key", time="2026-11-02T11:10:00Z"),
}


@pytest.mark.parametrize("first", list(FIRSTS))
@pytest.mark.parametrize(("arrival", "remembered"), [("12:59:59", True), ("13:00:00", False)])
def test_a_page_is_remembered_until_the_end_of_the_window_after_next(
    first: str, arrival: str, remembered: bool
) -> None:
    # GIVEN an ungranted read that pages at 10:50 (window 10:00-11:00), and a read of the same
    # secret at 11:10 (20 minutes later: the same incident) delivered late, at 12:59:59 or 13:00
    state = ExpiringState()
    detector = Detector(EMPTY, state, NO_LEARNING)
    seen = _deliver(detector, state, [(FIRSTS[first], _at("10:50:00")), (LATERS[first], _at(arrival))])
    # THEN until 13:00 (two windows after the page's own) the later read joins the page; from then on
    # the page is forgotten (the state table's TTL) and the later read pages on its own
    assert seen["first"][0].paged
    assert [v.paged for v in seen["later"]] == [not remembered]


@pytest.mark.parametrize(("arrival", "counted"), [("13:59:59", 1), ("14:00:00", 0)])
def test_a_held_back_repeat_is_counted_until_the_end_of_the_window_after_the_next_page(
    arrival: str, counted: int
) -> None:
    # GIVEN a page at 10:15, a repeat at 10:30 (held back), and the next page at 11:20 delivered late
    state = ExpiringState()
    detector = Detector(EMPTY, state, NO_LEARNING)
    reads = [ssm_read(e, ["/billing/key"], time=f"2026-11-02T{t}Z") for e, t in [("a", "10:15:00"), ("b", "10:30:00")]]
    records = [(reads[0], _at("10:15:00")), (reads[1], _at("10:30:00"))]
    records.append((ssm_read("c", ["/billing/key"], time="2026-11-02T11:20:00Z"), _at(arrival)))
    seen = _deliver(detector, state, records)
    # THEN the next page counts the repeat while the count is kept (until 14:00)
    assert seen["c"][0].paged and seen["c"][0].held_back == counted


def _case(name: str) -> dict:
    return load_case(next(p for p in CASES if p.stem == name))["record"]


def test_a_record_no_rule_family_wants_gives_an_empty_outcome() -> None:
    outcome = Detector(EMPTY, ExpiringState(), NO_LEARNING).process(_case("describe-parameters"), now=0.0)
    assert outcome.verdicts == [] and outcome.begun is None


def test_a_record_that_cannot_be_judged_pages() -> None:
    (verdict,) = Detector(EMPTY, ExpiringState(), NO_LEARNING).process({"eventID": 7}, now=0.0).verdicts
    assert str(verdict.finding.rule) == "invalid-event" and verdict.paged


def test_each_tamper_event_is_judged_once_and_carries_its_change() -> None:
    detector = Detector(EMPTY, ExpiringState(), NO_LEARNING, own=OWN)
    stop, delete = _case("tamper-trail-stop-logging"), _case("tamper-trail-delete")
    outcomes = []
    for record in (stop, delete, stop):
        outcomes.append(detector.process(record, now=0.0))
        if outcomes[-1].begun:
            detector.finish(outcomes[-1].begun)
    # THEN two distinct events give a verdict each, with the change that blinds; the redelivery none
    assert [len(o.verdicts) for o in outcomes] == [1, 1, 0]
    assert outcomes[0].change is not None and outcomes[0].change.by_deploy is False


def test_an_event_in_progress_is_busy_until_its_lease_ends() -> None:
    # GIVEN an event begun at 10:15 by an invocation that then died (neither finished nor abandoned)
    state = ExpiringState()
    detector = Detector(EMPTY, state, NO_LEARNING)
    record = ssm_read("lost", ["/billing/key"])
    start = datetime(2026, 11, 2, 10, 15, tzinfo=UTC).timestamp()
    assert detector.process(record, now=start).begun == "lost"
    # THEN another invocation is told it is busy (naming it) while the lease lasts, and takes it over after
    with pytest.raises(EventInProgress, match="event lost is being processed by another invocation"):
        detector.process(record, now=start + state.lease - 1)
    assert detector.process(record, now=start + state.lease).begun == "lost"


@pytest.mark.parametrize(("later", "judged"), [(timedelta(hours=24, seconds=-1), False), (timedelta(hours=24), True)])
def test_an_event_id_is_remembered_for_dedup_hours(later: timedelta, judged: bool) -> None:
    # GIVEN an event handled at 10:15, delivered again 24 hours (DedupHours) later or a second before
    state = ExpiringState()
    detector = Detector(EMPTY, state, NO_LEARNING)
    record = ssm_read("again", ["/billing/key"])
    start = datetime(2026, 11, 2, 10, 15, tzinfo=UTC)
    detector.finish(detector.process(record, now=start.timestamp()).begun)
    state.now = (start + later).timestamp()
    # THEN it is a redelivery while remembered, and judged afresh once forgotten
    assert bool(detector.process(record, now=state.now).verdicts) is judged


def test_a_storm_counts_every_new_pair_of_the_read_that_raised_it(sample_allowlist) -> None:
    # GIVEN storm_pairs 1 and no ratio, and alice's first read: three parameters she never read
    reads = [("r0", ["/platform/a", "/platform/b", "/platform/c"], D1 + timedelta(hours=10), D1 + timedelta(hours=10))]
    (storm,) = _storms(ExpiringState(), Tuning(learning_days=0, storm_pairs=1, storm_ratio=0), reads, sample_allowlist)
    # THEN the high alert counts all three (a day's count keeps room for a whole read past the limit)
    assert str(storm.finding.severity) == "high"
    assert "It read 3 new parameter(s) today (UTC) against 0 known before" in storm.finding.summary


def test_a_tamper_record_whose_time_cannot_be_read_still_pages() -> None:
    # GIVEN StopLogging on the trail with an eventTime no parser reads (CloudTrail text is not trusted)
    record = {**_case("tamper-trail-stop-logging"), "eventTime": "garbage"}
    (verdict,) = Detector(EMPTY, ExpiringState(), NO_LEARNING, own=OWN).process(record, now=0.0).verdicts
    # THEN it is judged and pages: a change that blinds paramwatch is never dropped
    assert str(verdict.finding.rule) == "tamper" and verdict.paged
