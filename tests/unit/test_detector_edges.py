"""The detector's promises at their edges: the pairing tolerance, window edges between the parts of
one incident, what a bulk alert names, account names on tamper alerts, what first-seen names.
Pure detector against the in-memory state (data in, verdicts out).

Record shapes as in test_incidents.py: `GetParametersByPath` with `path`, `recursive` and
`withDecryption` in `requestParameters` (SSM API reference), and the Decrypt SSM makes for each
SecureString, whose `encryptionContext.PARAMETER_ARN` names it and whose `invokedBy` is
`AWS Internal` (the Invictus Stratus Red Team trail).
"""

from __future__ import annotations

import pytest

from paramwatch.allowlist import EMPTY, validate
from paramwatch.detector import Detector, Tuning, Verdict
from paramwatch.escape import safe
from paramwatch.state import MemoryState
from support import CASES, NO_LEARNING, OWN, kms_decrypt, load_case, run, ssm_read

DAY = "2026-11-02T"


def by_path(event_id: str, path: str, time: str) -> dict:
    record = ssm_read(event_id, [path], time=time)
    record["eventName"] = "GetParametersByPath"
    record["requestParameters"] = {"path": path, "recursive": True, "withDecryption": True}
    return record


def _by_event(verdicts: list[Verdict]) -> dict[str, Verdict]:
    return {v.finding.event_id: v for v in verdicts}


@pytest.mark.parametrize(("seconds", "label"), [(2, "paired with event s, the SSM side"), (3, "repeat within 60")])
def test_a_decrypt_is_labelled_paired_up_to_two_seconds_from_its_call(seconds: int, label: str) -> None:
    # GIVEN an ungranted read and the Decrypt SSM made for it, 2 s (the pairing tolerance) or 3 s later
    records = [ssm_read("s", ["/billing/key"], time=f"{DAY}10:15:00Z")]
    records.append(kms_decrypt("k", "/billing/key", time=f"{DAY}10:15:{seconds:02d}Z"))
    verdicts = _by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), records))
    # THEN the Decrypt does not page either way; only within the tolerance is it called the same read
    assert verdicts["s"].paged and not verdicts["k"].paged
    assert verdicts["k"].reason.startswith(label)


@pytest.mark.parametrize("order", ["call first", "decrypt first"])
@pytest.mark.parametrize(("call_at", "decrypt_at"), [("10:59:59", "11:00:01"), ("11:00:01", "10:59:59")])
def test_a_by_path_call_and_its_decrypt_across_a_window_edge_page_once(
    call_at: str, decrypt_at: str, order: str
) -> None:
    # GIVEN an ungranted by-path call and the Decrypt SSM made for a parameter under its path, 2 s
    # apart on either side of 11:00:00 (a suppression window's edge), delivered in either order
    records = [by_path("call", "/prod", f"{DAY}{call_at}Z"), kms_decrypt("dec", "/prod/app/db", f"{DAY}{decrypt_at}Z")]
    verdicts = run(Detector(EMPTY, MemoryState(), NO_LEARNING), records if order == "call first" else records[::-1])
    # THEN they are one incident: one page
    assert sum(v.paged for v in verdicts) == 1


@pytest.mark.parametrize(("decrypt_at", "joins"), [("10:59:59", True), ("11:00:00", False)])
def test_a_decrypt_joins_the_sweep_of_a_call_less_than_suppression_minutes_before_it(
    decrypt_at: str, joins: bool
) -> None:
    # GIVEN an ungranted by-path call at 10:00:00, and a Decrypt SSM made for a parameter under its
    # path 59:59 or exactly 60 minutes (SuppressionMinutes) later
    records = [by_path("call", "/prod", f"{DAY}10:00:00Z"), kms_decrypt("dec", "/prod/app/db", f"{DAY}{decrypt_at}Z")]
    verdicts = _by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), records))
    # THEN it joins the sweep while less than the window away, and is a read of its own after that
    assert verdicts["dec"].paged is not joins
    assert (verdicts["dec"].reason or "").startswith("part of the by-path sweep of event call") is joins


