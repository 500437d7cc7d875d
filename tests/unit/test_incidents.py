"""One incident, one page: by-path sweeps, window edges, learning by event time, first-seen storms,
bounded state. Pure detector against the in-memory state (data in, verdicts out).

Record shapes: `GetParametersByPath` with `path`, `recursive`, `withDecryption` and, from the second
page on, `nextToken` in `requestParameters` (SSM API reference, GetParametersByPath request syntax;
CloudTrail records request parameters as sent). Each SecureString it returns is decrypted by SSM in
a KMS `Decrypt` whose `encryptionContext.PARAMETER_ARN` names the parameter and whose
`userIdentity.invokedBy` is `AWS Internal` (the Invictus Stratus Red Team trail, and the KMS
developer guide's "How Parameter Store uses AWS KMS").
"""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from paramwatch.allowlist import EMPTY, validate
from paramwatch.detector import Detector, Tuning, Verdict
from paramwatch.state import MemoryState
from support import NO_LEARNING, by_path, kms_decrypt, run, ssm_read


def pages(verdicts: list[Verdict]) -> Counter:
    """What paged, per (rule, severity, principal): one incident each."""
    return Counter((str(v.finding.rule), str(v.finding.severity), v.finding.principal) for v in verdicts if v.paged)


def sweep(secrets: int = 50, per_page: int = 10, start_second: int = 0) -> list[dict]:
    """An ungranted `GetParametersByPath --path /prod --recursive --with-decryption`, paginated."""
    records = []
    for page in range(secrets // per_page):
        time = f"2026-11-02T10:15:{start_second + page * 2:02d}Z"
        records.append(by_path(f"call-{page}", "/prod", time, token=f"token-{page}" if page else None))
        for i in range(per_page):
            n = page * per_page + i
            records.append(kms_decrypt(f"dec-{n}", f"/prod/app{n % 5}/secret-{n}", time=time))
    return records


def test_by_path_sweep_pages_once() -> None:
    # GIVEN 5 pages of a by-path sweep returning 50 SecureStrings, nobody granted
    verdicts = run(Detector(EMPTY, MemoryState(), NO_LEARNING), sweep())
    # THEN one page: the first call, naming the path (was 52: 51 unauthorized-read and 1 bulk)
    assert pages(verdicts) == {("unauthorized-read", "medium", "arn:aws:iam::111122223333:user/alice"): 1}
    first = next(v for v in verdicts if v.paged)
    assert first.finding.event_id == "call-0" and first.units == ("/prod",)
    # every Decrypt is still a finding, folded into the call's incident; so is the bulk finding
    decrypts = [v for v in verdicts if v.finding.event_name == "Decrypt" and str(v.finding.rule) != "bulk-retrieval"]
    assert len(decrypts) == 50 and all("part of GetParametersByPath event call-" in v.reason for v in decrypts)
    bulk = [v for v in verdicts if str(v.finding.rule) == "bulk-retrieval"]
    assert len(bulk) == 1 and bulk[0].reason.startswith("the sweep is part of GetParametersByPath event call-")


def test_by_path_sweep_whose_decrypts_arrive_first_pages_once() -> None:
    # GIVEN every Decrypt delivered before any of the by-path calls
    records = sweep()
    decrypts_first = [r for r in records if r["eventName"] == "Decrypt"] + [
        r for r in records if r["eventName"] != "Decrypt"
    ]
    verdicts = run(Detector(EMPTY, MemoryState(), NO_LEARNING), decrypts_first)
    # THEN the first Decrypt pages, and the other Decrypts, the calls and the bulk finding join it
    assert sum(pages(verdicts).values()) == 1
    calls = [v for v in verdicts if v.finding.event_name == "GetParametersByPath"]
    assert calls and all(not v.paged for v in calls)
    assert "SSM-made Decrypt of a parameter under this path" in calls[0].reason


def test_non_recursive_by_path_does_not_claim_grandchildren() -> None:
    call = by_path("call", "/prod", "2026-11-02T10:15:00Z")
    call["requestParameters"]["recursive"] = False
    records = [call, kms_decrypt("child", "/prod/a"), kms_decrypt("grandchild", "/prod/x/b")]
    verdicts = {v.finding.event_id: v for v in run(Detector(EMPTY, MemoryState(), NO_LEARNING), records)}
    assert "part of GetParametersByPath" in verdicts["child"].reason
    assert verdicts["grandchild"].paged  # /prod non-recursive cannot have returned it


def test_decrypts_of_another_principal_do_not_join_a_by_path_call() -> None:
    other = kms_decrypt("bob-dec", "/prod/a")
    other["userIdentity"] = {**other["userIdentity"], "arn": "arn:aws:iam::111122223333:user/bob", "userName": "bob"}
    verdicts = run(
        Detector(EMPTY, MemoryState(), NO_LEARNING), [by_path("call", "/prod", "2026-11-02T10:15:00Z"), other]
    )
    assert [v.paged for v in verdicts] == [True, True]


def test_pair_across_a_window_edge_pages_once() -> None:
    # GIVEN the SSM call at 10:59:59 and the Decrypt SSM made for it at 11:00:00, in either order
    pair = [
        ssm_read("ssm", ["/billing/key"], time="2026-11-02T10:59:59Z"),
        kms_decrypt("kms", "/billing/key", time="2026-11-02T11:00:00Z"),
    ]
    for order in (pair, pair[::-1]):
        verdicts = run(Detector(EMPTY, MemoryState(), NO_LEARNING), order)
        # THEN one page (was 2), and the other side says it is the same read
        assert [v.paged for v in verdicts] == [True, False]
        assert verdicts[1].reason.startswith("paired with event")


def test_repeat_across_a_window_edge_is_a_repeat_and_the_unit_pages_again_after_n_minutes() -> None:
    detector = Detector(EMPTY, MemoryState(), Tuning(learning_days=0, suppression_minutes=60))
    times = ["10:59:58", "11:00:02", "11:30:00", "11:59:59", "12:00:03", "12:30:00", "13:00:04"]
    records = [ssm_read(f"r{i}", ["/billing/key"], time=f"2026-11-02T{t}Z") for i, t in enumerate(times)]
    verdicts = run(detector, records)
    # a page at 10:59:58, the next once 60 minutes have passed (11:59:59), then 13:00:04
    assert [v.finding.event_id for v in verdicts if v.paged] == ["r0", "r3", "r6"]


def test_one_event_gives_at_most_one_bulk_page(sample_allowlist) -> None:
    # GIVEN 21 reads in the same minute: both half-offset grids cross on the same (21st) read
    records = [ssm_read(f"b{i}", [f"/platform/p{i}"], time=f"2026-11-02T10:07:{i:02d}Z") for i in range(21)]
    verdicts = run(Detector(sample_allowlist, MemoryState(), NO_LEARNING), records)
    bulk = [v for v in verdicts if str(v.finding.rule) == "bulk-retrieval"]
    assert len(bulk) == 1 and bulk[0].paged


def test_bulk_caught_by_both_grids_pages_once_even_across_a_suppression_edge(sample_allowlist) -> None:
    # GIVEN 42 distinct reads from 10:52 to 11:03: each grid crosses on a different read, on
    # either side of the 11:00 suppression edge
    records = [
        ssm_read(
            f"b{i}",
            [f"/platform/p{i}"],
            time=f"2026-11-02T{10 + (52 + i // 4) // 60:02d}:{(52 + i // 4) % 60:02d}:{i % 4 * 10:02d}Z",
        )
        for i in range(42)
    ]
    verdicts = run(Detector(sample_allowlist, MemoryState(), NO_LEARNING, report_first_seen=False), records)
    assert pages(verdicts) == {("bulk-retrieval", "high", "arn:aws:iam::111122223333:user/alice"): 1}


def test_denied_burst_far_beyond_the_threshold_keeps_state_small() -> None:
    # GIVEN 20,000 refused calls in one minute (AccessDeniedException is recorded; see the README)
    state = MemoryState()
    detector = Detector(EMPTY, state, Tuning(denied_threshold=10))
    records = [
        ssm_read(f"d{i}", [f"/guess/{i}"], time=f"2026-11-02T10:15:{i % 60:02d}Z", errorCode="AccessDenied")
        for i in range(20_000)
    ]
    verdicts = run(detector, records)
    # THEN one low page for the refusals, one burst page, and no window holds more than threshold + 1
    assert Counter(str(v.finding.rule) for v in verdicts if v.paged) == {"denied-attempt": 1, "denied-burst": 1}
    assert max(len(members) for key, members in state.sets.items() if key.startswith("denied-burst#")) <= 11
    assert max(len(members) for members in state.sets.values()) <= 64


def grant(principal: str, parameters: list[str]) -> dict:
    return {"name": "ci", "principals": [principal], "parameters": parameters}


CI = "arn:aws:iam::111122223333:user/alice"


def test_slow_sweep_of_new_secrets_is_one_low_and_one_high_page() -> None:
    # GIVEN a CI principal that read its 6 usual secrets during learning
    allowlist = validate({"version": 1, "grants": [grant(CI, ["/*"])]})
    detector = Detector(allowlist, MemoryState(), Tuning(learning_days=7))
    usual = [ssm_read(f"u{i}", [f"/ci/usual-{i}"], time="2026-11-01T09:00:00Z") for i in range(6)]
    # WHEN, 9 days later, it reads 200 secrets it never read over 3 hours (below the bulk rate)
    slow = [
        ssm_read(
            f"n{i}",
            [f"/prod/s{i}"],
            time=f"2026-11-10T{9 + i * 54 // 3600:02d}:{i * 54 // 60 % 60:02d}:{i * 54 % 60:02d}Z",
        )
        for i in range(200)
    ]
    verdicts = run(detector, usual + slow)
    # THEN one low page (aggregated per principal and window) and one high page for the day's
    # storm (was 194 low pages): 13 new against 6 known crosses max(10, 2 x 6)
    assert pages(verdicts) == {("first-seen", "low", CI): 1, ("first-seen", "high", CI): 1}
    high = next(v for v in verdicts if v.paged and str(v.finding.severity) == "high")
    assert high.finding.event_id == "n12" and "13 new parameter(s) today" in high.finding.summary
    assert sum(str(v.finding.rule) == "first-seen" for v in verdicts) == 200  # each still reported


def test_learning_is_defined_by_event_time_not_processing_order() -> None:
    # GIVEN the first event on day 0, a genuinely new pair on day 9, processed day-9 first
    day0 = ssm_read("day0", ["/ci/a"], time="2026-11-01T09:00:00Z")
    day9 = ssm_read("day9", ["/ci/new"], time="2026-11-10T09:00:00Z")
    allowlist = validate({"version": 1, "grants": [grant(CI, ["/*"])]})
    for order in ([day0, day9], [day9, day0]):
        verdicts = run(Detector(allowlist, MemoryState(), Tuning(learning_days=7)), order)
        # THEN in both orders... the day-9 pair is new only when the earlier event was seen first;
        # replay feeds events in event-time order (see test_replay_order), Lambda in arrival order
        assert "day0" not in {v.finding.event_id for v in verdicts}
    in_order = run(Detector(allowlist, MemoryState(), Tuning(learning_days=7)), [day0, day9])
    assert [v.finding.event_id for v in in_order] == ["day9"]


def test_learning_start_moves_back_to_the_earliest_event() -> None:
    state = MemoryState()
    detector = Detector(EMPTY, state, Tuning(learning_days=7))
    assert detector._learning(1_000_000.0)
    detector._learning(10.0)
    assert state.minima["baseline#start"] == 10.0
    assert not detector._learning(1_000_000.0)  # 11.6 days after the earliest event


def test_public_parameters_are_judged_again_when_the_allowlist_says_so() -> None:
    record = ssm_read("ami", ["arn:aws:ssm:us-east-1::parameter/aws/service/ami-amazon-linux-latest/al2023"])
    assert run(Detector(EMPTY, MemoryState(), NO_LEARNING), [record]) == []
    strict = validate({"version": 1, "judge_public_parameters": True})
    verdicts = run(Detector(strict, MemoryState(), NO_LEARNING), [record])
    assert [str(v.finding.rule) for v in verdicts] == ["unauthorized-read"]


def test_a_name_that_merely_starts_like_a_public_parameter_is_judged() -> None:
    for name in ["/aws/servicex/key", "/aws/reference/secretsmanager/db", "/aws/service-secret"]:
        verdicts = run(Detector(EMPTY, MemoryState(), NO_LEARNING), [ssm_read("x", [name])])
        assert [str(v.finding.rule) for v in verdicts] == ["unauthorized-read"], name


SCENARIO = (
    sweep(secrets=30)
    + [
        ssm_read("edge-s", ["/billing/key"], time="2026-11-02T10:59:59Z"),
        kms_decrypt("edge-k", "/billing/key", time="2026-11-02T11:00:00Z"),
    ]
    + [
        ssm_read(f"rep{i}", ["/billing/other"], time=f"2026-11-02T10:4{i}:30Z") for i in range(3)
    ]  # apart from the sweep
    + [ssm_read(f"den{i}", [f"/x/{i}"], time=f"2026-11-02T10:40:{i:02d}Z", errorCode="AccessDenied") for i in range(10)]
)


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_any_order_pages_the_same_incidents(rng: random.Random) -> None:
    expected = pages(run(Detector(EMPTY, MemoryState(), NO_LEARNING), SCENARIO))
    assert sum(expected.values()) == 5  # sweep 1, edge pair 1, repeats 1, denied-attempt 1, denied-burst 1
    shuffled = list(SCENARIO)
    rng.shuffle(shuffled)
    assert pages(run(Detector(EMPTY, MemoryState(), NO_LEARNING), shuffled)) == expected


def test_merged_allowlist_pieces_keep_the_public_parameter_setting() -> None:
    from paramwatch.pieces import Piece, merge

    merged = merge((Piece("a.yaml", "version: 1\n"), Piece("b.yaml", "version: 1\njudge_public_parameters: true\n")))
    assert merged.judge_public_parameters


def test_a_loaded_baseline_counts_as_the_principals_history(tmp_path) -> None:
    import json

    from paramwatch import baseline

    # GIVEN a baseline in which alice read 20 secrets
    pairs = [{"principal": CI, "parameter": f"/ci/old-{i}", "first_seen": "2026-10-01T00:00:00Z"} for i in range(20)]
    (tmp_path / "b.json").write_text(json.dumps({"version": 1, "pairs": pairs}))
    state = MemoryState()
    baseline.load(tmp_path / "b.json", state)
    allowlist = validate({"version": 1, "grants": [grant(CI, ["/*"])]})
    # WHEN she reads 30 new ones in a day, THEN that is under twice her history: low pages only
    new = [ssm_read(f"n{i}", [f"/prod/s{i}"], time=f"2026-11-10T09:{i:02d}:00Z") for i in range(30)]
    assert pages(run(Detector(allowlist, state, NO_LEARNING), new)) == {("first-seen", "low", CI): 1}


def test_storm_tuning_has_replay_flags() -> None:
    import io

    from paramwatch.cli import main
    from support import EVENTS

    err = io.StringIO()
    code = main(
        [
            "replay",
            "--allowlist",
            str(EVENTS / "allowlist.yaml"),
            "--storm-ratio",
            "1.5",
            "--storm-pairs",
            "5",
            str(EVENTS / "sample-trail"),
        ],
        out=io.StringIO(),
        err=err,
    )
    assert code == 1, err.getvalue()


def test_a_decrypt_pairs_with_its_own_call_and_otherwise_joins_the_sweep() -> None:
    # the pairing tolerance is 2 s (PAIR_SECONDS); a Decrypt farther from every call it could come
    # from (its own page's call not delivered yet) joins the sweep for SuppressionMinutes
    call = by_path("call", "/prod", "2026-11-02T10:15:00Z")
    records = [
        call,
        kms_decrypt("near", "/prod/a", time="2026-11-02T10:15:02Z"),
        kms_decrypt("far", "/prod/b", time="2026-11-02T10:15:09Z"),
        kms_decrypt("later", "/prod/c", time="2026-11-02T11:16:00Z"),
    ]
    verdicts = {v.finding.event_id: v for v in run(Detector(EMPTY, MemoryState(), NO_LEARNING), records)}
    assert verdicts["near"].reason.startswith("part of GetParametersByPath event call")
    assert verdicts["far"].reason.startswith("part of the by-path sweep of event call")
    assert verdicts["later"].paged  # over an hour later: a read of its own
