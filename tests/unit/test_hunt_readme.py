"""Every `paramwatch hunt` command of the README's "Hunting over your trail archive", run through
the real argument parser against the sample files, with the README's own who-read-prod.yaml."""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil

import pytest
import sqlglot

from paramwatch.cli import main
from support import EVENTS, ROOT

pytest.importorskip("duckdb")


def section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Hunting over your trail archive")
    return text[start : text.index("\n## ", start + 1)]


def commands() -> list[str]:
    """`paramwatch hunt` lines of the section's sh blocks (continuations joined) and inline code."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", section(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("paramwatch hunt"):
                found.append(line)
    found += re.findall(r"`(paramwatch hunt --engine duckdb --allowlist who-read-prod\.yaml[^`]*)`", section())
    return found


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(argv, out=out, err=err), out.getvalue(), err.getvalue()


def read(event_id: str, params: dict, name: str = "GetParameter") -> dict:
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/mallory",
            "accountId": "111122223333",
        },
        "eventTime": "2026-03-05T10:00:00Z",
        "eventSource": "ssm.amazonaws.com",
        "eventName": name,
        "awsRegion": "eu-central-1",
        "sourceIPAddress": "203.0.113.9",
        "requestParameters": params,
        "eventID": event_id,
        "recipientAccountId": "111122223333",
    }


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    shutil.copy(EVENTS / "allowlist.yaml", tmp_path / "allowlist.yaml")
    yaml_block = re.search(r"```yaml\n# who-read-prod.yaml\n(.*?)```", section(), re.S).group(1)
    (tmp_path / "who-read-prod.yaml").write_text(yaml_block)
    shutil.copytree(EVENTS / "sample-trail", tmp_path / "trail")
    prod = [
        read("prod-decrypted", {"name": "/prod/db-password", "withDecryption": True}),
        read("prod-arn-plain", {"name": "arn:aws:ssm:eu-central-1:111122223333:parameter/prod/api:3"}),
        read("not-prod", {"name": "/production/x", "withDecryption": True}),
        read("root-path", {"path": "/", "recursive": True}, "GetParametersByPath"),
    ]
    (tmp_path / "trail" / "prod.json").write_text(json.dumps({"Records": prod}))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_section_has_the_commands_it_promises() -> None:
    found = commands()
    assert any("--ddl" in c for c in found)
    assert any("who-read-prod.yaml" in c and "--engine duckdb" not in c for c in found)
    assert any("--engine duckdb" in c for c in found)


def test_every_hunt_command_runs(workdir) -> None:
    for command in commands():
        argv = shlex.split(command.split(" > ")[0])[1:]
        code, out, err = run(argv)
        assert code in (0, 1), (command, err)
        if "--ddl" in argv:
            assert out.startswith("CREATE EXTERNAL TABLE")
        elif "--engine" not in argv:
            sqlglot.parse_one(out.strip().rstrip(";"), read="trino")
        else:
            rows = [line for line in out.splitlines()[1:] if line]
            # every read of /prod/*, decrypted or not, and by-path reads of / that may return them
            assert rows and all(" honeytoken " in r for r in rows)
            mallory = [r for r in rows if "user/mallory" in r]
            assert len(mallory) == 3 and "/production" not in out
            assert all(r.endswith("-> /") for r in rows if r not in mallory)
    code, _, err = run(shlex.split(commands()[1].split(" > ")[0])[1:])
    assert "estimated scan" in err
