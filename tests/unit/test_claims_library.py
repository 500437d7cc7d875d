"""README sentences about what judging gives, as tests (see tests/handler/test_claims.py for the
handler's)."""

from __future__ import annotations

from paramwatch.detector import Detector, Tuning
from paramwatch.state import MemoryState
from support import ssm_read

MALLORY = {
    "type": "IAMUser",
    "principalId": "AIDAM",
    "arn": "arn:aws:iam::111122223333:user/mallory",
    "accountId": "111122223333",
    "userName": "mallory",
}


def test_one_event_can_give_a_rule_finding_and_a_detection_finding(sample_allowlist) -> None:
    # GIVEN mallory (granted nothing) decrypting 21 distinct parameters within a minute
    detector = Detector(sample_allowlist, MemoryState(), Tuning(bulk_threshold=20, learning_days=0))
    rules = []
    for i in range(21):
        record = ssm_read(f"m-{i}", [f"/billing/p{i}"], time=f"2026-11-02T10:15:{i:02d}Z", userIdentity=MALLORY)
        outcome = detector.process(record, now=0.0)
        rules.append(sorted(str(v.finding.rule) for v in outcome.verdicts))
        if outcome.begun:
            detector.finish(outcome.begun)
    # THEN each read is an unauthorized read, and the 21st is also the bulk retrieval
    assert all("unauthorized-read" in r for r in rules)
    assert "bulk-retrieval" not in rules[19] and "bulk-retrieval" in rules[20]
