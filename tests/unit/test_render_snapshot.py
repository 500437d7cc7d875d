"""The alert, table and JSON texts, pinned character for character for a spread of findings.

People read these at 3 a.m. and programs parse them; a change to any of them should be a decision,
seen in review as a change to tests/unit/snapshots/render.txt (regenerate with
`PARAMWATCH_SNAPSHOT=write pytest tests/unit/test_render_snapshot.py`, then read the diff).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from paramwatch.detector import Verdict, judge
from paramwatch.findings import Caller, Finding, NearMiss, Rule, Severity
from paramwatch.render import alert_text, body, safe_dict, subject, table, verdict_json
from support import EVENTS, load_case

SNAPSHOT = Path(__file__).parent / "snapshots" / "render.txt"
CASES = [
    "wrong-network",
    "sso-user-ungranted",
    "cross-account-ungranted",
    "denied-attempt",
    "names-list-partly-granted",
    "hidden-name",
    "ssm-made-decrypt-ungranted",
    "direct-decrypt",
    "root-assumed-session",
    "by-path-root-holds-decoys",
]


def findings(sample_allowlist) -> list[Finding]:
    out = []
    for name in CASES:
        record = load_case(EVENTS / "cases" / f"{name}.json")["record"]
        finding = judge(record, sample_allowlist)
        assert finding is not None, name
        # the summary and the near miss are the rules' words, pinned by their own tests
        near = NearMiss("g", "team@example.com", "network", "203.0.113.9", "grant 'g' needs the endpoint.")
        out.append(
            replace(finding, summary=f"[{finding.rule}] about {name}", near_miss=near if finding.near_miss else None)
        )
    many = replace(out[0], parameters=tuple(f"/orders/p{i}" for i in range(5)), event_id="many")
    broken = Finding(
        event_id="allowlist:/paramwatch/x/allowlist",
        rule=Rule.ALLOWLIST_INVALID,
        severity=Severity.HIGH,
        principal=None,
        parameters=("/paramwatch/x/allowlist",),
        event_time="2026-11-02T10:15:00+00:00",
        source_ip=None,
        summary="[allowlist-invalid] grants.0.source_cidrs: bad CIDR",
        problems=("grants[0].source_cidrs[0]: bad CIDR '10.0.0.0/99'\n  near: 10.0.0.0/99", "honeytokens: not a list"),
    )
    # edges: 40 and 42 problem lines, lines of 300 and 301 characters, a tilde and a tab, two
    # parameters and no time; a principal name and a user agent longer than their limits
    lines = [f"problem {i}" for i in range(38)] + ["x" * 300, "y" * 301 + " ~\tend"]
    forty = replace(broken, event_id="forty", parameters=("/p/a", "/p/b"), event_time=None, problems=tuple(lines))
    more = replace(forty, event_id="more", problems=(*lines, "one more", "and another"))
    long = replace(
        out[0], event_id="long", principal="arn:aws:iam::111122223333:user/" + "u" * 70, user_agent="A" * 1100
    )
    nobody = replace(out[0], event_id="nobody", principal=None, identity_type=None, session_name="s" * 201)
    person = replace(out[1], event_id="person", sso_user="p" * 201)
    arns = [
        "arn:aws:ssm:us-east-1:999988887777:parameter/orders/db",
        "arn:aws:ssm:us-east-1:999988887777:parameter/orders/db:label:x",
        "nsa:aws:ssm:us-east-1:999988887777:parameter/orders/db",
    ]
    shared = [replace(out[0], event_id=f"arn-{i}", parameters=(arn,)) for i, arn in enumerate(arns)]
    # every limit one past its edge; a subject short enough for the principal's limit to show
    limits = replace(
        out[0],
        event_id="limits",
        rule=Rule.FIRST_SEEN,
        severity=Severity.LOW,
        principal="arn:aws:iam::111122223333:user/" + "u" * 61,
        parameters=tuple(f"/p{i}/" + "n" * 80 for i in range(3)),
        event_time="2026-11-02T10:15:00.000000+00:00",
        region="r" * 21,
        source_ip="1" * 41,
        account_name="a" * 41,
        user_agent="U" * 5000,
        session_name="S" * 4096,
    )
    four = replace(out[0], event_id="four", parameters=tuple(f"/orders/q{i}" for i in range(4)))
    blank = replace(out[0], event_id="blank", event_name=None, source_ip=None, event_time=None, user_agent=None)
    odd = replace(forty, event_id="odd", problems=("tilde ~ and\ttab", *lines[1:], "the 41st"))
    # the SSM call behind an SSM-made Decrypt, and bulk findings that count more than they list
    caller = Caller(event_id="ssm-1", source_ip="10.1.2.3", user_agent="C" * 301, vpc_endpoint="vpce-0a1b2c3d4e5f60718")
    kms = replace(out[0], event_id="kms-caller", ssm_caller=caller, parameter_count=2, parameters=("/a", "/b"))
    bare = replace(kms, event_id="kms-bare", ssm_caller=Caller(event_id="ssm-2", source_ip=None, user_agent=None))
    counted = replace(out[0], event_id="counted", rule=Rule.BULK, parameter_count=5, parameters=("/a", "/b"))
    uncounted = replace(counted, event_id="uncounted", parameter_count=None)
    extra = [kms, bare, counted, uncounted]
    return [*out, many, broken, forty, more, long, nobody, person, *shared, limits, four, blank, odd, *extra]


def render_all(sample_allowlist) -> str:
    parts = []
    all_findings = findings(sample_allowlist)
    verdicts = [
        Verdict(f, paged=i % 3 != 1, reason=None if i % 3 != 1 else "repeat", notes=("A note.",) if i % 2 else ())
        for i, f in enumerate(all_findings)
    ]
    for v in verdicts:
        parts += [f"## {v.finding.event_id}", subject(v.finding), body(v.finding, v.notes), alert_text(v)]
        parts += [verdict_json(v), json.dumps(safe_dict(v.finding), sort_keys=True)]
    parts += ["## table", *table(verdicts), "## table without paging", *table(verdicts, paging=False)]
    return "\n".join(parts) + "\n"


def test_rendered_texts_match_the_snapshot(sample_allowlist) -> None:
    text = render_all(sample_allowlist)
    if os.environ.get("PARAMWATCH_SNAPSHOT") == "write":
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text()
