"""Grants that teams own: owner, reason and expiry; pieces merged from files; stale grants."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from paramwatch.allowlist import AllowlistError, validate
from paramwatch.cli import main
from paramwatch.pieces import Piece, file_pieces, merge, merge_with_origins
from paramwatch.review import review, stale
from support import EVENTS, ssm_read

ALLOWLIST = str(EVENTS / "allowlist.yaml")


def run(*argv: str) -> tuple[int, str, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def grant(name: str, **extra: object) -> dict:
    return {"name": name, "principals": ["arn:aws:iam::1:user/a"], "parameters": [f"/{name}/*"], **extra}


def doc(*grants: dict, honeytokens: list[str] | None = None) -> str:
    return json.dumps({"version": 1, "grants": list(grants), "honeytokens": honeytokens or []})


def test_owner_reason_and_expiry_are_part_of_the_schema() -> None:
    loaded = validate({"version": 1, "grants": [grant("a", owner="team-a", reason="why", expires="2026-12-01")]})
    assert loaded.grants[0].expires == date(2026, 12, 1)
    with pytest.raises(AllowlistError) as caught:
        validate({"version": 1, "grants": [grant("a", expires="2026-12-01T10:00:00Z")]})
    assert any(p.startswith("grants[0].expires:") and "YYYY-MM-DD" in p for p in caught.value.problems)
    with pytest.raises(AllowlistError) as caught:
        validate({"version": 1, "grants": [grant("a", owner="")]})
    assert any(p.startswith("grants[0].owner:") for p in caught.value.problems)


def test_review_warns_on_expiry_within_14_days_expired_and_no_owner() -> None:
    loaded = validate(
        {
            "version": 1,
            "grants": [
                grant("soon", owner="t", expires="2026-12-10"),
                grant("later", owner="t", expires="2026-12-13"),
                grant("gone", owner="t", expires="2026-11-28"),
                grant("orphan"),
            ],
        }
    )
    remarks = {(r.grant, r.expired): r.text for r in review(loaded, date(2026, 11, 28))}
    assert remarks[("soon", False)].startswith("expires on 2026-12-10 (in 12 day(s))")
    assert ("later", False) not in remarks  # 15 days away
    assert "expired on 2026-11-28" in remarks[("gone", True)]
    assert "no owner" in remarks[("orphan", False)]


def test_check_allowlist_warns_and_strict_fails_on_expired(tmp_path: Path) -> None:
    piece = tmp_path / "a.json"
    piece.write_text(doc(grant("gone", owner="t", expires="2026-11-01"), grant("orphan")))
    code, out, err = run("check-allowlist", "--today", "2026-11-28", str(piece))
    assert code == 0 and "2 grant(s)" in out and "2 warning(s)" in out
    assert f"paramwatch: warning: {piece}: grant 'gone': expired on 2026-11-01" in err
    assert f"paramwatch: warning: {piece}: grant 'orphan': has no owner" in err
    code, out, err = run("check-allowlist", "--strict", "--today", "2026-11-28", str(piece))
    assert code == 2 and f"paramwatch: error: {piece}: grant 'gone'" in err
    assert out == f"{piece}: refused by --strict, 1 expired grant(s), 2 grant(s), 0 honeytoken(s), 1 warning(s)\n"
    # AND --strict passes an allowlist whose grants are only unowned or expiring later
    piece.write_text(doc(grant("orphan"), grant("soon", owner="t", expires="2026-12-01")))
    code, _, err = run("check-allowlist", "--strict", "--today", "2026-11-28", str(piece))
    assert code == 0 and "expires on 2026-12-01 (in 3 day(s))" in err


def test_pieces_merge_grants_and_honeytokens() -> None:
    merged = merge(
        [
            Piece("main", doc(grant("a"), honeytokens=["/decoy/*"])),
            Piece("/paramwatch/s/grants/b", doc(grant("b"), honeytokens=["/decoy/*", "/trap/*"])),
        ]
    )
    assert [g.name for g in merged.grants] == ["a", "b"]
    assert merged.honeytokens == ["/decoy/*", "/trap/*"]
    assert merged.grants_for("arn:aws:iam::1:user/a") == merged.grants


def test_duplicate_grant_name_fails_closed_naming_both_pieces() -> None:
    with pytest.raises(AllowlistError) as caught:
        merge([Piece("team-a.yaml", doc(grant("shared"))), Piece("team-b.yaml", doc(grant("shared")))])
    assert caught.value.problems == ["team-b.yaml: grant name 'shared' is also defined in team-a.yaml"]


def test_account_names_merge_and_a_renamed_account_is_a_conflict() -> None:
    a = {"version": 1, "accounts": {"111122223333": "prod"}}
    b = {"version": 1, "accounts": {"111122223333": "prod", "444455556666": "partner"}}
    merged = merge([Piece("a.yaml", json.dumps(a)), Piece("b.yaml", json.dumps(b))])
    assert merged.accounts == {"111122223333": "prod", "444455556666": "partner"}
    c = {"version": 1, "accounts": {"111122223333": "staging"}}
    with pytest.raises(AllowlistError) as caught:
        merge([Piece("a.yaml", json.dumps(a)), Piece("c.yaml", json.dumps(c))])
    assert caught.value.problems == ["c.yaml: account 111122223333 is named 'staging' here but 'prod' in a.yaml"]


def test_every_bad_piece_is_named() -> None:
    with pytest.raises(AllowlistError) as caught:
        merge([Piece("a.yaml", '{"version": 2}'), Piece("b.yaml", doc(grant("ok"))), Piece("c.yaml", "[1]")])
    problems = caught.value.problems
    assert any(p.startswith("a.yaml: version:") for p in problems)
    assert any(p.startswith("c.yaml: (document): must be a mapping") for p in problems)
    assert not any(p.startswith("b.yaml") for p in problems)


def test_no_piece_at_all_is_an_error() -> None:
    with pytest.raises(AllowlistError, match="no allowlist document"):
        merge([])


def test_origins_name_each_grants_piece() -> None:
    merged = merge_with_origins((Piece("x.yaml", doc(grant("a"))), Piece("y.yaml", doc(grant("b")))))
    assert merged.origins == {"a": "x.yaml", "b": "y.yaml"}


def test_directory_pieces_are_read_sorted_and_other_files_ignored(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("version: 1\ngrants: []\n")
    (tmp_path / "a.json").write_text(doc(grant("a")))
    (tmp_path / "README.md").write_text("not a piece")
    assert [Path(p.source).name for p in file_pieces([tmp_path])] == ["a.json", "b.yaml"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AllowlistError, match="holds no"):
        file_pieces([empty])


def test_cli_takes_repeated_allowlists_and_directories(tmp_path: Path) -> None:
    teams = tmp_path / "teams"
    teams.mkdir()
    (teams / "billing.yaml").write_text(
        "version: 1\ngrants:\n  - {name: billing, owner: pay, principals: ['arn:aws:iam::111122223333:user/alice'],"
        " parameters: ['/billing/*']}\n"
    )
    trail = tmp_path / "t.json"
    trail.write_text(json.dumps({"Records": [ssm_read("b1", ["/billing/k"])]}))
    code, out, _ = run("replay", "--allowlist", ALLOWLIST, str(trail))
    assert code == 1 and json.loads(out.splitlines()[0])["rule"] == "unauthorized-read"
    code, out, err = run("replay", "--allowlist", ALLOWLIST, "--allowlist", str(teams), str(trail))
    assert code == 0 and out == "", err
    code, out, _ = run("check-allowlist", "--today", "2026-10-01", ALLOWLIST, str(teams))
    assert code == 0 and "8 grant(s)" in out


def test_cli_conflict_between_files_is_an_error_naming_both(tmp_path: Path) -> None:
    clash = tmp_path / "clash.json"
    clash.write_text(doc(grant("orders-api", owner="someone-else")))
    for argv in (
        ["check-allowlist", ALLOWLIST, str(clash)],
        ["replay", "--allowlist", ALLOWLIST, "--allowlist", str(clash), str(clash)],
    ):
        code, _, err = run(*argv)
        assert code == 2
        assert f"{clash}: grant name 'orders-api' is also defined in {ALLOWLIST}" in err


def test_expired_grant_allows_nothing_and_names_itself_in_the_finding(tmp_path: Path) -> None:
    piece = tmp_path / "a.json"
    piece.write_text(
        doc({**grant("alice", owner="t", expires="2026-11-02"), "principals": ["arn:aws:iam::111122223333:user/alice"]})
    )
    trail = tmp_path / "t.json"
    trail.write_text(
        json.dumps(
            {
                "Records": [
                    ssm_read("before", ["/alice/k"], "2026-11-01T23:59:59Z"),
                    ssm_read("after", ["/alice/k"], "2026-11-02T00:00:00Z"),
                ]
            }
        )
    )
    code, out, _ = run("replay", "--allowlist", str(piece), str(trail))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and [r["event_id"] for r in rows] == ["after"]
    assert rows[0]["near_miss"]["grant"] == "alice" and rows[0]["near_miss"]["condition"] == "expired"
    assert "expired on 2026-11-02" in rows[0]["summary"]


def test_stale_grants() -> None:
    loaded = validate({"version": 1, "grants": [grant("used"), grant("idle", owner="t")]})
    assert [(r.grant, r.text) for r in stale(loaded, {"used"}, {"idle": "p.yaml"})] == [
        ("idle", "allowed no decrypting read in the replayed period (stale)")
    ]
    assert stale(loaded, {"used"}, {"idle": "p.yaml"})[0].line().startswith("p.yaml: grant 'idle'")


def test_replay_with_baseline_reports_stale_grants(tmp_path: Path) -> None:
    trail = tmp_path / "t.json"
    trail.write_text(json.dumps({"Records": [ssm_read("p1", ["/platform/a"])]}))
    base = tmp_path / "baseline.json"
    code, _, err = run("replay", "--allowlist", ALLOWLIST, "--learn", "--baseline", str(base), str(trail))
    assert code == 0
    stale_lines = [line for line in err.splitlines() if line.startswith("paramwatch: stale:")]
    assert {line.split("grant '")[1].split("'")[0] for line in stale_lines} == {
        "orders-api",
        "ci-deploy",
        "partner-feed",
        "billing-migration",
        "nightly-batch",
        "stack-deploys",
    }
    # AND without a baseline, replay says nothing about stale grants
    code, _, err = run("replay", "--allowlist", ALLOWLIST, str(trail))
    assert "stale" not in err


def test_a_grant_is_stale_unless_it_let_a_decrypting_read_through_without_a_finding(tmp_path: Path) -> None:
    # GIVEN a grant of everything to alice, who only read a parameter without decryption (no grant
    # needed) and decrypted a decoy (an alert with or without the grant)
    allowlist = tmp_path / "a.yaml"
    alice = "arn:aws:iam::111122223333:user/alice"
    allowlist.write_text(
        json.dumps(
            {"version": 1, "grants": [grant("all", principals=[alice], parameters=["/*"])], "honeytokens": ["/decoy/*"]}
        )
    )
    plain = ssm_read("plain", ["/app/a"])
    plain["requestParameters"]["withDecryption"] = False
    trail = tmp_path / "t.json"
    trail.write_text(json.dumps({"Records": [plain, ssm_read("decoy", ["/decoy/x"])]}))
    code, _, err = run(
        "replay", "--allowlist", str(allowlist), "--learn", "--baseline", str(tmp_path / "b.json"), str(trail)
    )
    # THEN removing the grant would change no verdict: it is a candidate for removal
    assert code == 1 and "grant 'all': allowed no decrypting read" in err
