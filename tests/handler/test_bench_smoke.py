"""`make bench` as the README gives it, on a tiny day: it runs end to end and its rules miss nothing.

The figures themselves (speed, memory) are measured, never asserted; what is asserted is what could
break silently: the bench's own handler wiring (it builds the warm container's Runtime itself) and
the precision row, which fails when a record the library must judge is not delivered by the rules.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from support import ROOT


@pytest.mark.skipif(shutil.which("jq") is None, reason="the bench compares replay with jq")
def test_the_bench_runs_and_its_rules_deliver_every_record_that_needs_judging() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(["functions", "tests", os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [
            sys.executable,
            "bench/run.py",
            "--files",
            "2",
            "--records-per-file",
            "300",
            "--repeat",
            "1",
            "--events",
            "20",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    precision = re.search(
        r"\| rule precision .*?\| (\d+\.\d)% \(goal 100%\), (\d+) needed but not delivered", done.stdout
    )
    assert precision, done.stdout
    assert precision.group(2) == "0"
    assert re.search(r"\| warm handler CPU, violation read\s+\| \d+ us/event", done.stdout)
