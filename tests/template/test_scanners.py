"""cfn-lint and checkov on the raw and the translated template, with 0 failures.

checkov runs from its own virtual environment (it pins an old boto3); `make test` creates it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sam_template import TEMPLATE
from support import ROOT

CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")


@pytest.fixture(scope="module", params=["raw", "translated", "member"])
def template_file(request, translated, tmp_path_factory) -> Path:
    if request.param == "raw":
        return TEMPLATE
    if request.param == "member":
        return ROOT / "member.yaml"
    path = tmp_path_factory.mktemp("translated") / "template.json"
    path.write_text(json.dumps(translated, indent=1))
    return path


def test_cfn_lint(template_file: Path) -> None:
    done = subprocess.run([CFN_LINT, str(template_file)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_checkov(template_file: Path) -> None:
    assert CHECKOV.exists(), f"checkov not found at {CHECKOV}: run `make test`, which installs it"
    done = subprocess.run(
        [
            str(CHECKOV),
            "--framework",
            "cloudformation",
            "--skip-download",
            "-o",
            "json",
            "-f",
            str(template_file),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(done.stdout)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["passed"] >= (8 if template_file.name == "member.yaml" else 20)
    skipped = report["results"]["skipped_checks"]
    assert len(skipped) == summary["skipped"]
    assert all(len(c["check_result"]["suppress_comment"]) > 40 for c in skipped), "every suppression needs a reason"
