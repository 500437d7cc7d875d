"""What each verdict case's finding says (rule, severity, summary, near miss, parameters), and what
the detections that remember say, pinned in tests/unit/snapshots/summaries.txt.

The summary is what a person reads first; a change to it should be seen in review as a change to
the snapshot (regenerate with `PARAMWATCH_SNAPSHOT=write pytest tests/unit/test_summary_snapshot.py`,
then read the diff).
"""

from __future__ import annotations

import os
from pathlib import Path

from paramwatch.detector import Detector, Tuning, judge
from paramwatch.rules import needs_judging
from paramwatch.state import MemoryState
from support import CASES, load_case, ssm_read

SNAPSHOT = Path(__file__).parent / "snapshots" / "summaries.txt"
MALLORY = {
    "type": "IAMUser",
    "principalId": "AIDAM",
    "arn": "arn:aws:iam::111122223333:user/mallory",
    "accountId": "111122223333",
}


def extra_records() -> dict[str, dict]:
    """Shapes no verdict case has: long name lists, flat by-path, references, broken fields."""
    many = ssm_read("many", [f"/billing/p{i}" for i in range(7)], userIdentity=MALLORY)
    flat = ssm_read("flat", ["/x"], userIdentity=MALLORY, eventName="GetParametersByPath")
    flat["requestParameters"] = {"path": "/billing", "recursive": False, "withDecryption": True}
    deep = ssm_read("deep", ["/x"], userIdentity=MALLORY, eventName="GetParametersByPath")
    deep["requestParameters"] = {"path": "/billing", "recursive": True, "withDecryption": True}
    reference = ssm_read("ref", ["/aws/reference/secretsmanager/prod/db"], userIdentity=MALLORY)
    bad_time = ssm_read("bad-time", ["/billing/a"], userIdentity=MALLORY, eventTime=42)
    bad_nested = ssm_read("bad-nested", ["/billing/a"], userIdentity={"type": 7})
    return {
        "many": many,
        "flat": flat,
        "deep": deep,
        "reference": reference,
        "bad-time": bad_time,
        "bad-nested": bad_nested,
        "not-a-dict": [1, 2],
        "no-id": {**ssm_read("x", ["/billing/a"], userIdentity=MALLORY), "eventID": None, "eventTime": "soon"},
    }


def detections(allowlist) -> list[str]:
    """The findings of a bulk sweep, a burst of refused reads and a first-seen read."""
    tuning = Tuning(bulk_threshold=3, denied_threshold=3, learning_days=0)
    detector = Detector(allowlist, MemoryState(), tuning)
    records = [
        ssm_read(f"b-{i}", [f"/billing/b{i}"], time=f"2026-11-02T10:15:0{i}Z", userIdentity=MALLORY) for i in range(4)
    ]
    records += [
        {
            **ssm_read(f"d-{i}", ["/billing/d"], time=f"2026-11-02T11:15:0{i}Z", userIdentity=MALLORY),
            "errorCode": "AccessDenied",
        }
        for i in range(3)
    ]
    records.append(ssm_read("seen", ["/platform/new"], time="2026-11-02T12:00:00Z"))
    lines = []
    for record in records:
        outcome = detector.process(record, now=0.0)
        for v in outcome.verdicts:
            f = v.finding
            lines.append(
                f"{record['eventID']}\t{f.rule}\t{f.severity}\t{v.paged}\t{v.reason}\t{f.parameters}\t{f.summary}"
            )
        if outcome.begun:
            detector.finish(outcome.begun)
    return lines


def render_all(sample_allowlist) -> str:
    lines = []
    records = {p.stem: load_case(p)["record"] for p in CASES} | extra_records()
    for name, record in records.items():
        finding = judge(record, sample_allowlist)
        wanted = needs_judging(record, sample_allowlist) if isinstance(record, dict) else None
        if finding is None:
            lines.append(f"{name}\tnone\tprefilter={wanted}")
            continue
        near = finding.near_miss.text if finding.near_miss else ""
        lines.append(
            f"{name}\t{finding.rule}\t{finding.severity}\tprefilter={wanted}\t{finding.parameters}\t"
            f"{finding.summary}\t{near}\t{finding.problems}"
        )
    return "\n".join([*lines, *detections(sample_allowlist)]) + "\n"


def test_summaries_match_the_snapshot(sample_allowlist) -> None:
    text = render_all(sample_allowlist)
    if os.environ.get("PARAMWATCH_SNAPSHOT") == "write":
        SNAPSHOT.write_text(text)
    assert text == SNAPSHOT.read_text()
