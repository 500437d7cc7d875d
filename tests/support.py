"""Test support: paths, the verdict cases, and EventBridge wrapping."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
CASES = sorted((EVENTS / "cases").glob("*.json"))
DATASET = ROOT.parent / "shared" / "datasets" / "invictus-sigma-aws" / "CloudTrail"


def load_case(path: Path) -> dict:
    """One verdict case: a CloudTrail record, its expected finding, the rules that deliver it."""
    return json.loads(path.read_text())


def eventbridge_event(record: dict) -> dict:
    """Wrap a CloudTrail record the way EventBridge delivers it."""
    source = str(record.get("eventSource", "unknown.amazonaws.com")).split(".")[0]
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "AWS API Call via CloudTrail",
        "source": f"aws.{source}",
        "account": "111122223333",
        "time": "2026-11-02T10:15:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": record,
    }
