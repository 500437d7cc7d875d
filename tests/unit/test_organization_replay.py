"""Replay over an organization trail as it lies in S3, and EventBridge envelopes from member accounts."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import yaml

from paramwatch.cli import main
from support import ORG_ACCOUNTS, ORG_REGIONS, org_envelope, org_read

A, B, C = ORG_ACCOUNTS
EAST, WEST = ORG_REGIONS
ORG = "o-a1b2c3d4e5"


def write_org_trail(root: Path) -> None:
    """AWSLogs/o-xxxx/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_..._x.json.gz"""
    for account in ORG_ACCOUNTS:
        for region in ORG_REGIONS:
            records = [
                # the same role name in every account reads 8 secrets: 48 reads, no bulk sweep
                *(org_read(f"{account}-{region}-{i}", account, region, f"/app/{i}") for i in range(8)),
                # and someone touches the decoy in each account of us-east-1
                *([org_read(f"{account}-decoy", account, region, "/decoy/db")] if region == EAST else []),
            ]
            folder = root / "AWSLogs" / ORG / account / "CloudTrail" / region / "2026" / "11" / "02"
            folder.mkdir(parents=True)
            name = f"{account}_CloudTrail_{region}_20261102T1015Z_a1.json.gz"
            (folder / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))


def allowlist_file(tmp_path: Path) -> Path:
    path = tmp_path / "allowlist.yaml"
    grant = {"name": "reader", "principals": ["arn:aws:iam::*:role/app/reader"], "parameters": ["/app/*"]}
    document = {"version": 1, "grants": [grant], "honeytokens": ["/decoy/*"], "accounts": {B: "payments-prod"}}
    path.write_text(yaml.safe_dump(document))
    return path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_replay_reads_an_organization_trail(tmp_path: Path) -> None:
    # GIVEN an organization trail of 3 accounts x 2 regions, and one grant for the role in every account
    write_org_trail(tmp_path / "trail")
    rules = allowlist_file(tmp_path)
    # WHEN replay judges the whole prefix
    code, out, err = run("replay", "--allowlist", str(rules), "--learning-days", "0", str(tmp_path / "trail"))
    rows = [json.loads(line) for line in out.splitlines()]
    # THEN the only findings are the three decoy reads, one per account, each paging on its own
    honeytokens = [r for r in rows if r["rule"] == "honeytoken"]
    assert sorted((r["account"], r["region"], r["paged"]) for r in honeytokens) == [
        (A, EAST, True),
        (B, EAST, True),
        (C, EAST, True),
    ]
    assert {r["account_name"] for r in honeytokens} == {None, "payments-prod"}
    assert not [r for r in rows if r["rule"] == "bulk-retrieval"], "48 reads by 3 principals is no sweep"
    # AND the summary counts the accounts and regions it read
    assert "in 3 account(s) and 2 region(s)" in err
    assert code == 1


def test_replay_table_shows_account_and_region(tmp_path: Path) -> None:
    write_org_trail(tmp_path / "trail")
    _, out, _ = run(
        "replay", "--allowlist", str(allowlist_file(tmp_path)), "--format", "table", str(tmp_path / "trail")
    )
    header, *rows = out.splitlines()
    assert "ACCOUNT" in header and "REGION" in header
    assert any("payments-prod" in row and EAST in row for row in rows)
    assert any(C in row for row in rows)


def test_replay_reads_eventbridge_envelopes_from_several_accounts(tmp_path: Path) -> None:
    # GIVEN events as the central bus received them; the last, a call into C by a role of A, lacks
    # its recipient, so only the envelope says it happened in C
    events = [org_envelope(org_read(f"e-{a}-{r}", a, r, "/other/secret")) for a in ORG_ACCOUNTS for r in ORG_REGIONS]
    events[-1] = org_envelope(org_read("e-gap", C, WEST, "/other/secret", caller=A))
    del events[-1]["detail"]["recipientAccountId"]
    path = tmp_path / "central-bus.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    _, out, err = run("replay", "--allowlist", str(allowlist_file(tmp_path)), str(path))
    rows = [json.loads(line) for line in out.splitlines()]
    # THEN each ungranted read is reported where it happened, the envelope filling the gap
    assert sorted((r["account"], r["region"]) for r in rows if r["rule"] == "unauthorized-read") == sorted(
        (a, r) for a in ORG_ACCOUNTS for r in ORG_REGIONS
    )
    assert "in 3 account(s) and 2 region(s)" in err
