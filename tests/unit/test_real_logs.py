"""The real CloudTrail logs of a Stratus Red Team run (skipped when the dataset is absent)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from paramwatch.allowlist import EMPTY, validate
from paramwatch.detector import Detector
from paramwatch.replay import replay
from paramwatch.state import MemoryState

GRANT = {
    "name": "bert-jan",
    "principals": ["arn:aws:iam::123837392027:user/bert-jan"],
    "parameters": ["/credentials/*"],
}
# The trail's reads come from the private 192.168.10.20 with no VPC endpoint: a private range alone
# proves nothing, so the grant names no network.
BERT_JAN = validate({"version": 1, "grants": [GRANT]})


def findings_of(dataset: Path, allowlist) -> list:
    results = list(replay([dataset], Detector(allowlist, MemoryState()), workers=2))
    assert not [r.error for r in results if r.error]
    assert sum(r.records for r in results) == 2900
    return [v.finding for r in results for v in r.verdicts if str(v.finding.rule) not in ("bulk-retrieval", "tamper")]


def test_granted_user_has_no_findings(dataset: Path) -> None:
    assert findings_of(dataset, BERT_JAN) == []


def test_private_range_through_an_endpoint_the_trail_never_used(dataset: Path) -> None:
    # GIVEN the same grant with the trail's private range, anchored to an endpoint
    anchored = validate(
        {
            "version": 1,
            "grants": [{**GRANT, "source_cidrs": ["192.168.0.0/16"], "vpc_endpoints": ["vpce-0a1b2c3d4e5f60718"]}],
        }
    )
    # THEN no SSM read matches (none came through it); SSM's own Decrypts are not network-checked
    by_event = Counter(f.event_name for f in findings_of(dataset, anchored))
    assert by_event == {"GetParameter": 82, "GetParameters": 5}


def test_with_nobody_granted_every_decrypting_read_is_reported(dataset: Path) -> None:
    findings = findings_of(dataset, EMPTY)
    by_event = Counter(f.event_name for f in findings)
    # 82 GetParameter + 5 GetParameters with decryption, and the 122 Decrypts SSM made for them
    assert by_event == {"GetParameter": 82, "GetParameters": 5, "Decrypt": 122}
    assert {str(f.rule) for f in findings} == {"unauthorized-read"}
    assert len({f.event_id for f in findings}) == len(findings)


def verdicts_of(dataset: Path, allowlist) -> list:
    results = list(replay([dataset], Detector(allowlist, MemoryState()), workers=2))
    return [v for r in results for v in r.verdicts]


def test_stratus_sweep_is_a_high_bulk_finding_even_when_granted(dataset: Path) -> None:
    # GIVEN bert-jan granted /credentials/* from his network: no single read is a finding
    paged = [v for v in verdicts_of(dataset, BERT_JAN) if v.paged and str(v.finding.rule) != "tamper"]
    # THEN the 42-secret sweep (5 GetParameters in 2 seconds) still pages as a high bulk finding
    assert paged
    assert {(str(v.finding.rule), str(v.finding.severity)) for v in paged} == {("bulk-retrieval", "high")}
    assert any(v.finding.event_time.startswith("2023-07-10T11:58") for v in paged)


def test_with_nobody_granted_pages_are_fewer_than_reads(dataset: Path) -> None:
    verdicts = verdicts_of(dataset, EMPTY)
    unauthorized = Counter(v.finding.event_name for v in verdicts if str(v.finding.rule) == "unauthorized-read")
    # every read and every Decrypt is still reported...
    assert unauthorized == {"GetParameter": 82, "GetParameters": 5, "Decrypt": 122}
    # ...but the 87 reads and their 122 Decrypts page fewer times than there are reads
    assert sum(v.paged for v in verdicts) < 87
    assert all(v.reason for v in verdicts if not v.paged)
    reasons = Counter(v.reason.split(" ", 1)[0] for v in verdicts if not v.paged)
    assert reasons["paired"] > 0 and reasons["repeat"] > 0


def test_stratus_trail_tampering_is_caught_and_the_restore_is_not(dataset: Path) -> None:
    # GIVEN the Stratus run, which stops and deletes trails and narrows one trail's selectors
    verdicts = [v for v in verdicts_of(dataset, BERT_JAN) if str(v.finding.rule) == "tamper"]
    found = Counter((v.finding.event_name, str(v.finding.severity)) for v in verdicts)
    # THEN the deletes and the narrowing are high; the refused attempts (TrailNotFound) are medium
    assert found == {
        ("DeleteTrail", "high"): 2,
        ("DeleteTrail", "medium"): 1,
        ("PutEventSelectors", "high"): 1,
        ("StopLogging", "medium"): 3,
    }
    narrowed = next(v.finding for v in verdicts if v.finding.event_name == "PutEventSelectors")
    assert "read-only management events" in narrowed.summary and "KMS events" in narrowed.summary
    # AND the selectors that put everything back (readWriteType All, management events) are no finding
    assert "3d6df238-f83c-4a34-bea8-45cf80a2050b" not in {v.finding.event_id for v in verdicts}
    # AND three refused StopLogging calls on one trail page once
    assert sum(v.paged for v in verdicts if v.finding.event_name == "StopLogging") == 1


def test_the_real_bulk_alert_names_the_sweep_and_its_caller(dataset: Path) -> None:
    # GIVEN the Stratus sweep of the trail, judged with bert-jan's grant (bulk pages even when granted)
    results = list(replay([dataset], Detector(BERT_JAN, MemoryState()), workers=2))
    paged = [v.finding for r in results for v in r.verdicts if v.paged and str(v.finding.rule) == "bulk-retrieval"]
    # THEN its alert counts the distinct parameters, names the first 20 and gives the caller's address
    assert paged
    for bulk in paged:
        assert bulk.parameter_count > 20 and len(bulk.parameters) == 20
        assert all(name.startswith("/credentials/stratus-red-team/credentials-") for name in bulk.parameters)
        caller = bulk.ssm_caller.source_ip if bulk.ssm_caller else bulk.source_ip
        assert caller == "192.168.10.20"
