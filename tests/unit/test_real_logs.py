"""The real CloudTrail logs of a Stratus Red Team run (skipped when the dataset is absent)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from paramwatch.allowlist import EMPTY, validate
from paramwatch.replay import replay

BERT_JAN = validate(
    {
        "version": 1,
        "grants": [
            {
                "name": "bert-jan",
                "principals": ["arn:aws:iam::123837392027:user/bert-jan"],
                "parameters": ["/credentials/*"],
                "source_cidrs": ["192.168.0.0/16"],
            }
        ],
    }
)


def findings_of(dataset: Path, allowlist) -> list:
    results = list(replay([dataset], allowlist, workers=2))
    assert not [r.error for r in results if r.error]
    assert sum(r.records for r in results) == 2900
    return [f for r in results for f in r.findings]


def test_granted_user_has_no_findings(dataset: Path) -> None:
    assert findings_of(dataset, BERT_JAN) == []


def test_with_nobody_granted_every_decrypting_read_is_reported(dataset: Path) -> None:
    findings = findings_of(dataset, EMPTY)
    by_event = Counter(f.event_name for f in findings)
    # 82 GetParameter + 5 GetParameters with decryption, and the 122 Decrypts SSM made for them
    assert by_event == {"GetParameter": 82, "GetParameters": 5, "Decrypt": 122}
    assert {str(f.rule) for f in findings} == {"unauthorized-read"}
    assert len({f.event_id for f in findings}) == len(findings)
