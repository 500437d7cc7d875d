"""Fuzzing the parser and the detector: no input raises, and nothing that cannot be judged vanishes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from paramwatch.access import is_relevant, to_access
from paramwatch.cloudtrail import CloudTrailRecord
from paramwatch.detector import Detector, Tuning
from paramwatch.findings import Rule
from paramwatch.state import MemoryState
from strategies import any_records
from support import markup_in_outputs

EXAMPLES = 10_000


def expectation(record: Any) -> str:
    """What must come out: 'invalid', 'finding', or 'free' (a verdict may or may not exist)."""
    if not isinstance(record, dict):
        return "invalid"
    try:
        parsed = CloudTrailRecord.model_validate(record)
    except ValidationError:
        return "invalid"
    if not is_relevant(record):
        return "free"
    access = to_access(parsed)
    if access.decrypted and (access.problems or access.principal.arn is None):
        return "finding"
    return "free"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(any_records())
def test_detector_never_raises_and_never_drops(sample_allowlist, record: Any) -> None:
    detector = Detector(sample_allowlist, MemoryState(), Tuning(learning_days=0))
    outcome = detector.process(record, now=0.0)
    rules = [v.finding.rule for v in outcome.verdicts]
    must = expectation(record)
    if must == "invalid":
        assert rules == [Rule.INVALID_EVENT]
        assert outcome.verdicts[0].paged
    elif must == "finding":
        assert rules, "a decrypting read that cannot be judged must be a finding"
    for verdict in outcome.verdicts:
        assert "\n" not in verdict.finding.summary
        assert verdict.finding.summary.isascii()
        # no output carries live markup from CloudTrail text: subject, body, table, jsonl
        leaks = {output: found for output, found in markup_in_outputs(verdict).items() if found}
        assert not leaks, leaks
