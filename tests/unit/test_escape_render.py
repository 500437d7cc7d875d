"""Escaping of attacker-controlled text, and the alert text built from findings."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from paramwatch.allowlist import parse
from paramwatch.detector import Verdict, judge
from paramwatch.escape import safe, unescape
from paramwatch.findings import Finding, Rule, Severity
from paramwatch.render import SUBJECT_LIMIT, body, finding_json, safe_dict, subject
from support import EVENTS, load_case, markup_in_outputs

ALLOWLIST = EVENTS / "allowlist.yaml"

MARKUP = set('<>&`*~|[]"')


@given(st.text(max_size=300))
def test_safe_text_is_printable_ascii_without_markup_and_reversible(text: str) -> None:
    out = safe(text, limit=1000)
    assert out.isascii()
    assert all(unicodedata.category(c)[0] != "C" for c in out)
    assert not MARKUP & set(out.replace('\\"', ""))
    assert unescape(out) == text


def hostile_finding(name: str, agent: str) -> Finding:
    return Finding(
        event_id="e1",
        rule=Rule.UNAUTHORIZED,
        severity=Severity.MEDIUM,
        principal="arn:aws:iam::1:user/bob",
        parameters=(name,),
        event_time="2026-11-02T10:15:00+00:00",
        source_ip="203.0.113.9",
        summary="s",
        user_agent=agent,
    )


@given(st.text(max_size=200), st.text(max_size=200))
def test_alert_text_cannot_forge_lines_or_markup(name: str, agent: str) -> None:
    finding = hostile_finding(name, agent)
    text = body(finding)
    # every line the body has is one we wrote: hostile text adds none
    assert len(text.splitlines()) == len(body(hostile_finding("x", "y")).splitlines())
    assert "<" not in text and ">" not in text
    assert text.isascii()
    subj = subject(finding)
    assert subj.isascii() and len(subj) < 100 and len(subj) <= SUBJECT_LIMIT
    assert all(" " <= c <= "~" for c in subj)
    appendix = json.loads(text.splitlines()[-1])
    assert appendix["parameters"] == [name]
    assert appendix["user_agent"] == agent


def test_body_says_who_what_where_rule_and_next_step() -> None:
    text = body(hostile_finding("/orders/db", "aws-cli/2"))
    for needle in (
        "arn:aws:iam::1:user/bob",
        "/orders/db",
        "203.0.113.9",
        "unauthorized-read",
        "What to do:",
    ):
        assert needle in text


def test_finding_json_is_html_safe() -> None:
    out = finding_json(hostile_finding("</script>&", "ua"))
    assert "<" not in out and "&" not in out
    assert json.loads(out)["parameters"] == ["</script>&"]


def test_safe_dict_escapes_every_string() -> None:
    data = safe_dict(hostile_finding("/a\nb", "ua\u202e"))
    assert data["parameters"] == ["/a\\u000ab"]
    assert data["user_agent"] == "ua\\u202e"


@given(st.text(max_size=120), st.text(max_size=120), st.text(max_size=60))
def test_no_output_carries_live_markup(name: str, agent: str, who: str) -> None:
    # GIVEN a finding whose CloudTrail text (name, user agent, principal) is anything at all
    finding = replace(hostile_finding(name, agent), principal=f"arn:aws:iam::1:user/{who}", source_ip=who)
    # THEN subject, body, table row and jsonl carry no markup character from it
    outputs = markup_in_outputs(Verdict(finding, paged=True))
    assert not {output: found for output, found in outputs.items() if found}


def test_subject_escapes_the_markup_the_issue_reported() -> None:
    finding = judge(load_case(EVENTS / "cases" / "markup-in-name.json")["record"], parse(ALLOWLIST.read_text()))
    text = subject(finding)
    assert text.startswith("paramwatch MEDIUM unauthorized-read: alice /orders/\\u003c!here\\u003e")
    assert not set(text) & set("<>*`[]")


def test_another_accounts_parameter_shows_its_account() -> None:
    allowlist = parse(ALLOWLIST.read_text())
    finding = judge(load_case(EVENTS / "cases" / "other-account-parameter-path-grant.json")["record"], allowlist)
    assert finding.parameters == ("arn:aws:ssm:us-east-1:999988887777:parameter/orders/db-password",)
    assert subject(finding).endswith("orders-api 999988887777:/orders/db-password")
    assert "arn:aws:ssm:us-east-1:999988887777:parameter/orders/db-password" in body(finding)