def _bulk(verdicts: list[Verdict]) -> Verdict:
    (bulk,) = [v for v in verdicts if str(v.finding.rule) == "bulk-retrieval"]
    return bulk


def test_a_bulk_alert_names_the_read_that_crossed_the_threshold(sample_allowlist) -> None:
    # GIVEN alice reads the same 10 granted names in two regions (20 distinct secrets: a name is
    # another secret in another region), then one more name: the 21st, over the threshold of 20
    names = [f"/platform/p{i}" for i in range(10)]
    records = [
        ssm_read("east", names, time=f"{DAY}10:15:00Z"),
        ssm_read("west", names, time=f"{DAY}10:15:01Z", awsRegion="eu-west-1"),
        ssm_read("more", ["/platform/x"], time=f"{DAY}10:15:02Z"),
    ]
    bulk = _bulk(run(Detector(sample_allowlist, MemoryState(), NO_LEARNING, report_first_seen=False), records))
    # THEN the alert counts 21 and lists every name it saw, the one that crossed included
    assert bulk.finding.event_id == "more" and bulk.finding.parameter_count == 21
    assert bulk.finding.parameters == (*names, "/platform/x")


def test_a_kms_side_bulk_alert_names_the_first_ssm_call_even_after_an_earlier_decrypt(sample_allowlist) -> None:
    # GIVEN a burst whose first event is a Decrypt SSM made, then 19 SSM calls, then the Decrypt that
    # takes the window over the threshold
    records = [kms_decrypt("d0", "/platform/p0", time=f"{DAY}10:15:00Z")]
    records += [ssm_read(f"s{i}", [f"/platform/p{i}"], time=f"{DAY}10:15:{i:02d}Z") for i in range(1, 20)]
    records.append(kms_decrypt("d20", "/platform/p20", time=f"{DAY}10:15:30Z"))
    bulk = _bulk(run(Detector(sample_allowlist, MemoryState(), NO_LEARNING, report_first_seen=False), records))
    # THEN the alert's SSM call is the first SSM call of the window (a Decrypt's address is "AWS Internal")
    assert bulk.finding.event_id == "d20"
    assert (bulk.finding.ssm_caller.event_id, bulk.finding.ssm_caller.source_ip) == ("s1", "203.0.113.5")


@pytest.mark.parametrize(("accounts", "name"), [({"111122223333": "payments-prod"}, "payments-prod"), ({}, None)])
def test_a_tamper_alert_carries_the_account_name_the_allowlist_gives(accounts: dict, name: str | None) -> None:
    allowlist = validate({"version": 1, "accounts": accounts})
    record = load_case(next(p for p in CASES if p.stem == "tamper-trail-stop-logging"))
    (verdict,) = Detector(allowlist, MemoryState(), own=OWN).process(record["record"], now=0.0).verdicts
    assert verdict.finding.account == "111122223333" and verdict.finding.account_name == name


def test_a_first_seen_alert_names_only_the_parameters_new_to_the_principal(sample_allowlist) -> None:
    # GIVEN alice read /platform/a before, and now reads it with /platform/b
    records = [ssm_read("r0", ["/platform/a"], time=f"{DAY}10:00:00Z")]
    records.append(ssm_read("r1", ["/platform/a", "/platform/b"], time=f"{DAY}12:00:00Z"))
    verdicts = _by_event(run(Detector(sample_allowlist, MemoryState(), Tuning(learning_days=0)), records))
    # THEN the second alert names /platform/b only
    assert verdicts["r1"].paged and verdicts["r1"].finding.parameters == ("/platform/b",)


