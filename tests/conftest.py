"""Shared fixtures: the sample allowlist and the real CloudTrail dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from paramwatch.allowlist import Allowlist, parse
from support import DATASET, EVENTS


@pytest.fixture(scope="session")
def sample_allowlist() -> Allowlist:
    return parse((EVENTS / "allowlist.yaml").read_text())


@pytest.fixture(scope="session")
def dataset() -> Path:
    if not DATASET.is_dir():
        pytest.skip(f"real CloudTrail dataset not found at {DATASET}")
    return DATASET
