"""The `paramwatch` command: replay and check-allowlist, exit codes and unreadable files."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from paramwatch.cli import main
from paramwatch.cloudtrail import oversize
from support import EVENTS, eventbridge_event, load_case

ALLOWLIST = str(EVENTS / "allowlist.yaml")
ORDERS_API = "arn:aws:iam::111122223333:role/app/orders-api"
TRAIL = EVENTS / "sample-trail"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _nested(depth: int) -> dict:
    node: object = "x"
    for _ in range(depth):
        node = {"a": node}
    return node  # type: ignore[return-value]


# one record nested 1,000 levels deep, as in the issue: msgspec (and json) give up at that depth
DEEP_FILE = b'{"Records": [' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"]}"
# a decrypting read that parses, but nests deeper than paramwatch judges (64 levels)
_ROOT_READ = load_case(EVENTS / "cases" / "root-user.json")["record"]
DEEP_READ_FILE = json.dumps(
    {"Records": [{**_ROOT_READ, "requestParameters": {**_ROOT_READ["requestParameters"], "extra": _nested(80)}}]}
).encode()


def write_trail(path: Path, records: list[dict], *, compress: bool = False) -> Path:
    data = json.dumps({"Records": records}).encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def case_record(name: str) -> dict:
    return load_case(EVENTS / "cases" / f"{name}.json")["record"]


def test_replay_sample_trail_reports_findings_as_jsonl() -> None:
    code, out, err = run("replay", "--allowlist", ALLOWLIST, str(TRAIL))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    expected = [load_case(p) for p in sorted((EVENTS / "cases").glob("*.json"))]
    # every delivered case is in the trail, except one too deep to read (it would make its file
    # unreadable) and those judged as a named stack sees them (replay --stack)
    expected_ids = {
        c["record"]["eventID"]
        for c in expected
        if c["expected"]["rule"]
        and c["delivered_by"] is not None
        and oversize(c["record"]) is None
        and not c.get("stack")
    }
    # learning ends 7 days after the earliest event (2026-01-05), so later granted reads are new pairs
    assert {r["event_id"] for r in rows if r["rule"] != "first-seen"} == expected_ids
    assert all(r["event_time"] >= "2026-01-12T05:30" for r in rows if r["rule"] == "first-seen")
    assert {
        "event_id",
        "rule",
        "severity",
        "principal",
        "parameters",
        "event_time",
        "source_ip",
        "summary",
    } <= set(rows[0])
    assert "2 file(s)" in err


def test_replay_table_format(tmp_path: Path) -> None:
    trail = write_trail(tmp_path / "t.json", [case_record("root-user")])
    code, out, _ = run("replay", "--allowlist", ALLOWLIST, "--format", "table", str(trail))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["PAGE", "SEVERITY", "RULE"]
    assert lines[1].split()[:3] == ["yes", "HIGH", "root-access"]


def test_replay_clean_trail_exits_zero(tmp_path: Path) -> None:
    trail = write_trail(tmp_path / "t.json.gz", [case_record("granted-assumed-role")], compress=True)
    code, out, err = run("replay", "--allowlist", ALLOWLIST, str(trail))
    assert (code, out) == (0, "")
    assert "0 finding(s)" in err


def test_replay_reads_eventbridge_event_files(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps([eventbridge_event(case_record("direct-decrypt"))]))
    code, out, _ = run("replay", "--allowlist", ALLOWLIST, str(path))
    assert code == 1
    assert json.loads(out)["rule"] == "direct-decrypt"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("corrupt.json.gz", b"\x1f\x8b\x08\x00garbage", "corrupt gzip"),
        ("empty.json", b"", "empty file"),
        ("notjson.json", b"{nope", "not JSON"),
        ("other.json", b'{"hello": "world"}', "neither a CloudTrail log file"),
        ("scalar.json", b"42", "not CloudTrail"),
        ("deep.json", DEEP_FILE, "nested too deep"),
        ("deep-read.json", DEEP_READ_FILE, "record 0: the record is nested deeper than 64 levels"),
        ("deep-lines.jsonl", DEEP_FILE + b"\n", "nested too deep"),
    ],
)
def test_unreadable_file_is_named_and_others_still_judged(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    (tmp_path / name).write_bytes(content)
    write_trail(tmp_path / "good.json", [case_record("root-user")])
    code, out, err = run("replay", "--allowlist", ALLOWLIST, str(tmp_path))
    assert code == 2
    assert json.loads(out)["rule"] == "root-access"
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert len(error_lines) == 1
    assert name in error_lines[0] and reason in error_lines[0]


def test_a_gzip_bomb_stops_at_the_size_limit(tmp_path: Path, monkeypatch) -> None:
    from paramwatch import sources

    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 4096)
    (tmp_path / "bomb.json.gz").write_bytes(gzip.compress(b"{" + b" " * 100_000 + b"}"))
    write_trail(tmp_path / "good.json", [case_record("root-user")])
    code, out, err = run("replay", "--allowlist", ALLOWLIST, "--workers", "1", str(tmp_path))
    assert code == 2 and json.loads(out)["rule"] == "root-access"
    assert "bomb.json.gz" in err and "larger than 4096 bytes once decompressed" in err


def test_records_that_are_not_cloudtrail_are_reported(tmp_path: Path) -> None:
    trail = write_trail(tmp_path / "t.json", [{"foo": 1}, "text"])
    code, out, _ = run("replay", "--allowlist", ALLOWLIST, str(trail))
    assert code == 1
    assert [json.loads(line)["rule"] for line in out.splitlines()] == ["invalid-event", "invalid-event"]


def with_id(record: dict, event_id: str) -> dict:
    return {**record, "eventID": event_id}


def test_parallel_and_serial_replay_agree(tmp_path: Path) -> None:
    for i in range(6):
        records = [
            with_id(case_record("root-user"), f"root-{i}"),
            with_id(case_record("granted-assumed-role"), f"ok-{i}"),
        ]
        write_trail(tmp_path / f"f{i}.json", records)
    serial = run("replay", "--allowlist", ALLOWLIST, "--workers", "1", str(tmp_path))
    parallel = run("replay", "--allowlist", ALLOWLIST, "--workers", "2", str(tmp_path))
    assert serial[:2] == parallel[:2]
    rows = [json.loads(line) for line in serial[1].splitlines()]
    assert [r["event_id"] for r in rows] == [f"root-{i}" for i in range(6)]
    # one root read per file, all in one suppression window: the first pages, the rest are held back
    assert [r["paged"] for r in rows] == [True] + [False] * 5


def test_no_input_files_is_an_error(tmp_path: Path) -> None:
    code, _, err = run("replay", "--allowlist", ALLOWLIST, str(tmp_path))
    assert code == 2 and "no input files" in err


def test_check_allowlist_ok_and_broken(tmp_path: Path) -> None:
    code, out, _ = run("check-allowlist", ALLOWLIST)
    assert code == 0 and "7 grant(s), 1 honeytoken(s)" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\ngrants:\n  - {name: g, principals: [p], parameters: [a], source_cidrs: [300.1.1.1/8]}\n"
    )
    code, _, err = run("check-allowlist", str(bad))
    assert code == 2
    assert f"{bad}: grants[0].source_cidrs: [0] bad CIDR '300.1.1.1/8'" in err


def test_replay_with_broken_allowlist_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ngrants: [{name: g}]\n")
    code, _, err = run("replay", "--allowlist", str(bad), str(TRAIL))
    assert code == 2 and "grants[0].principals" in err


def test_jsonl_rows_say_whether_they_page(tmp_path: Path) -> None:
    from support import kms_decrypt, ssm_read

    trail = write_trail(tmp_path / "t.json", [ssm_read("s", ["/billing/k"]), kms_decrypt("k", "/billing/k")])
    write_trail(tmp_path / "u.json", [ssm_read("s", ["/billing/k"])])  # redelivered in another file
    code, out, err = run("replay", "--allowlist", ALLOWLIST, str(trail), str(tmp_path / "u.json"))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert [(r["event_id"], r["paged"]) for r in rows] == [("s", True), ("k", False)]
    assert rows[0]["reason"] is None and rows[1]["reason"].startswith("paired with event s")
    assert "2 finding(s) (2 medium), 1 would page" in err


def test_learn_then_suggest_allowlist(tmp_path: Path) -> None:
    from support import ssm_read

    past = write_trail(
        tmp_path / "past.json",
        [ssm_read(f"p{i}", [name]) for i, name in enumerate(["/platform/a", "/platform/b", "/platform/c/d"])],
    )
    base = tmp_path / "baseline.json"
    code, _, err = run("replay", "--allowlist", ALLOWLIST, "--learn", "--baseline", str(base), str(past))
    assert code == 0 and "baseline of 3 (principal, parameter) pair(s)" in err
    code, out, _ = run("suggest-allowlist", "--baseline", str(base))
    assert code == 0
    import yaml

    from paramwatch.allowlist import validate

    proposed = validate(yaml.safe_load(out))
    assert proposed.grants[0].principals == ["arn:aws:iam::111122223333:user/alice"]
    assert set(proposed.grants[0].parameters) == {"/platform/*", "/platform/c/d"}
    # AND a later replay with that baseline reports only pairs it has not seen
    later = write_trail(tmp_path / "later.json", [ssm_read("n1", ["/platform/a"]), ssm_read("n2", ["/platform/new"])])
    code, out, _ = run("replay", "--allowlist", ALLOWLIST, "--baseline", str(base), "--learning-days", "0", str(later))
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["rule"], r["parameters"]) for r in rows] == [("first-seen", ["/platform/new"])]


def test_tuning_flags_are_validated(tmp_path: Path) -> None:
    code, _, err = run("replay", "--allowlist", ALLOWLIST, "--bulk-threshold", "1", str(TRAIL))
    # one line naming the flag as the user typed it, without pydantic's text or URL
    assert code == 2
    assert err == "paramwatch: error: --bulk-threshold: Input should be greater than or equal to 2\n"


def test_suggest_allowlist_proposes_a_bulk_threshold_from_the_peak(tmp_path: Path) -> None:
    from support import ssm_read

    # GIVEN a nightly sync that decrypts 30 distinct parameters in a few minutes, and a quiet user
    sync = [ssm_read(f"s{i}", [f"/platform/sync/p{i}"], time=f"2026-11-02T02:0{i % 5}:{i:02d}Z") for i in range(30)]
    quiet = [case_record("granted-assumed-role")]  # orders-api, granted, one read
    past = write_trail(tmp_path / "past.json", sync + quiet)
    base = tmp_path / "baseline.json"
    code, _, _ = run("replay", "--allowlist", ALLOWLIST, "--learn", "--baseline", str(base), str(past))
    assert code == 1  # the sync crosses the global BulkThreshold of 20 today
    assert json.loads(base.read_text())["bulk"]["peaks"]["arn:aws:iam::111122223333:user/alice"] == 30
    # WHEN suggest-allowlist reads the baseline
    code, out, _ = run("suggest-allowlist", "--baseline", str(base))
    assert code == 0
    import yaml

    from paramwatch.allowlist import validate

    grants = {g.principals[0]: g for g in validate(yaml.safe_load(out)).grants}
    # THEN the sync's grant carries the peak plus half again, in the window it was seen in
    alice = grants["arn:aws:iam::111122223333:user/alice"]
    assert (alice.bulk_threshold, alice.bulk_window_minutes) == (45, 10)
    # AND a principal far below the global threshold gets none
    assert grants[ORDERS_API].bulk_threshold is None
