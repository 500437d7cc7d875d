"""`paramwatch allowlist push --stack NAME DIR` against moto's SSM: validate everything, then write."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest

from harness import REGION
from paramwatch.cli import main
from paramwatch.pieces import Piece, merge

STACK = "prod-watch"
MAIN = f"/paramwatch/{STACK}/allowlist"
GRANTS = f"/paramwatch/{STACK}/grants"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def ssm(aws):
    client = boto3.client("ssm", region_name=REGION)
    client.put_parameter(
        Name=MAIN,
        Type="String",
        Value=json.dumps(
            {
                "version": 1,
                "grants": [{"name": "core", "principals": ["arn:aws:iam::1:role/c"], "parameters": ["/c/*"]}],
            }
        ),
    )
    return client


def piece(directory: Path, name: str, grant: str, **extra: object) -> Path:
    path = directory / name
    path.write_text(
        "version: 1\ngrants:\n"
        f"  - name: {grant}\n    owner: team-{grant}\n    principals: ['arn:aws:iam::1:role/{grant}']\n"
        f"    parameters: ['/{grant}/*']\n" + "".join(f"    {k}: {v}\n" for k, v in extra.items())
    )
    return path


def stored(ssm) -> dict[str, str]:
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=GRANTS, Recursive=False)
    return {p["Name"]: p["Value"] for page in pages for p in page["Parameters"]}


def test_push_writes_one_json_parameter_per_file(ssm, tmp_path: Path) -> None:
    piece(tmp_path, "billing.yaml", "billing", expires="2027-01-31")
    piece(tmp_path, "orders.yml", "orders")
    (tmp_path / "notes.txt").write_text("ignored")
    code, out, err = run("allowlist", "push", "--stack", STACK, "--region", REGION, str(tmp_path))
    assert code == 0, err
    assert f"{GRANTS}/billing: written" in out and f"{GRANTS}/orders: written" in out
    pieces = stored(ssm)
    assert set(pieces) == {f"{GRANTS}/billing", f"{GRANTS}/orders"}
    billing = json.loads(pieces[f"{GRANTS}/billing"])
    assert billing["grants"][0]["expires"] == "2027-01-31" and billing["grants"][0]["owner"] == "team-billing"
    # AND the evaluator's merge of what is stored holds every grant
    main_text = ssm.get_parameter(Name=MAIN)["Parameter"]["Value"]
    merged = merge([Piece(MAIN, main_text), *(Piece(n, v) for n, v in sorted(pieces.items()))])
    assert [g.name for g in merged.grants] == ["core", "billing", "orders"]


def test_one_invalid_piece_writes_nothing(ssm, tmp_path: Path) -> None:
    piece(tmp_path, "billing.yaml", "billing")
    bad = piece(tmp_path, "orders.yaml", "orders", source_cidrs="['10.0.0.0/33']")
    code, out, err = run("allowlist", "push", "--stack", STACK, "--region", REGION, str(tmp_path))
    assert code == 2 and out == ""
    assert "nothing written" in err and f"{bad}: grants[0].source_cidrs: [0] bad CIDR" in err
    assert stored(ssm) == {}


def test_a_conflict_with_the_main_allowlist_writes_nothing_and_names_both(ssm, tmp_path: Path) -> None:
    clash = piece(tmp_path, "rogue.yaml", "core")
    piece(tmp_path, "fine.yaml", "fine")
    code, _, err = run("allowlist", "push", "--stack", STACK, "--region", REGION, str(tmp_path))
    assert code == 2 and f"{clash}: grant name 'core' is also defined in {MAIN}" in err
    assert stored(ssm) == {}


def test_a_piece_may_replace_its_own_stored_version_but_not_clash_with_another(ssm, tmp_path: Path) -> None:
    old = {
        "version": 1,
        "grants": [{"name": "payments", "principals": ["arn:aws:iam::1:role/p"], "parameters": ["/p/*"]}],
    }
    ssm.put_parameter(Name=f"{GRANTS}/payments", Type="String", Value=json.dumps(old))
    piece(tmp_path, "payments.yaml", "payments")  # the same team pushing a new version: fine
    assert run("allowlist", "push", "--stack", STACK, "--region", REGION, str(tmp_path))[0] == 0
    other = tmp_path / "other"
    other.mkdir()
    clash = piece(other, "thief.yaml", "payments")
    code, _, err = run("allowlist", "push", "--stack", STACK, "--region", REGION, str(other))
    assert code == 2 and f"{clash}: grant name 'payments' is also defined in {GRANTS}/payments" in err
    assert set(stored(ssm)) == {f"{GRANTS}/payments"}


def test_a_stack_that_is_not_there_is_one_clear_line(aws, tmp_path: Path) -> None:
    piece(tmp_path, "a.yaml", "a")
    code, _, err = run("allowlist", "push", "--stack", "nope", "--region", REGION, str(tmp_path))
    assert (
        code == 2
        and err.strip() == "paramwatch: error: /paramwatch/nope/allowlist not found: is stack 'nope' deployed here?"
    )


def test_file_names_must_name_parameters(ssm, tmp_path: Path) -> None:
    piece(tmp_path, "team x.yaml", "x")
    code, _, err = run("allowlist", "push", "--stack", STACK, "--region", REGION, str(tmp_path))
    assert code == 2 and "cannot name a parameter" in err and stored(ssm) == {}
