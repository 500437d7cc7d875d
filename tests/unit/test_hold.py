"""Held pages, pure: the detector and `Holds` over the in-memory state, as one Lambda container would
run them (judge each record, hold or join, then release each opened incident when its hold ends).

Record shapes as in test_incidents.py (GetParametersByPath request parameters per the SSM API
reference; SSM-made Decrypts as in the Invictus Stratus Red Team trail).
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from test_incidents import by_path, sweep

from paramwatch.allowlist import EMPTY, validate
from paramwatch.detector import Detector, Verdict
from paramwatch.findings import Caller, NearMiss
from paramwatch.hold import SECRETS_CAP, SHOWN, Holds, revealed_note, verdict_of, verdict_text
from paramwatch.state import MemoryState
from support import NO_LEARNING


def lambda_run(records: list[dict], seconds: int = 20) -> tuple[list[Verdict], list[Verdict]]:
    """Every verdict as it stands after holding, and the pages sent (held ones when their hold ends)."""
    state = MemoryState()
    detector, holds = Detector(EMPTY, state, NO_LEARNING), Holds(state, seconds)
    verdicts, pages, opened = [], [], []
    for record in records:
        outcome = detector.process(record, now=1000.0)
        for verdict in outcome.verdicts:
            held = holds.take(verdict, 1000.0)
            verdicts.append(held.verdict)
            if held.opened:
                opened.append((held.opened, held.verdict))
            elif held.verdict.paged:
                pages.append(held.verdict)
        detector.finish(outcome.begun)
    pages += [holds.release(incident, lead) for incident, lead in opened]
    return verdicts, pages


@settings(max_examples=30, deadline=None)
@given(st.randoms(use_true_random=False))
def test_a_sweep_in_any_order_pages_once_naming_the_path_and_the_count(rng) -> None:
    # GIVEN mallory's 50-secret by-path sweep over 5 pages, delivered in any order within the hold
    records = sweep()
    rng.shuffle(records)
    # WHEN one container judges it and the hold ends
    _, pages = lambda_run(records)
    # THEN one page: the first by-path call, naming the path and all 50 secrets' count
    (page,) = pages
    assert page.finding.event_id == "call-0" and page.finding.parameters == ("/prod",)
    assert page.notes[-1].startswith("Its Decrypts revealed 50 secret(s): /prod/app")
    assert page.notes[-1].endswith(f" and {50 - SHOWN} more.")


def test_without_a_hold_the_page_is_the_first_part_to_arrive() -> None:
    records = sweep()
    decrypts_first = [r for r in records if r["eventName"] == "Decrypt"] + [
        r for r in records if r["eventName"] != "Decrypt"
    ]
    (page,) = lambda_run(decrypts_first, seconds=0)[1]
    assert page.finding.event_name == "Decrypt" and not any("revealed" in n for n in page.notes)


def test_a_part_that_pages_after_the_incident_closed_opens_the_next() -> None:
    state = MemoryState()
    detector, holds = Detector(EMPTY, state, NO_LEARNING), Holds(state, 20)
    first = detector.process(by_path("call-a", "/prod", "2026-11-02T10:15:00Z"), 1000.0).verdicts[0]
    opened = holds.take(first, 1000.0).opened
    holds.release(opened, first)
    # a by-path read of another path, judged while the pointer still names the closed incident
    second = detector.process(by_path("call-b", "/dev", "2026-11-02T10:15:05Z"), 1005.0).verdicts[0]
    held = holds.take(second, 1005.0)
    assert second.paged and held.verdict.paged and held.opened == "unauthorized-read#call-b"
    assert holds.release(held.opened, held.verdict).finding.parameters == ("/dev",)


def test_a_decoy_read_by_path_is_not_held() -> None:
    allowlist = validate({"version": 1, "grants": [], "honeytokens": ["/decoy/*"]})
    verdict = (
        Detector(allowlist, MemoryState(), NO_LEARNING)
        .process(by_path("decoy", "/decoy", "2026-11-02T10:15:00Z"), 1000.0)
        .verdicts[0]
    )
    assert str(verdict.finding.rule) == "honeytoken" and verdict.part is None
    assert Holds(MemoryState(), 20).take(verdict, 1000.0).opened is None


def test_the_revealed_note_lists_the_earliest_first_and_says_when_the_count_is_capped() -> None:
    entries = [("2026-11-02T10:15:02Z", "/b/s10"), ("2026-11-02T10:15:00Z", "/b/s2"), ("2026-11-02T10:15:00Z", "/a")]
    assert revealed_note(entries, 3) == "Its Decrypts revealed 3 secret(s): /a, /b/s2, /b/s10."
    assert revealed_note(entries, SECRETS_CAP, capped=True).startswith(f"Its Decrypts revealed at least {SECRETS_CAP} ")
    assert revealed_note(entries, SECRETS_CAP, capped=True).endswith(f" and {SECRETS_CAP - 3} more.")


def test_a_verdict_survives_the_hold_message_intact() -> None:
    verdict = lambda_run(sweep()[:1], seconds=0)[1][0]
    finding = replace(
        verdict.finding,
        near_miss=NearMiss("ci", "team", "network", "203.0.113.5", "text"),
        ssm_caller=Caller("e", "203.0.113.5", "cli", "vpce-1"),
        user_agent="x" * 100_000,
    )
    verdict = replace(verdict, finding=finding, notes=("a note",), part="path")
    back = verdict_of(__import__("json").loads(verdict_text(verdict)))
    assert back.finding.near_miss == finding.near_miss and back.finding.ssm_caller == finding.ssm_caller
    assert back.notes == ("a note",) and back.part == "path" and back.units == verdict.units
    # a field of any length is cut, so that a state item and a queue message stay within their limits
    assert len(back.finding.user_agent) < 5000
    assert replace(back, finding=replace(back.finding, user_agent=finding.user_agent)) == verdict
