"""Failing closed keeps every honeytoken firing, and the broken-allowlist alert is readable."""

from __future__ import annotations

import json

import pytest

from harness import ALLOWLIST_NAME, LambdaContext, case_event

BROKEN = {
    "yaml": "version: 1\ngrants:\n  - name: [unclosed\n",
    "schema": '{"version": 1, "grants": [{"name": "x", "principals": ["*"], "parameters": ["/a"], '
    '"source_cidrs": ["10.0.0.0/99"]}], "honeytokens": []}',
}


@pytest.fixture
def decoy_prefix(app, monkeypatch):
    """The stack's HoneytokenPrefix, given to the function as a setting (as the template does)."""
    monkeypatch.setenv("HONEYTOKEN_PREFIX", "/decoy/")
    app.runtime.cache_clear()
    return app


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_allowlist_still_fires_every_honeytoken(decoy_prefix, stack, kind) -> None:
    # GIVEN a stored allowlist that does not validate (and, for "schema", names no honeytoken)
    stack.put_allowlist(BROKEN[kind])
    # WHEN someone reads a decoy without decryption
    result = decoy_prefix.lambda_handler(case_event("honeytoken-plain-read"), LambdaContext())
    # THEN the critical honeytoken alert pages, next to the allowlist-invalid one
    rules = {v["rule"]: v for v in result["verdicts"]}
    assert set(rules) == {"allowlist-invalid", "honeytoken"}
    assert rules["honeytoken"]["severity"] == "critical" and rules["honeytoken"]["paged"]
    severities = sorted(a["MessageAttributes"]["severity"]["Value"] for a in stack.alerts())
    assert severities == ["critical", "high"]


def test_a_broken_allowlist_grants_nothing(decoy_prefix, stack) -> None:
    stack.put_allowlist(BROKEN["schema"])
    result = decoy_prefix.lambda_handler(case_event("granted-assumed-role"), LambdaContext())
    assert [v["rule"] for v in result["verdicts"]] == ["allowlist-invalid", "unauthorized-read"]


def test_the_stack_prefix_fires_even_when_the_stored_allowlist_drops_it(decoy_prefix, stack) -> None:
    stack.put_allowlist('{"version": 1, "grants": [], "honeytokens": []}')
    result = decoy_prefix.lambda_handler(case_event("honeytoken-plain-read"), LambdaContext())
    assert [(v["rule"], v["severity"]) for v in result["verdicts"]] == [("honeytoken", "critical")]


def test_the_allowlist_invalid_alert_is_written_for_whoever_fixes_it(decoy_prefix, stack) -> None:
    # GIVEN an allowlist broken in two places, one of them with a value holding a newline
    stack.put_allowlist(
        '{"version": 1, "grants": [{"name": "x", "principals": ["*"], "parameters": ["/a"],'
        ' "source_cidrs": ["10.0.0.0/99"], "hours": {"start": "7:00", "end": "19:00"}}],'
        ' "honeytokens": ["bad\\nline"]}'
    )
    modified = stack.ssm.get_parameter(Name=ALLOWLIST_NAME)["Parameter"]["LastModifiedDate"]
    # WHEN any event arrives
    decoy_prefix.lambda_handler(case_event("wrong-network"), LambdaContext())
    alert = next(a for a in stack.alerts() if a["MessageAttributes"]["rule"]["Value"] == "allowlist-invalid")
    # THEN the subject names the parameter, and the body says what, since when, and how to check a fix
    assert alert["Subject"] == f"paramwatch HIGH allowlist-invalid: {ALLOWLIST_NAME}"
    text = alert["Message"]
    lines = text.splitlines()
    assert f"Parameter:  {ALLOWLIST_NAME}" in lines
    assert f"Since:      {modified.isoformat()} (when the parameter was last written)" in lines
    problems = lines[lines.index("Problems:") + 1 : lines.index("", lines.index("Problems:"))]
    assert any("source_cidrs" in p and "bad CIDR '10.0.0.0/99'" in p for p in problems)
    assert any("hours.start" in p and "HH:MM" in p for p in problems)
    assert len(problems) >= 2 and all(p.startswith("  ") for p in problems)
    assert "  paramwatch check-allowlist allowlist.yaml" in lines
    # AND nothing in the readable part is a JSON escape; everything is printable ASCII
    readable = text[: text.index("Finding (JSON):")]
    assert "\\u00" not in readable and "?" not in alert["Subject"]
    assert all(" " <= c <= "~" for line in lines for c in line)
    assert json.loads(lines[-1])["rule"] == "allowlist-invalid"


def test_the_allowlist_read_uses_adaptive_retries(app, stack) -> None:
    app.lambda_handler(case_event("granted-assumed-role"), LambdaContext())
    client = app.runtime().allowlist.ssm
    assert client.meta.config.retries["mode"] == "adaptive"
