"""Replay gives the same verdicts for any order of records in their files and of input folders.

CloudTrail documents no order for the records of a log file, and a multi-region backtest lists
region folders in whatever order they sort. Replay judges reads in event-time order (files by the
delivery time in their names, records from a heap), so learning, first-seen, pairing and
suppression all see one order.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paramwatch.allowlist import validate
from paramwatch.detector import Detector, Tuning
from paramwatch.replay import delivered_at, replay
from paramwatch.state import MemoryState
from support import kms_decrypt, ssm_read

CI = "arn:aws:iam::111122223333:user/alice"
ALLOWLIST = validate({"version": 1, "grants": [{"name": "ci", "principals": [CI], "parameters": ["/ci/*"]}]})


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"


def region_files() -> dict[str, dict[str, list[dict]]]:
    """Two regions' folders of CloudTrail files: learning starts on day 1 in eu-west-1, whose folder
    sorts after us-east-1's; day 9 holds a genuinely new pair; day 7 a pair inside learning."""
    west = {
        "20261101T0905Z_w1": [ssm_read("w-first", ["/ci/a"], time=at(1, 9))],
        "20261107T0905Z_w2": [ssm_read("w-learning", ["/ci/b"], time=at(7, 9))],
    }
    east = {
        "20261110T0905Z_e1": [
            ssm_read("e-new", ["/ci/new"], time=at(10, 9)),
            ssm_read("e-again", ["/ci/b"], time=at(10, 9, 1)),  # a later copy of a learned pair
            ssm_read("e-bad", ["/prod/db"], time=at(10, 8, 59, 59)),  # ungranted, across an edge...
        ],
        "20261110T1005Z_e2": [kms_decrypt("e-bad-kms", "/prod/db", time=at(10, 9, 0, 0))],  # ...and its Decrypt
    }
    return {"us-east-1": east, "eu-west-1": west}


def write(
    root: Path, folders: dict[str, dict[str, list[dict]]], rng: random.Random, folder_order: list[str]
) -> list[Path]:
    paths = []
    for region in folder_order:
        folder = root / region
        folder.mkdir(parents=True)
        for stamp, records in folders[region].items():
            shuffled = list(records)
            rng.shuffle(shuffled)
            name = f"111122223333_CloudTrail_{region}_{stamp}.json"
            (folder / name).write_text(json.dumps({"Records": shuffled}))
        paths.append(folder)
    return paths


def verdicts(paths: list[Path]) -> list[tuple]:
    detector = Detector(ALLOWLIST, MemoryState(), Tuning(learning_days=7))
    return [
        (v.finding.event_id, str(v.finding.rule), str(v.finding.severity), v.paged, v.finding.parameters)
        for result in replay(paths, detector, workers=1)
        for v in result.verdicts
    ]


EXPECTED = [  # in event-time order; at equal times an SSM call before a Decrypt
    ("e-bad", "unauthorized-read", "medium", True, ("/prod/db",)),
    ("e-new", "first-seen", "low", True, ("/ci/new",)),
    ("e-bad-kms", "unauthorized-read", "medium", False, ("/prod/db",)),
]


def test_the_region_folder_sorting_first_does_not_start_learning(tmp_path: Path) -> None:
    # us-east-1 sorts first, but learning starts at eu-west-1's day-1 event: the day-10 pair is new,
    # the day-7 pair was learned, and its later copy is not new
    assert verdicts(write(tmp_path, region_files(), random.Random(0), ["us-east-1", "eu-west-1"])) == EXPECTED


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rng=st.randoms(use_true_random=False), west_first=st.booleans())
def test_any_order_of_records_and_folders_gives_the_same_verdicts(tmp_path_factory, rng, west_first) -> None:
    root = tmp_path_factory.mktemp("trail")
    order = ["eu-west-1", "us-east-1"] if west_first else ["us-east-1", "eu-west-1"]
    assert verdicts(write(root, region_files(), rng, order)) == EXPECTED


def test_delivery_time_comes_from_the_cloudtrail_file_name() -> None:
    assert delivered_at(Path("111122223333_CloudTrail_us-east-1_20261102T1015Z_a1.json.gz")) == 1793614500.0
    assert delivered_at(Path("events.jsonl")) is None
