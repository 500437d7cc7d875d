"""The command line never shows a traceback: each bad input is one clear line and a documented exit code.

Exit codes (README, "Replay"): 0 done and nothing found, 1 findings printed, 2 an error named on one
line. The property test at the end draws argument vectors from the documented options with random
values and random files, and asserts exactly that.
"""

from __future__ import annotations

import io
import json
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paramwatch.cli import main
from support import EVENTS, load_case

ALLOWLIST = str(EVENTS / "allowlist.yaml")
TRAIL = str(EVENTS / "sample-trail")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_learn_without_a_baseline_is_an_error() -> None:
    code, out, err = run("replay", "--allowlist", ALLOWLIST, "--learn", TRAIL)
    assert (code, out) == (2, "")
    assert err == "paramwatch: error: --learn writes the pairs it sees to a baseline: give --baseline FILE\n"


def test_a_baseline_that_cannot_be_written_is_refused_before_the_replay(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "dir" / "b.json"
    code, out, err = run("replay", "--allowlist", ALLOWLIST, "--learn", "--baseline", str(target), TRAIL)
    assert (code, out) == (2, "")  # no findings printed first, so no script reads exit 1 as "findings"
    assert err.count("\n") == 1 and "cannot write the baseline" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["check-allowlist", "deploy-args"])
