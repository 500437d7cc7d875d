"""Every sample event in events/cases/ next to its expected verdict (Panther's ExpectedResult)."""

from __future__ import annotations

from pathlib import Path

import pytest

from paramwatch.detector import judge
from paramwatch.own import Own
from support import CASES, OWN, load_case


def test_there_are_cases_for_every_rule() -> None:
    rules = {load_case(p)["expected"]["rule"] for p in CASES}
    assert rules >= {
        None,
        "honeytoken",
        "root-access",
        "direct-decrypt",
        "unauthorized-read",
        "denied-attempt",
        "unjudgeable-read",
        "invalid-event",
        "tamper",
    }


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_verdict(path: Path, sample_allowlist) -> None:
    # GIVEN a recorded event and the sample allowlist
    case = load_case(path)
    # WHEN the library judges it (as the stack named in the case, if any, sees it)
    finding = judge(case["record"], sample_allowlist, OWN if case.get("stack") else Own())
    # THEN the verdict is the one written next to the event
    expected = case["expected"]
    if expected["rule"] is None:
        assert finding is None, finding.summary
    else:
        assert finding is not None, case["description"]
        assert (str(finding.rule), str(finding.severity)) == (expected["rule"], expected["severity"])
        assert finding.event_id == case["record"]["eventID"]
        for key in ("session_name", "sso_user"):
            if key in expected:
                assert getattr(finding, key) == expected[key]
        if "near_miss" in expected:
            near = finding.to_dict()["near_miss"]
            assert near is not None, finding.summary
            assert {k: near[k] for k in expected["near_miss"]} == expected["near_miss"]
            assert near["text"][1:] in finding.summary


@pytest.mark.parametrize("key", ["eventID", "requestID"])
def test_no_two_cases_share_an_id(key: str) -> None:
    # GIVEN every verdict case (CloudTrail gives each call its own requestID and each record its own eventID)
    owners: dict[object, list[str]] = {}
    for path in CASES:
        owners.setdefault(load_case(path)["record"].get(key), []).append(path.stem)
    # THEN no two cases share one: a shared eventID makes deduplication drop one of two unrelated records
    # wherever cases are judged together (replay versus production, the handler fuzz, the bench)
    assert {value: stems for value, stems in owners.items() if len(stems) > 1} == {}