def test_a_decrypt_is_paired_with_its_own_call_even_when_that_call_was_a_repeat() -> None:
    # GIVEN an ungranted read that pages at 10:50, and at 11:10 (in the next window, less than 60
    # minutes later) the same read again with the Decrypt SSM made for it
    records = [ssm_read("s1", ["/billing/key"], time=f"{DAY}10:50:00Z")]
    records += [
        ssm_read("s2", ["/billing/key"], time=f"{DAY}11:10:00Z"),
        kms_decrypt("k2", "/billing/key", f"{DAY}11:10:00Z"),
    ]
    verdicts = _by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), records))
    # THEN the second read is a repeat, and its Decrypt is the other side of that read, not a repeat of s1
    assert verdicts["s2"].reason == "repeat within 60 minutes of the alert for event s1"
    assert verdicts["k2"].reason == "paired with event s2, the SSM side of the same read"


def test_a_repeated_bulk_finding_names_the_event_whose_alert_it_repeats(sample_allowlist) -> None:
    # GIVEN two bursts of 21 distinct reads by alice, 30 minutes apart (two bulk windows, one suppression window)
    records = [ssm_read(f"a{i}", [f"/platform/a{i}"], time=f"{DAY}10:00:{i:02d}Z") for i in range(21)]
    records += [ssm_read(f"b{i}", [f"/platform/b{i}"], time=f"{DAY}10:30:{i:02d}Z") for i in range(21)]
    verdicts = run(Detector(sample_allowlist, MemoryState(), NO_LEARNING, report_first_seen=False), records)
    first, second = [v for v in verdicts if str(v.finding.rule) == "bulk-retrieval"]
    # THEN the second does not page, and its reason names the event of the first
    assert first.paged and first.finding.event_id == "a20"
    assert second.reason == "repeat within 60 minutes of the alert for event a20"


LONG = "e" * 100  # CloudTrail text is attacker-controlled: a crafted record may carry any eventID


def test_a_reason_quotes_at_most_64_characters_of_the_event_it_names(sample_allowlist) -> None:
    shown = safe(LONG, 64)
    assert shown == "e" * 64 + "...(cut)"
    # a repeat of a read
    repeat = run(
        Detector(EMPTY, MemoryState(), NO_LEARNING), [ssm_read(LONG, ["/billing/key"]), ssm_read("r", ["/billing/key"])]
    )
    assert repeat[1].reason == f"repeat within 60 minutes of the alert for event {shown}"
    # a Decrypt that is part of a by-path call
    part = run(
        Detector(EMPTY, MemoryState(), NO_LEARNING),
        [by_path(LONG, "/prod", f"{DAY}10:15:00Z"), kms_decrypt("d", "/prod/db")],
    )
    assert part[1].reason == f"part of GetParametersByPath event {shown}, which pages for its path"
    # a first-seen pair that joins the day's storm
    tuning = Tuning(learning_days=0, storm_pairs=1, storm_ratio=0)
    events = ["a", LONG, "c"]
    records = [ssm_read(event, [f"/platform/{i}"], time=f"{DAY}1{i}:00:00Z") for i, event in enumerate(events)]
    storm = _by_event(run(Detector(sample_allowlist, MemoryState(), tuning), records))
    assert storm["c"].reason == f"part of the first-seen storm paged for event {shown}"


def test_a_page_names_what_it_pages_for(sample_allowlist) -> None:
    # `paged_for` in the JSON: the parameters of a read, or "*" (the principal as a whole) for
    # refused reads, bulk and first-seen findings
    refused = ssm_read("refused", ["/billing/key"], errorCode="AccessDenied")
    (denied,) = run(Detector(EMPTY, MemoryState(), NO_LEARNING), [refused])
    assert denied.paged and denied.to_dict()["paged_for"] == ["*"]
    (read,) = run(Detector(EMPTY, MemoryState(), NO_LEARNING), [ssm_read("read", ["/billing/key"])])
    assert read.to_dict()["paged_for"] == ["/billing/key"]
    (seen,) = run(Detector(sample_allowlist, MemoryState(), NO_LEARNING), [ssm_read("seen", ["/platform/a"])])
    assert str(seen.finding.rule) == "first-seen" and seen.to_dict()["paged_for"] == ["*"]
