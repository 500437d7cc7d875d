"""`hunt --engine duckdb` against replay over the same files: the same (event ID, rule) pairs for
the per-event rules, and the same (principal, window) for bulk retrieval.

Replay is the reference: the SQL is generated separately from the allowlist object, so any
difference in normalization, glob matching, networks or hours shows up here as a set difference.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from paramwatch.allowlist import Allowlist, validate
from paramwatch.cli import load_allowlist
from paramwatch.cloudtrail import oversize
from paramwatch.detector import Detector, Tuning, judge
from paramwatch.findings import Rule
from paramwatch.hunt import PER_EVENT_RULES, BulkRule, Scope
from paramwatch.hunt_local import run
from paramwatch.own import Own
from paramwatch.replay import replay
from paramwatch.state import MemoryState
from support import CASES, DATASET, EVENTS, load_case

pytest.importorskip("duckdb")

SAMPLE_ALLOWLIST = EVENTS / "allowlist.yaml"
_WINDOW = re.compile(r"window from ([0-9T:+-]+)\)")


def replay_sets(allowlist: Allowlist, paths: list[Path], bulk: BulkRule) -> tuple[set, set]:
    tuning = Tuning(bulk_threshold=bulk.threshold, bulk_window_minutes=bulk.window_minutes)
    detector = Detector(allowlist, MemoryState(), tuning)
    per_event, windows = set(), set()
    for result in replay(paths, detector, workers=1):
        assert result.error is None, result.error
        for verdict in result.verdicts:
            f = verdict.finding
            if f.rule in PER_EVENT_RULES:
                per_event.add((f.event_id, str(f.rule)))
            elif f.rule is Rule.BULK:  # one finding per event names every window it crossed
                windows.update((f.principal, datetime.fromisoformat(w)) for w in _WINDOW.findall(f.summary))
    return per_event, windows


def hunt_sets(allowlist: Allowlist, paths: list[Path], bulk: BulkRule) -> tuple[set, set]:
    per_event, windows = set(), set()
    for verdict in run(allowlist, paths, Scope(), bulk).verdicts:
        f = verdict.finding
        if f.rule is Rule.BULK:
            windows.add((f.principal, datetime.fromisoformat(_WINDOW.search(f.summary).group(1))))
        else:
            per_event.add((f.event_id, str(f.rule)))
    return per_event, windows


def assert_same(allowlist: Allowlist, paths: list[Path], bulk: BulkRule | None = None) -> tuple[set, set]:
    bulk = bulk or BulkRule()
    expected = replay_sets(allowlist, paths, bulk)
    found = hunt_sets(allowlist, paths, bulk)
    assert found[0] == expected[0], (sorted(found[0] - expected[0]), sorted(expected[0] - found[0]))
    assert found[1] == expected[1], (sorted(found[1] - expected[1]), sorted(expected[1] - found[1]))
    return found


def write_log(folder: Path, records: list, name: str = "111122223333_CloudTrail_us-east-1_x.json.gz") -> Path:
    path = folder / name
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return path


# Bundled cases left out of the shared log file, one line each on why. Every other case is in it.
_OWN_RESOURCE = "a write to one stack's own resource: only a named stack (replay --stack) knows it"
EXCLUDED = {
    "nested-too-deep.json": "too deep to read: it makes its whole file unreadable (checked on its own below)",
    "canary-heartbeat-kms.json": "the canary's heartbeat Decrypt: only a named stack knows its canary",
    "canary-heartbeat-ssm.json": "the canary role's heartbeat read: only a named stack knows its canary",
    **{
        name: _OWN_RESOURCE
        for name in (
            "low-allowlist-cloudformation-deploy.json",
            "low-function-config-cloudformation-deploy.json",
            "low-rule-cloudformation-deploy.json",
            "tamper-alarm-actions-disabled.json",
            "tamper-allowlist-deleted.json",
            "tamper-allowlist-put.json",
            "tamper-function-code-updated.json",
            "tamper-function-permission-removed.json",
            "tamper-function-throttled-to-zero.json",
            "tamper-failure-queue-retention.json",
            "tamper-held-pages-source-disabled.json",
            "tamper-hold-queue-purged.json",
            "tamper-key-deletion.json",
            "tamper-key-disabled.json",
            "tamper-rule-deleted.json",
            "tamper-rule-disabled.json",
            "tamper-rule-state-enabled.json",
            "tamper-rule-targets-removed.json",
            "tamper-stack-deleted.json",
            "tamper-topic-filter-policy.json",
            "tamper-topic-unsubscribed.json",
        )
    },
}


def _case_record(path: Path) -> dict:
    """The case's record with its file's stem as eventID: cases reuse IDs, and one log file holding
    two records with one ID is a redelivery to both engines."""
    return {**load_case(path)["record"], "eventID": path.stem}


def test_exclusions_are_exactly_the_stack_dependent_cases() -> None:
    # GIVEN the sample allowlist, and each case judged as replay without --stack (and hunt) sees it
    allowlist = load_allowlist([str(SAMPLE_ALLOWLIST)]).allowlist
    for path in CASES:
        case = load_case(path)
        if oversize(case["record"]) is not None:
            assert path.name in EXCLUDED
            continue
        finding = judge(case["record"], allowlist, Own())
        got = (str(finding.rule), str(finding.severity)) if finding else (None, None)
        # THEN a case is left out exactly when a stack's settings change its verdict
        assert (path.name in EXCLUDED) == (got != (case["expected"]["rule"], case["expected"].get("severity"))), (
            path.name
        )


def test_bundled_cases_agree(tmp_path) -> None:
    # GIVEN every bundled case record but those in EXCLUDED, in one log file
    cases = [p for p in CASES if p.name not in EXCLUDED]
    assert len(cases) == len(CASES) - len(EXCLUDED) >= 90
    path = write_log(tmp_path, [_case_record(p) for p in cases])
    allowlist = load_allowlist([str(SAMPLE_ALLOWLIST)]).allowlist
    # WHEN hunt and replay judge it, THEN they report the same (event, rule) pairs
    per_event, _ = assert_same(allowlist, [path])
    expected = {
        (p.stem, load_case(p)["expected"].get("rule"))
        for p in cases
        if load_case(p)["expected"].get("rule") in {str(r) for r in PER_EVENT_RULES}
    }
    assert per_event == expected
    # AND hunt gives each finding the case's severity (direct-kms-use: critical when the key leaves)
    severities = {
        v.finding.event_id: str(v.finding.severity) for v in run(allowlist, [path], Scope(), BulkRule()).verdicts
    }
    assert severities == {e: load_case(CASES[0].parent / f"{e}.json")["expected"]["severity"] for e, _ in expected}


def test_unreadable_case_file_is_an_error_to_both(tmp_path) -> None:
    # GIVEN the case too deep to read, in a file of its own
    path = write_log(tmp_path, [load_case(EVENTS / "cases" / "nested-too-deep.json")["record"]])
    allowlist = load_allowlist([str(SAMPLE_ALLOWLIST)]).allowlist
    detector = Detector(allowlist, MemoryState(), Tuning())
    # THEN replay and hunt both name the file as unreadable rather than judge part of it
    assert next(r.error for r in replay([path], detector, workers=1))
    assert run(allowlist, [path], Scope(), BulkRule()).errors


def test_sample_trail_agrees() -> None:
    per_event, _ = assert_same(load_allowlist([str(SAMPLE_ALLOWLIST)]).allowlist, [EVENTS / "sample-trail"])
    assert len(per_event) >= 20


@pytest.mark.skipif(not DATASET.is_dir(), reason="real CloudTrail dataset not present")
def test_real_logs_agree_with_bulk() -> None:
    # The Stratus Red Team logs hold a sweep of 42 SecureStrings: per-event rules and bulk agree
    per_event, windows = assert_same(load_allowlist([str(SAMPLE_ALLOWLIST)]).allowlist, [DATASET])
    assert per_event and windows


def _read(event_id: str, name: str, when: datetime, ip: str, **extra: object) -> dict:
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
        },
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ssm.amazonaws.com",
        "eventName": "GetParameter",
        "awsRegion": "eu-central-1",
        "sourceIPAddress": ip,
        "requestParameters": {"name": name, "withDecryption": True},
        "eventID": event_id,
        "recipientAccountId": "111122223333",
        **extra,
    }


def test_hours_across_daylight_saving_changes_agree(tmp_path) -> None:
    # GIVEN grants with hours in Berlin (one across midnight) and reads every 20 minutes over both
    # 2026 clock changes (29 March, 25 October)
    allowlist = validate(
        {
            "version": 1,
            "grants": [
                {
                    "name": "day",
                    "principals": ["arn:aws:iam::111122223333:user/alice"],
                    "parameters": ["/day/*"],
                    "hours": {"days": ["sat", "sun"], "start": "02:00", "end": "03:30", "timezone": "Europe/Berlin"},
                },
                {
                    "name": "night",
                    "principals": ["arn:aws:iam::111122223333:user/alice"],
                    "parameters": ["/night/*"],
                    "hours": {"days": ["sat"], "start": "22:00", "end": "02:30", "timezone": "Europe/Berlin"},
                },
            ],
        }
    )
    records = []
    for day in (datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 10, 24, 12, tzinfo=UTC)):
        for step in range(0, 36 * 3):
            when = day + timedelta(minutes=20 * step)
            for kind in ("day", "night"):
                records.append(_read(f"{kind}-{when:%m%d%H%M}", f"/{kind}/x", when, "10.0.0.1"))
    path = write_log(tmp_path, records)
    # WHEN both judge, THEN the same reads are unauthorized, and some are and some are not
    per_event, _ = assert_same(allowlist, [path], BulkRule(threshold=10000))
    assert 0 < len(per_event) < len(records)


def test_networks_agree_and_ipv6_is_reported(tmp_path) -> None:
    allowlist = validate(
        {
            "version": 1,
            "grants": [
                {
                    "name": "net",
                    "principals": ["arn:aws:iam::111122223333:user/alice"],
                    "parameters": ["/net/*"],
                    "source_cidrs": ["10.0.0.0/8", "192.0.2.128/25"],
                    "vpc_endpoints": ["vpce-0a1b2c3d4e5f60718"],
                }
            ],
        }
    )
    addresses = [
        "9.255.255.255",
        "10.0.0.0",
        "10.255.255.255",
        "11.0.0.0",
        "192.0.2.127",
        "192.0.2.128",
        "192.0.2.255",
        "010.0.0.1",
        "10.0.0.256",
        "::ffff:10.0.0.1",
        "2001:db8::1",
        "AWS Internal",
        "ssm.amazonaws.com",
        "",
    ]
    when = datetime(2026, 11, 2, 10, tzinfo=UTC)
    records = [_read(f"ip-{i}", "/net/x", when, ip) for i, ip in enumerate(addresses)]
    records.append(_read("vpce", "/net/x", when, "203.0.113.1", vpcEndpointId="vpce-0a1b2c3d4e5f60718"))
    records.append(_read("vpce-10", "/net/x", when, "10.1.2.3", vpcEndpointId="vpce-0a1b2c3d4e5f60718"))
    records.append(_read("other-vpce-10", "/net/x", when, "10.1.2.3", vpcEndpointId="vpce-0ffffffffffffffff"))
    path = write_log(tmp_path, records)
    per_event, _ = assert_same(allowlist, [path])
    # the public range stands alone; the private 10.0.0.0/8 matches only through the grant's endpoint,
    # and narrows it (203.0.113.1 through the endpoint is outside it)
    allowed = {"ip-5", "ip-6", "vpce-10"}
    assert {e for e, _ in per_event} == {r["eventID"] for r in records} - allowed


def test_ipv6_cidr_has_no_duckdb_form_and_fails_closed(tmp_path) -> None:
    # GIVEN a grant for an IPv6 network and a read from inside it
    allowlist = validate(
        {
            "version": 1,
            "grants": [
                {
                    "name": "v6",
                    "principals": ["arn:aws:iam::111122223333:user/alice"],
                    "parameters": ["/net/*"],
                    "source_cidrs": ["2001:db8::/32"],
                }
            ],
        }
    )
    path = write_log(tmp_path, [_read("v6", "/net/x", datetime(2026, 11, 2, tzinfo=UTC), "2001:db8::1")])
    expected, _ = replay_sets(allowlist, [path], BulkRule())
    found, _ = hunt_sets(allowlist, [path], BulkRule())
    # THEN replay allows it, and DuckDB, lacking an IPv6 test, reports it rather than allowing more
    assert expected == set()
    assert found == {("v6", "unauthorized-read")}


HOSTILE = ["/it's", "/100%", "/a_b", "/back\\slash", "/x--y", "/x'--", "/q?"]


def test_hostile_names_are_literals_not_syntax(tmp_path) -> None:
    # GIVEN grants whose globs hold ', %, _, \ and --, and reads of names that those characters
    # would wrongly match if they were SQL wildcards or syntax
    allowlist = validate(
        {
            "version": 1,
            "grants": [
                {
                    "name": "hostile '--",
                    "principals": ["arn:aws:iam::111122223333:user/alice"],
                    "parameters": [*HOSTILE, "/pre%fix*"],
                }
            ],
            "honeytokens": ["/decoy_'%\\--*"],
        }
    )
    names = [
        *HOSTILE,
        "/its",
        "/100x",
        "/100",
        "/aXb",
        "/backXslash",
        "/back\\\\slash",
        "/x-y",
        "/q!",
        "/q",
        "/pre%fix/deep",
        "/preXfix/deep",
        "/decoy_'%\\--1",
        "/decoyX'%\\--1",
        "/decoy_'X\\--1",
    ]
    when = datetime(2026, 11, 2, 10, tzinfo=UTC)
    path = write_log(tmp_path, [_read(f"n{i}", n, when, "10.0.0.1") for i, n in enumerate(names)])
    per_event, _ = assert_same(allowlist, [path], BulkRule(threshold=10000))
    by_name = {names[int(e[1:])]: rule for e, rule in per_event}
    assert not set(HOSTILE) & set(by_name)  # every hostile glob granted exactly its own name
    for near_miss in ("/its", "/100x", "/aXb", "/backXslash", "/back\\\\slash", "/x-y", "/q"):
        assert by_name[near_miss] == "unauthorized-read", near_miss
    assert "/q!" not in by_name and "/pre%fix/deep" not in by_name  # ? is one character; % is literal
    assert by_name["/preXfix/deep"] == "unauthorized-read"
    assert by_name["/decoy_'%\\--1"] == "honeytoken"
    assert by_name["/decoyX'%\\--1"] == by_name["/decoy_'X\\--1"] == "unauthorized-read"


def test_account_wildcards_accounts_lists_and_expiry_agree(tmp_path) -> None:
    # GIVEN a role named in every account (wildcard in the account field), a grant limited to
    # listed accounts, and a grant that expired, with reads from callers that test each edge
    allowlist = validate(
        {
            "version": 1,
            "grants": [
                {"name": "any-account", "principals": ["arn:aws:iam::*:role/backup"], "parameters": ["/b/*"]},
                {
                    "name": "listed",
                    "principals": ["arn:aws:iam::*:user/*"],
                    "parameters": ["/l/*"],
                    "accounts": ["111122223333"],
                },
                {
                    "name": "old",
                    "principals": ["arn:aws:iam::111122223333:user/alice"],
                    "parameters": ["/o/*"],
                    "expires": "2026-11-02",
                },
            ],
        }
    )
    callers = [
        "arn:aws:iam::111122223333:role/backup",
        "arn:aws:iam::444455556666:role/backup",
        "arn:aws:iam::1:2:role/backup",  # a wildcard account never spans a ':'
        "arn:aws:iam::111122223333:role/x/role/backup",
        "arn:aws:iam::111122223333:user/alice",
        "arn:aws:iam::444455556666:user/alice",
    ]
    records = []
    for i, arn in enumerate(callers):
        for j, name in enumerate(("/b/x", "/l/x", "/o/x")):
            for k, when in enumerate((datetime(2026, 11, 1, 23, 59, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))):
                record = _read(f"c{i}-{j}-{k}", name, when, "10.0.0.1")
                record["userIdentity"] = {"type": "IAMUser", "arn": arn, "accountId": arn.split(":")[4]}
                records.append(record)
    path = write_log(tmp_path, records)
    per_event, _ = assert_same(allowlist, [path], BulkRule(threshold=10000))
    allowed = {r["eventID"] for r in records} - {e for e, _ in per_event}
    assert {"c0-0-0", "c1-0-0", "c4-1-0", "c4-2-0"} <= allowed
    assert not {"c2-0-0", "c3-0-0", "c5-1-0", "c4-2-1"} & allowed


def test_per_grant_bulk_thresholds_agree(tmp_path) -> None:
    # GIVEN a sync job whose grant allows 30 distinct parameters in 5 minutes, and the default of 5
    # in 10 minutes for everything else (alice's reads under a plain grant, bob's unauthorized)
    allowlist = validate(
        {
            "version": 1,
            "grants": [
                {
                    "name": "sync",
                    "principals": ["arn:aws:iam::111122223333:user/alice"],
                    "parameters": ["/sync/*"],
                    "bulk_threshold": 30,
                    "bulk_window_minutes": 5,
                },
                {"name": "plain", "principals": ["arn:aws:iam::111122223333:user/alice"], "parameters": ["/app/*"]},
            ],
        }
    )
    start = datetime(2026, 11, 2, 9, 58, tzinfo=UTC)
    records = []
    for i in range(40):  # 40 sync reads over 8 minutes: over 30 only in some 5-minute windows
        records.append(_read(f"s{i}", f"/sync/p{i}", start + timedelta(seconds=12 * i), "203.0.113.1"))
    for i in range(8):  # 8 app reads in 2 minutes: over the default 5
        records.append(_read(f"a{i}", f"/app/p{i}", start + timedelta(seconds=15 * i), "203.0.113.1"))
    for i in range(6):
        record = _read(f"b{i}", f"/other/p{i}", start + timedelta(minutes=30, seconds=i), "203.0.113.1")
        record["userIdentity"] = {**record["userIdentity"], "arn": "arn:aws:iam::111122223333:user/bob"}
        records.append(record)
    path = write_log(tmp_path, records)
    _, windows = assert_same(allowlist, [path], BulkRule(threshold=5, window_minutes=10))
    assert {p.rsplit("/", 1)[-1] for p, _ in windows} == {"alice", "bob"}
    assert len(windows) > 2


def _kms(event_id: str, name: str, params: dict, invoked_by: str | None = None, **extra: object) -> dict:
    identity = {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "accountId": "111122223333"}
    if invoked_by:
        identity = {"type": "AWSService", "invokedBy": invoked_by}
    return {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": "2026-11-02T10:00:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": "eu-central-1",
        "sourceIPAddress": invoked_by or "203.0.113.1",
        "requestParameters": params,
        "eventID": event_id,
        "recipientAccountId": "111122223333",
        **extra,
    }


def test_direct_kms_use_agrees_with_severity(tmp_path) -> None:
    # GIVEN KMS calls on a parameter's context in every spelling the rule reads: each context key,
    # each call, made by SSM or not, destination keys in this account or another, by ARN or by
    # the record's resources, a foreign parameter, a null or malformed context, and a honeytoken
    own = "arn:aws:ssm:eu-central-1:111122223333:parameter/orders/db"
    foreign = "arn:aws:ssm:eu-central-1:444455556666:parameter/shared/db"
    key = "arn:aws:kms:eu-central-1:{}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    keys = [{"accountId": a, "type": "AWS::KMS::Key"} for a in ("111122223333", "999988887777")]
    allowlist = validate(
        {
            "version": 1,
            "grants": [
                {"name": "a", "principals": ["arn:aws:iam::111122223333:user/alice"], "parameters": ["/orders/*"]}
            ],
            "honeytokens": ["/decoy/*"],
        }
    )
    records = [
        _kms("encrypt", "Encrypt", {"encryptionContext": {"PARAMETER_ARN": own}}),
        _kms("gdk", "GenerateDataKey", {"encryptionContext": {"PARAMETER_ARN": own}}),
        _kms("gdk-np", "GenerateDataKeyWithoutPlaintext", {"encryptionContext": {"PARAMETER_ARN": own}}),
        _kms("ssm-encrypt", "Encrypt", {"encryptionContext": {"PARAMETER_ARN": own}}, "ssm.amazonaws.com"),
        _kms("ssm-reencrypt", "ReEncrypt", {"sourceEncryptionContext": {"PARAMETER_ARN": own}}, "AWS Internal"),
        _kms("re-own", "ReEncrypt", {"sourceEncryptionContext": {"PARAMETER_ARN": own}, "destinationKeyId": "k"}),
        _kms(
            "re-arn-own",
            "ReEncrypt",
            {"sourceEncryptionContext": {"PARAMETER_ARN": own}, "destinationKeyId": key.format("111122223333")},
        ),
        _kms(
            "re-arn-out",
            "ReEncrypt",
            {"sourceEncryptionContext": {"PARAMETER_ARN": own}, "destinationKeyId": key.format("999988887777")},
        ),
        _kms(
            "re-res-out",
            "ReEncrypt",
            {"sourceEncryptionContext": {"PARAMETER_ARN": own}, "destinationKeyId": "k"},
            resources=keys,
        ),
        _kms("re-res-one", "ReEncrypt", {"sourceEncryptionContext": {"PARAMETER_ARN": own}}, resources=keys[1:]),
        _kms("re-dest-ctx", "ReEncrypt", {"destinationEncryptionContext": {"PARAMETER_ARN": own}}),
        _kms(
            "re-foreign", "ReEncrypt", {"sourceEncryptionContext": {"PARAMETER_ARN": foreign}, "destinationKeyId": "k"}
        ),
        _kms(
            "re-two",
            "ReEncrypt",
            {
                "sourceEncryptionContext": {"PARAMETER_ARN": own},
                "destinationEncryptionContext": {"PARAMETER_ARN": foreign},
            },
        ),
        _kms("re-null", "ReEncrypt", {"sourceEncryptionContext": {"PARAMETER_ARN": None}}),
        _kms("re-list", "ReEncrypt", {"sourceEncryptionContext": [{"PARAMETER_ARN": own}]}),
        _kms("re-other-ctx", "ReEncrypt", {"sourceEncryptionContext": {"aws:ebs:id": "vol-1"}}),
        _kms(
            "re-decoy", "ReEncrypt", {"sourceEncryptionContext": {"PARAMETER_ARN": own.replace("/orders/", "/decoy/")}}
        ),
        _kms("decrypt-ssm", "Decrypt", {"encryptionContext": {"PARAMETER_ARN": own}}, "ssm.amazonaws.com"),
        _kms("re-failed", "ReEncrypt", {"sourceEncryptionContext": {"PARAMETER_ARN": own}}, errorCode="AccessDenied"),
    ]
    path = write_log(tmp_path, records)
    # WHEN replay and hunt judge them, THEN the same events get the same rule and severity
    detector = Detector(allowlist, MemoryState(), Tuning())
    expected = {
        (v.finding.event_id, str(v.finding.rule), str(v.finding.severity))
        for result in replay([path], detector, workers=1)
        for v in result.verdicts
        if v.finding.rule in PER_EVENT_RULES
    }
    found = {
        (v.finding.event_id, str(v.finding.rule), str(v.finding.severity))
        for v in run(allowlist, [path], Scope(), BulkRule()).verdicts
    }
    assert found == expected
    rules = {e: (r, s) for e, r, s in found}
    assert rules["re-arn-out"] == rules["re-res-out"] == ("direct-kms-use", "critical")
    assert rules["re-own"] == rules["re-arn-own"] == ("direct-kms-use", "high")
    assert rules["re-decoy"][0] == "honeytoken"
    assert rules["re-foreign"] == rules["re-two"] == ("direct-kms-use", "critical")  # the parameter's owner differs
    assert rules["ssm-reencrypt"][0] == "unauthorized-read"  # SSM's own, judged by the grants like its Decrypt
    assert not {"ssm-encrypt", "re-other-ctx", "re-list"} & set(rules)


def test_a_read_two_grants_allow_counts_under_the_stricter_in_both(tmp_path) -> None:
    # GIVEN a generous office-only grant of everything listed first, and a plain grant of /app/*
    alice = "arn:aws:iam::111122223333:user/alice"
    office = {"name": "office", "principals": [alice], "parameters": ["/*"], "bulk_threshold": 500}
    office["source_cidrs"] = ["203.0.113.0/24"]
    plain = {"name": "plain", "principals": [alice], "parameters": ["/app/*"]}
    allowlist = validate({"version": 1, "grants": [office, plain]})
    # WHEN alice reads 8 /app parameters from the office (both grants allow them) and 8 /data ones
    start = datetime(2026, 11, 2, 9, 58, tzinfo=UTC)
    records = [_read(f"a{i}", f"/app/p{i}", start + timedelta(seconds=15 * i), "203.0.113.1") for i in range(8)]
    records += [_read(f"d{i}", f"/data/p{i}", start + timedelta(seconds=15 * i), "203.0.113.1") for i in range(8)]
    path = write_log(tmp_path, records)
    # THEN hunt and replay agree, and the /app reads count under the default of 5, the /data ones apart
    _, windows = assert_same(allowlist, [path], BulkRule(threshold=5, window_minutes=10))
    assert windows, "the /app reads are over the default threshold"
