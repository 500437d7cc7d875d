"""The detector's promises at their edges: the pairing tolerance, window edges between the parts of
one incident, what a bulk alert names, account names on tamper alerts, what first-seen names.
Pure detector against the in-memory state (data in, verdicts out).

Record shapes as in test_incidents.py: `GetParametersByPath` with `path`, `recursive` and
`withDecryption` in `requestParameters` (SSM API reference), and the Decrypt SSM makes for each
SecureString, whose `encryptionContext.PARAMETER_ARN` names it and whose `invokedBy` is
`AWS Internal` (the Invictus Stratus Red Team trail).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from paramwatch.allowlist import EMPTY, validate
from paramwatch.detector import Detector, Tuning, Verdict
from paramwatch.escape import safe
from paramwatch.state import MemoryState
from support import CASES, NO_LEARNING, OWN, ExpiringState, by_event, by_path, kms_decrypt, load_case, run, ssm_read

DAY = "2026-11-02T"


@pytest.mark.parametrize(("seconds", "label"), [(2, "paired with event s, the SSM side"), (3, "repeat within 60")])
def test_a_decrypt_is_labelled_paired_up_to_two_seconds_from_its_call(seconds: int, label: str) -> None:
    # GIVEN an ungranted read and the Decrypt SSM made for it, 2 s (the pairing tolerance) or 3 s later
    records = [ssm_read("s", ["/billing/key"], time=f"{DAY}10:15:00Z")]
    records.append(kms_decrypt("k", "/billing/key", time=f"{DAY}10:15:{seconds:02d}Z"))
    verdicts = by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), records))
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
    verdicts = by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), records))
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
    verdicts = by_event(run(Detector(sample_allowlist, MemoryState(), Tuning(learning_days=0)), records))
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
    verdicts = by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), records))
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


SECURESTRING = "The KMS Decrypt SSM made confirms the parameter is a SecureString."
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
    storm = by_event(run(Detector(sample_allowlist, MemoryState(), tuning), records))
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
    records = [ssm_read(f"b{i}", [f"/platform/b{i}"], time=f"{DAY}10:15:{i:02d}Z") for i in range(21)]
    detector = Detector(sample_allowlist, MemoryState(), NO_LEARNING, report_first_seen=False)
    (bulk,) = [v for v in run(detector, records) if str(v.finding.rule) == "bulk-retrieval"]
    assert bulk.paged and bulk.to_dict()["paged_for"] == ["*"]
    # a read that names no parameter CloudTrail shows (a hidden name) pages for the principal too
    hidden = load_case(next(p for p in CASES if p.stem == "hidden-name"))["record"]
    (unjudgeable,) = run(Detector(EMPTY, MemoryState(), NO_LEARNING), [hidden])
    assert unjudgeable.finding.parameters == () and unjudgeable.to_dict()["paged_for"] == ["*"]


@pytest.mark.parametrize("order", ["ssm first", "decrypt first", "decrypt first, then ssm first"])
def test_a_held_back_read_is_counted_once_whichever_side_arrives_first(order: str) -> None:
    # GIVEN an ungranted read at 10:15 that pages, the same read at 10:30 (held back) and at 11:20
    # (the next page), each an SSM call with the Decrypt SSM made for it, delivered in either order
    records = []
    for i, clock in enumerate(["10:15:00", "10:30:00", "11:20:00"]):
        pair = [
            ssm_read(f"s{i}", ["/billing/key"], time=f"{DAY}{clock}Z"),
            kms_decrypt(f"k{i}", "/billing/key", f"{DAY}{clock}Z"),
        ]
        ssm_first = order == "ssm first" or (order != "decrypt first" and i > 0)
        records += pair if ssm_first else pair[::-1]
    verdicts = run(Detector(EMPTY, MemoryState(), NO_LEARNING), records)
    # THEN the next page, whichever side it is, counts one read held back (not the other side of
    # the first page, and not the held read twice), next to the note a Decrypt's page carries
    (first, nxt) = [v for v in verdicts if v.paged]
    assert first.finding.event_time < nxt.finding.event_time
    held = "1 similar finding(s) were held back in the previous window."
    assert nxt.held_back == 1
    assert nxt.notes == ((SECURESTRING, held) if nxt.finding.event_name == "Decrypt" else (held,))


def test_a_second_decrypt_of_a_parameter_is_a_repeat_not_the_other_side_of_a_read() -> None:
    # GIVEN two Decrypts SSM made for the same parameter 1 s apart, their SSM calls not delivered
    records = [
        kms_decrypt("k1", "/billing/key", f"{DAY}10:15:00Z"),
        kms_decrypt("k2", "/billing/key", f"{DAY}10:15:01Z"),
    ]
    verdicts = by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), records))
    # THEN the second is a repeat of the first (two Decrypts are never the two sides of one read)
    assert verdicts["k1"].paged
    assert verdicts["k2"].reason == "repeat within 60 minutes of the alert for event k1"


def test_a_decrypt_is_a_repeat_of_a_page_taken_late_in_the_previous_window() -> None:
    # GIVEN a read that pages at 09:59:00, repeats at 10:00:30 (the first of the 10:00 window, held
    # back) and at 10:59:30 (a whole window after the page: it pages again, late in the 10:00
    # window), and a Decrypt SSM made for the same parameter at 11:00:31, 61 s after that page
    times = ["09:59:00", "10:00:30", "10:59:30"]
    records = [ssm_read(f"s{i}", ["/billing/key"], time=f"{DAY}{clock}Z") for i, clock in enumerate(times)]
    records.append(kms_decrypt("k", "/billing/key", f"{DAY}11:00:31Z"))
    verdicts = by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), records))
    # THEN the read pages at 09:59:00 and 10:59:30, and the Decrypt is a repeat of the latter
    assert [e for e, v in verdicts.items() if v.paged] == ["s0", "s2"]
    assert verdicts["k"].reason == "repeat within 60 minutes of the alert for event s2"


def test_a_decrypt_that_does_not_page_keeps_its_note() -> None:
    # GIVEN an ungranted read and its Decrypt, and a by-path call and a Decrypt SSM made for it
    pair = [ssm_read("s", ["/billing/key"]), kms_decrypt("k", "/billing/key")]
    sweep = [by_path("call", "/prod", f"{DAY}10:15:00Z"), kms_decrypt("d", "/prod/db")]
    verdicts = by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), pair + sweep))
    # THEN each Decrypt joins the other side's page, and still says what it confirms
    assert not verdicts["k"].paged and verdicts["k"].notes == (SECURESTRING,)
    assert not verdicts["d"].paged and verdicts["d"].notes == (SECURESTRING,)
    # and so does a Decrypt of another parameter within the window of a Decrypt's page
    alone = [kms_decrypt("x", "/billing/x"), kms_decrypt("y", "/billing/y")]
    verdicts = by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), alone))
    assert verdicts["x"].paged and not verdicts["y"].paged and verdicts["y"].notes == (SECURESTRING,)


def test_the_incident_index_keeps_room_for_a_by_path_call_after_many_decrypts() -> None:
    # GIVEN 70 Decrypts SSM made for 70 ungranted parameters (their SSM calls not delivered: the
    # first pages, the rest are repeats of it), then a by-path call and a Decrypt SSM made for it
    records = [kms_decrypt(f"k{i}", f"/many/p{i}", f"{DAY}10:15:{i % 60:02d}Z") for i in range(70)]
    records += [by_path("call", "/prod", f"{DAY}10:20:00Z"), kms_decrypt("d", "/prod/db", f"{DAY}10:20:01Z")]
    verdicts = by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), records))
    # THEN the Decrypt is part of its call (the repeats took no room in the call's index)
    assert verdicts["d"].reason == "part of GetParametersByPath event call, which pages for its path"


def test_every_kms_side_bulk_alert_names_the_first_ssm_call_of_its_window(sample_allowlist) -> None:
    # GIVEN 16 bursts an hour apart, each: 20 SSM calls, then the Decrypt that takes it over 20
    records = []
    for hour in range(16):
        at = f"2026-11-03T{hour:02d}:15"
        records += [ssm_read(f"s{hour}-{i}", [f"/platform/h{hour}/p{i}"], time=f"{at}:{i:02d}Z") for i in range(20)]
        records.append(kms_decrypt(f"d{hour}", f"/platform/h{hour}/p20", time=f"{at}:30Z"))
    verdicts = run(Detector(sample_allowlist, MemoryState(), NO_LEARNING, report_first_seen=False), records)
    bulks = [v.finding for v in verdicts if str(v.finding.rule) == "bulk-retrieval"]
    # THEN each names its window's first SSM call: a window keeps one caller, not a set to pick from
    assert [(f.event_id, f.ssm_caller.event_id) for f in bulks] == [(f"d{h}", f"s{h}-0") for h in range(16)]


def test_a_repeat_names_the_alert_it_repeats_not_an_earlier_repeat() -> None:
    # GIVEN a read that pages at 10:50, repeats at 11:10 (next window) and at 11:40
    times = ["10:50:00", "11:10:00", "11:40:00"]
    records = [ssm_read(f"s{i}", ["/billing/key"], time=f"{DAY}{clock}Z") for i, clock in enumerate(times)]
    verdicts = run(Detector(EMPTY, MemoryState(), NO_LEARNING), records)
    # THEN both repeats name the page at 10:50
    assert [v.paged for v in verdicts] == [True, False, False]
    assert verdicts[2].reason == verdicts[1].reason == "repeat within 60 minutes of the alert for event s0"


@pytest.mark.parametrize("order", ["decrypt first", "call first"])
def test_a_by_path_call_near_a_decrypt_that_paged_and_a_later_call_are_one_incident(order: str) -> None:
    # GIVEN a Decrypt SSM made for /prod/db at 09:59:30 and a by-path call of /prod at 10:00:10
    # (one incident, in either order), and another call of /prod at 10:59:40, 60:10 after the Decrypt
    pair = [kms_decrypt("k", "/prod/db", f"{DAY}09:59:30Z"), by_path("c1", "/prod", f"{DAY}10:00:10Z")]
    records = (pair if order == "decrypt first" else pair[::-1]) + [by_path("c2", "/prod", f"{DAY}10:59:40Z")]
    verdicts = by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), records))
    # THEN whichever half arrived first pages, and the later call repeats the first call (less than
    # 60 minutes before it), which is part of that incident: one page either way
    assert sum(v.paged for v in verdicts.values()) == 1
    assert verdicts["c2"].reason == "repeat within 60 minutes of the alert for event c1"


def test_a_retried_repeat_stays_a_repeat_after_the_page_it_repeated_is_forgotten() -> None:
    # GIVEN a page at 10:50 and a repeat at 11:10 whose invocation failed after judging it
    state = ExpiringState()
    detector = Detector(EMPTY, state, NO_LEARNING)
    run(detector, [ssm_read("page", ["/billing/key"], time=f"{DAY}10:50:00Z")])
    repeat = ssm_read("repeat", ["/billing/key"], time=f"{DAY}11:10:00Z")
    first = detector.process(repeat, now=0.0)
    detector.abandon(first.begun)
    # WHEN Lambda retries it at 13:00, when the page is forgotten but the repeat's own decision is not
    state.now = datetime.fromisoformat(f"{DAY}13:00:00+00:00").timestamp()
    (again,) = detector.process(repeat, now=1.0).verdicts
    # THEN it is still a repeat (its earlier decision stands), though the page it named is gone
    assert not first.verdicts[0].paged and not again.paged
    assert again.reason == "repeat of an earlier alert"


def test_a_reencrypt_ssm_made_is_placed_under_the_first_parameter_it_names() -> None:
    # GIVEN a KMS ReEncrypt SSM made whose source names /a/x and destination /b/y (it pages), and a
    # by-path call of /b (not recursive) 1 s later
    reencrypt = kms_decrypt("re", "/a/x")
    reencrypt["eventName"] = "ReEncrypt"
    reencrypt["requestParameters"] = {
        f"{end}EncryptionContext": {"PARAMETER_ARN": f"arn:aws:ssm:us-east-1:111122223333:parameter{name}"}
        for end, name in (("source", "/a/x"), ("destination", "/b/y"))
    }
    call = by_path("call", "/b", f"{DAY}10:15:01Z")
    call["requestParameters"]["recursive"] = False
    verdicts = by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), [reencrypt, call]))
    # THEN the call is no part of it: a by-path call causes Decrypts, and only /a/x places this one
    assert verdicts["re"].paged and verdicts["call"].paged


def test_a_bulk_finding_that_joined_a_by_path_incident_holds_back_the_next_one() -> None:
    # GIVEN bulk findings over 2 distinct parameters: one that pages at 10:50 (three SSM calls), one
    # at 11:05 raised by the Decrypts of a by-path call (it joins the call's page), and one at 11:55,
    # 65 minutes after the first page but 50 after the second finding
    tuning = Tuning(learning_days=0, bulk_threshold=2)
    records = [ssm_read(f"s{i}", [f"/x/{i}"], time=f"{DAY}10:50:0{i}Z") for i in range(3)]
    records.append(by_path("call", "/prod", f"{DAY}11:05:00Z"))
    records += [kms_decrypt(f"d{i}", f"/prod/{i}", f"{DAY}11:05:0{i}Z") for i in range(3)]
    records += [ssm_read(f"t{i}", [f"/y/{i}"], time=f"{DAY}11:55:0{i}Z") for i in range(3)]
    verdicts = run(Detector(EMPTY, MemoryState(), tuning), records)
    bulks = {v.finding.event_id: v for v in verdicts if str(v.finding.rule) == "bulk-retrieval"}
    # THEN the third repeats the second, which is part of an incident that paged
    assert bulks["s2"].paged and bulks["d2"].reason.startswith("the sweep is part of GetParametersByPath event call")
    assert bulks["t2"].reason == "repeat within 60 minutes of the alert for event d2"


def test_a_repeat_a_second_after_the_page_is_counted() -> None:
    # GIVEN a read that pages, the same read from the same side a second later, and the next page
    times = ["10:15:00", "10:15:01", "11:20:00"]
    records = [ssm_read(f"s{i}", ["/billing/key"], time=f"{DAY}{clock}Z") for i, clock in enumerate(times)]
    verdicts = run(Detector(EMPTY, MemoryState(), NO_LEARNING), records)
    # THEN the second is a repeat (not the other side of the read), and the next page counts it
    assert [v.paged for v in verdicts] == [True, False, True] and verdicts[2].held_back == 1


def test_an_event_id_holding_the_key_separator_is_an_invalid_event() -> None:
    # GIVEN a crafted read whose eventID holds '#' (CloudTrail's are UUIDs; paramwatch's state keys
    # and claim owners use '#' as their separator, and reasons name events by the part before it)
    (verdict,) = run(Detector(EMPTY, MemoryState(), NO_LEARNING), [ssm_read("a#bulk-retrieval", ["/billing/key"])])
    # THEN it is judged as an event that cannot be read, and pages as one
    assert str(verdict.finding.rule) == "invalid-event" and verdict.paged
    assert "eventID: Value error, holds '#', which no CloudTrail event ID does" in verdict.finding.summary


def test_a_read_far_from_every_page_pages_even_when_both_places_of_its_window_are_taken() -> None:
    # GIVEN pages at 10:01 and 12:59, then reads delivered out of order: 11:00 and 11:59:30 (each a
    # repeat of the page next to it, taking both places of the 11:00 window), then 11:30 and 11:31,
    # each 89 minutes or more from every page
    order = [("A", "10:01:00"), ("C", "12:59:00"), ("X", "11:00:00"), ("Y", "11:59:30"), ("Z", "11:30:00")]
    order.append(("W", "11:31:00"))
    records = [ssm_read(event, ["/billing/key"], time=f"{DAY}{clock}Z") for event, clock in order]
    verdicts = by_event(run(Detector(EMPTY, MemoryState(), NO_LEARNING), records))
    # THEN the far reads page (no place is left to record them, so each does: a second alert rather
    # than a missed one), and the near ones stay repeats of the page next to them
    assert [verdicts[e].paged for e, _ in order] == [True, True, False, False, True, True]
    assert verdicts["Y"].reason == "repeat within 60 minutes of the alert for event C"


def test_counted_sets_hold_eighty_bits_of_each_name() -> None:
    # GIVEN a read of a name at SSM's length limit (the README: state keys and counted sets hold
    # the first 80 bits of a SHA-256 digest of attacker-chosen text)
    state = MemoryState()
    run(Detector(EMPTY, state, NO_LEARNING), [ssm_read("r", ["/" + "n" * 1010], time=f"{DAY}10:00:00Z")])
    # THEN the bulk window counts it as 20 hex digits
    counted = [m for key, members in state.sets.items() if not key.endswith(("#names", "#caller")) for m in members]
    assert counted and all(len(m) == 20 and int(m, 16) >= 0 for m in counted)


@pytest.mark.parametrize("case", [None, "tamper-rule-disabled"])
def test_a_finding_whose_time_cannot_be_read_is_placed_at_the_epoch(case: str | None) -> None:
    # GIVEN a read (or a tamper change) whose eventTime cannot be read: it still pages, placed at
    # 1970-01-01T00:00:00Z for suppression; then the same finding a whole window later, and again
    # a second less than a window after that
    def at(event: str, time: str) -> dict:
        if case is None:
            return ssm_read(event, ["/billing/key"], time=time)
        return {**load_case(next(p for p in CASES if p.stem == case))["record"], "eventID": event, "eventTime": time}

    records = [at("u", "not a time"), at("w", "1970-01-01T01:00:00Z"), at("r", "1970-01-01T01:59:59Z")]
    detector = Detector(EMPTY, MemoryState(), NO_LEARNING, own=OWN)
    verdicts = by_event(run(detector, records))
    # THEN the one a whole window after the epoch pages too, and the next is its repeat
    assert [verdicts[e].paged for e in ("u", "w", "r")] == [True, True, False]
