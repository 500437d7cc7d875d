"""Which reads are parts of one incident, which wait to be gathered into one page, and whom a page
is about. Pure detector against the in-memory state (data in, verdicts out).

Record shapes: `GetParametersByPath` with `path`, `recursive` and `withDecryption` in
`requestParameters` (SSM API reference); the Decrypt SSM makes for each SecureString it returns,
with `encryptionContext.PARAMETER_ARN` and `invokedBy` `AWS Internal` (Invictus Stratus Red Team
trail); a direct `Decrypt` (no `invokedBy`) as in events/cases/direct-decrypt.json; refusals with
`errorCode` as CloudTrail records them.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from paramwatch.allowlist import EMPTY
from paramwatch.detector import Detector, Tuning, Verdict
from paramwatch.state import MemoryState
from support import CASES, NO_LEARNING, ExpiringState, by_event, by_path, kms_decrypt, load_case, run, ssm_read

DAY = "2026-11-02T"


def _judge(records: list[dict], allowlist=EMPTY, tuning: Tuning = NO_LEARNING) -> dict[str, Verdict]:
    return by_event(run(Detector(allowlist, MemoryState(), tuning), records))


def test_a_get_parameter_right_after_a_by_path_call_is_a_read_of_its_own() -> None:
    # GIVEN an ungranted by-path call of /prod, and 1 s later a GetParameter of /prod/db by the same principal
    verdicts = _judge([by_path("call", "/prod", f"{DAY}10:15:00Z"), ssm_read("get", ["/prod/db"], f"{DAY}10:15:01Z")])
    # THEN both page: only the Decrypts SSM makes for a by-path call are part of it
    assert verdicts["call"].paged and verdicts["get"].paged


def test_a_decoy_covering_by_path_call_pages_though_a_decrypt_of_another_rule_paged_under_its_path(
    sample_allowlist,
) -> None:
    # GIVEN alice's ungranted Decrypt SSM made for /prod/db (unauthorized-read), then her by-path call
    # of / (it covers the decoys of /decoy/*: a honeytoken finding) 1 s later
    records = [kms_decrypt("dec", "/prod/db", f"{DAY}10:15:00Z"), by_path("root", "/", f"{DAY}10:15:01Z")]
    verdicts = _judge(records, sample_allowlist)
    # THEN the call is no part of the Decrypt's incident (another rule): the decoy alert pages
    assert str(verdicts["root"].finding.rule) == "honeytoken" and verdicts["root"].paged


def test_a_by_path_call_joins_the_decrypt_that_paged_after_another_path_was_read() -> None:
    # GIVEN a by-path call of /other, a Decrypt SSM made for /prod/db that pages, and a by-path call of /prod
    records = [by_path("other", "/other", f"{DAY}10:14:00Z"), kms_decrypt("dec", "/prod/db", f"{DAY}10:15:00Z")]
    records.append(by_path("prod", "/prod", f"{DAY}10:15:01Z"))
    verdicts = _judge(records)
    # THEN the call of /prod is the other half of the Decrypt's read
    assert verdicts["dec"].paged
    assert verdicts["prod"].reason == "paired with event dec, an SSM-made Decrypt of a parameter under this path"


@pytest.mark.parametrize(("path", "joins"), [("/prod/app", True), ("/prod", False)])
def test_a_non_recursive_call_after_a_decrypt_joins_it_only_for_a_direct_child(path: str, joins: bool) -> None:
    # GIVEN a Decrypt SSM made for /prod/app/db that pages, then a non-recursive by-path call of its
    # parent (/prod/app) or grandparent (/prod) 1 s later
    records = [kms_decrypt("dec", "/prod/app/db", f"{DAY}10:15:00Z")]
    records.append(by_path("call", path, f"{DAY}10:15:01Z", recursive=False))
    verdicts = _judge(records)
    # THEN only the call that returns /prod/app/db is part of its read
    assert verdicts["call"].paged is not joins


def _case(name: str) -> dict:
    return load_case(next(p for p in CASES if p.stem == name))["record"]


def test_only_the_parts_of_a_read_that_revealed_secrets_wait_to_be_gathered() -> None:
    # `part` marks a page that waits IncidentHoldSeconds for the rest of its incident: a by-path call
    # that decrypted, and a Decrypt SSM made. Every other page goes out at once (a read without
    # decryption gives no finding, except on a decoy, whose critical alert never waits).
    gathered = _judge([by_path("call", "/prod", f"{DAY}10:15:00Z")])
    assert gathered["call"].part == "path"
    assert _judge([kms_decrypt("dec", "/prod/db", f"{DAY}10:15:00Z")])["dec"].part == "kms"
    refused = by_path("refused", "/prod", f"{DAY}10:15:00Z")
    refused["errorCode"] = "AccessDenied"
    direct = _case("direct-decrypt")
    single = ssm_read("get", ["/prod/db"], f"{DAY}10:15:00Z")
    for record in (refused, direct, single):
        verdicts = run(Detector(EMPTY, MemoryState(), NO_LEARNING), [record])
        assert verdicts and all(v.part is None for v in verdicts), record["eventID"]


def _refused(event_id: str, account: str = "111122223333", region: str = "us-east-1", **identity) -> dict:
    record = ssm_read(
        event_id, ["/billing/key"], errorCode="AccessDenied", awsRegion=region, recipientAccountId=account
    )
    record["userIdentity"] = {**record["userIdentity"], **identity}
    return record


def _paged(records: list[dict]) -> list[str]:
    return [v.finding.event_id for v in run(Detector(EMPTY, MemoryState(), NO_LEARNING), records) if v.paged]


def test_a_principal_is_its_arn_wherever_its_calls_are_recorded() -> None:
    # GIVEN alice's refused reads recorded in two accounts (one incident per principal and window)
    records = [_refused("a", "111122223333"), _refused("b", "444455556666")]
    # THEN they are one principal's refusals: one page
    assert _paged(records) == ["a"]


SERVICE = {"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com", "arn": None, "userName": None}


def test_a_service_is_a_principal_per_account() -> None:
    # GIVEN refused reads by an AWS service in two accounts, and by another service in the first
    records = [_refused("a", "111122223333", **SERVICE), _refused("b", "444455556666", **SERVICE)]
    records.append(_refused("c", "111122223333", **{**SERVICE, "invokedBy": "ec2.amazonaws.com"}))
    # THEN each (service, account) is a principal of its own: three pages
    assert _paged(records) == ["a", "b", "c"]


def test_the_same_parameter_name_in_another_region_is_another_secret() -> None:
    records = [ssm_read("east", ["/billing/key"]), ssm_read("west", ["/billing/key"], awsRegion="eu-west-1")]
    assert _paged(records) == ["east", "west"]


def test_a_record_without_a_region_or_account_shares_no_unit_with_any_named_one() -> None:
    # GIVEN refused reads by a service, one without awsRegion and one in a region named "XXXX"
    # (CloudTrail text is not trusted), and one without recipientAccountId and one in an account "XXXX"
    no_region = _refused("r0", **SERVICE)
    del no_region["awsRegion"]
    no_account = _refused("a0", **{**SERVICE, "accountId": None})
    del no_account["recipientAccountId"]
    records = [
        no_region,
        _refused("r1", region="XXXX", **SERVICE),
        no_account,
        _refused("a1", account="XXXX", **SERVICE),
    ]
    # THEN none of them repeats another
    assert _paged(records) == ["r0", "r1", "a0", "a1"]


@pytest.mark.parametrize(("arrival", "burst"), [("10:14:59", True), ("10:15:00", False)])
def test_a_denied_window_is_remembered_until_three_windows_after_it_starts(arrival: str, burst: bool) -> None:
    # GIVEN denied_threshold 2 in 5-minute windows: a refusal at 10:00:10 and another at 10:00:20
    # delivered late (the 10:00 window is kept until 10:15, the 09:57:30 one until 10:12:30)
    state = ExpiringState()
    detector = Detector(EMPTY, state, Tuning(learning_days=0, denied_threshold=2, denied_window_minutes=5))
    verdicts = []
    for event_id, clock, at in (("d1", "10:00:10", "10:00:10"), ("d2", "10:00:20", arrival)):
        state.now = datetime.fromisoformat(f"{DAY}{at}+00:00").timestamp()
        record = ssm_read(event_id, [f"/guess/{event_id}"], time=f"{DAY}{clock}Z", errorCode="AccessDenied")
        verdicts += run(detector, [record])
    # THEN the second makes a burst while the window is remembered
    assert any(str(v.finding.rule) == "denied-burst" for v in verdicts) is burst


def test_two_bulk_findings_a_second_apart_are_a_repeat_not_two_sides_of_a_read(sample_allowlist) -> None:
    # GIVEN alice's burst counted in two half-offset windows: an SSM call at 10:09:59 takes the 10:00
    # window over 20, and a Decrypt SSM made for another parameter at 10:10:00 the 10:05 window
    records = [ssm_read("r0", ["/platform/q0"], time=f"{DAY}10:01:00Z")]
    records += [ssm_read(f"r{i}", [f"/platform/q{i}"], time=f"{DAY}10:06:00Z") for i in range(1, 20)]
    records += [
        ssm_read("a", ["/platform/qa"], time=f"{DAY}10:09:59Z"),
        kms_decrypt("b", "/platform/qb", f"{DAY}10:10:00Z"),
    ]
    verdicts = run(Detector(sample_allowlist, MemoryState(), NO_LEARNING, report_first_seen=False), records)
    first, second = [v for v in verdicts if str(v.finding.rule) == "bulk-retrieval"]
    # THEN the second is a repeat of the first (two reads of two parameters are not one read)
    assert (first.finding.event_id, first.paged) == ("a", True)
    assert second.reason == "repeat within 60 minutes of the alert for event a"


def test_a_lone_surrogate_in_a_parameter_name_is_judged(sample_allowlist) -> None:
    # GIVEN a read whose name carries a lone surrogate (JSON "\ud800" decodes to one; CloudTrail text
    # is not trusted), by a granted principal (first-seen and bulk digest the name) and by a stranger
    name = "/platform/odd-\ud800"
    verdicts = run(Detector(sample_allowlist, MemoryState(), NO_LEARNING), [ssm_read("odd", [name])])
    # THEN it is judged like any other name
    assert [str(v.finding.rule) for v in verdicts] == ["first-seen"] and verdicts[0].finding.parameters == (name,)