def test_a_yaml_syntax_error_is_one_line_with_its_place(tmp_path: Path, command: str) -> None:
    path = tmp_path / "allowlist.yaml"
    path.write_text("version: 1\ngrants:\n  - name: x\n bad: 1\n")
    code, out, err = run(command, str(path))
    assert (code, out) == (2, "")
    problems = [line for line in err.splitlines() if str(path) in line]
    assert problems == [f"  {path}: (document): not valid YAML or JSON: line 4, column 2: did not find expected key"]
    assert "<unicode string>" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["redrive", "--stack", "paramwatch"],
        ["allowlist", "push", "--stack", "paramwatch", "."],
        ["doctor", "--stack", "paramwatch"],
    ],
    ids=lambda argv: argv[0],
)
def test_commands_that_call_aws_say_in_one_line_that_there_are_no_credentials(
    argv: list[str], monkeypatch, tmp_path: Path
) -> None:
    # GIVEN no credentials anywhere botocore looks (environment, files, instance metadata)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.chdir(tmp_path)
    # WHEN a command that talks to AWS runs
    code, out, err = run(*argv)
    # THEN one line says so, exit 2, and nothing claims a result (no "queues are empty")
    assert (code, out) == (2, ""), (out, err)
    assert err.count("\n") == 1 and "Unable to locate credentials" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "not a paramwatch baseline (not JSON"),
        ('{"pairs": [{"principal": 1}]}', "pairs[0] needs a 'principal' and a 'parameter' string"),
        ('{"pairs": [], "bulk": {"peaks": {"a": "many"}}}', "must be a number of parameters"),
        ("[]", "no 'pairs' list"),
    ],
)
def test_a_malformed_baseline_is_named_with_its_file(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(content)
    for argv in (
        ["replay", "--allowlist", ALLOWLIST, "--baseline", str(path), TRAIL],
        ["suggest-allowlist", "--baseline", str(path)],
    ):
        code, _, err = run(*argv)
        assert code == 2, argv
        assert err.startswith(f"paramwatch: error: {path}: ") and says in err, err
        assert err.count("\n") == 1


def test_suggest_allowlist_carries_the_honeytokens_over(tmp_path: Path) -> None:
    baseline = tmp_path / "b.json"
    assert run("replay", "--allowlist", ALLOWLIST, "--learn", "--baseline", str(baseline), TRAIL)[0] in {0, 1}
    mine = tmp_path / "mine.yaml"
    mine.write_text("version: 1\nhoneytokens: ['/canary/*', '/decoy/*']\n")
    code, out, _ = run("suggest-allowlist", "--baseline", str(baseline), "--allowlist", str(mine))
    assert code == 0
    assert yaml.safe_load(out)["honeytokens"] == ["/canary/*", "/decoy/*"]
    # without --allowlist: the template's default prefix, and a comment that says so
    code, out, _ = run("suggest-allowlist", "--baseline", str(baseline))
    assert yaml.safe_load(out)["honeytokens"] == ["/decoy/*"] and "pass --allowlist" in out
    # AND a decoy read replayed against the proposal is still critical
    proposal = tmp_path / "proposed.yaml"
    proposal.write_text(out)
    decoy = tmp_path / "decoy.json"
    decoy.write_text(json.dumps({"Records": [load_case(EVENTS / "cases" / "honeytoken-plain-read.json")["record"]]}))
    code, out, _ = run("replay", "--allowlist", str(proposal), str(decoy))
    assert code == 1 and json.loads(out)["severity"] == "critical"


def test_the_table_stays_aligned_on_long_sources(tmp_path: Path) -> None:
    records = []
    for i, source in enumerate(["203.0.113.9", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "ec2.amazonaws.com"]):
        record = load_case(EVENTS / "cases" / "wrong-network.json")["record"]
        records.append({**record, "eventID": f"long-{i}", "sourceIPAddress": source})
    trail = tmp_path / "t.json"
    trail.write_text(json.dumps({"Records": records}))
    code, out, _ = run("replay", "--allowlist", ALLOWLIST, "--format", "table", str(trail))
    lines = out.splitlines()
    assert code == 1 and len(lines) == 4
    column = lines[0].index("PRINCIPAL")
    assert all(line[column:].startswith("arn:aws:iam::") for line in lines[1:])


def test_identity_types_read_as_english(tmp_path: Path) -> None:
    record = load_case(EVENTS / "cases" / "no-identity.json")["record"]
    record = {**record, "userIdentity": {"type": "Unknown", "accountId": "111122223333"}}
    trail = tmp_path / "t.json"
    trail.write_text(json.dumps({"Records": [record]}))
    _, out, _ = run("replay", "--allowlist", ALLOWLIST, str(trail))
    summary = json.loads(out)["summary"]
    assert "from an Unknown identity" in summary and "a Unknown" not in summary


def test_replay_help_names_every_input_it_reads(capsys) -> None:
    assert main(["replay", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "EventBridge events" in text and ".jsonl" in text and ".json.gz" in text
    assert "exit codes: 0" in text


# ---------------------------------------------------------------- property: no traceback, ever

TEXT = st.text(alphabet=string.printable + "é\u2028\x00", max_size=12)
NUMBERS = st.sampled_from(["0", "-1", "1", "2", "7", "128", "10241", "nan", "inf", "-inf", "1e309", "0.5", "x", ""])
CONTENTS = st.sampled_from(
    [
        "",
        "{",
        "[]",
        "null",
        '{"Records": []}',
        '{"Records": [{}]}',
        '{"Records": "x"}',
        '{"pairs": []}',
        '{"pairs": [{"principal": "a", "parameter": "/b"}], "bulk": {"peaks": {"a": 3}, "threshold": 0}}',
        "version: 1\n",
        "version: 1\ngrants: [{name: a}]\n",
        "version: 2\n",
        "\xff\xfe garbage",
        (EVENTS / "allowlist.yaml").read_text(),
        json.dumps({"Records": [load_case(EVENTS / "cases" / "root-user.json")["record"]]}),
        json.dumps(load_case(EVENTS / "cases" / "direct-decrypt.json")["record"]) + "\n{",
    ]
)
COMMANDS = {
    "replay": (
        ["--allowlist", "--format", "--workers", "--baseline", "--bulk-threshold", "--suppression-minutes"],
        ["--learn"],
    ),
    "check-allowlist": (["--today"], ["--strict"]),
    "deploy-args": (["--output"], []),
    "suggest-allowlist": (["--baseline", "--allowlist"], []),
    "cost": (["--reads-per-second", "--violation-share", "--memory-mb"], ["--customer-managed-key"]),
    "schema": ([], []),
}


@st.composite
def argv_and_files(draw: st.DrawFn) -> tuple[list[str], dict[str, str]]:
    command = draw(st.sampled_from(sorted(COMMANDS)))
    valued, flags = COMMANDS[command]
    files = {f"f{i}": draw(CONTENTS) for i in range(3)}
    names = [*files, "missing", "."]
    argv = [command]
    for option in draw(st.lists(st.sampled_from(valued), max_size=4)) if valued else []:
        argv += [option, draw(st.one_of(st.sampled_from(names), NUMBERS, TEXT))]
    argv += [flag for flag in flags if draw(st.booleans())]
    if command in {"replay", "check-allowlist", "deploy-args"}:
        argv += draw(st.lists(st.sampled_from(names), max_size=2))
    return argv, files


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=argv_and_files())
def test_no_argument_vector_or_file_gives_a_traceback(tmp_path_factory, monkeypatch, capsys, case) -> None:
    argv, files = case
    folder = tmp_path_factory.mktemp("cli")
    for name, content in files.items():
        (folder / name).write_bytes(content.encode("utf-8", "surrogatepass"))
    monkeypatch.chdir(folder)
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, *(["--workers", "1"] if argv[0] == "replay" else [])], out=out, err=err)
    captured = capsys.readouterr()
    assert code in {0, 1, 2}, (argv, err.getvalue())
    for text in (err.getvalue(), captured.err, out.getvalue()):
        assert "Traceback" not in text, (argv, text)
