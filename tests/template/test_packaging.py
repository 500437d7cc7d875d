"""What the Lambda package must hold: the handler imports only the layer's and function's requirements."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support import ROOT

LAMBDA_RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}


def requirements(path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            names.add(line.split("==")[0].split(">=")[0].strip().lower().replace("-", "_"))
    return names


def test_layer_and_function_requirements_cover_the_handler() -> None:
    declared = requirements(ROOT / "layers/paramwatch/requirements.txt") | requirements(
        ROOT / "functions/evaluator/requirements.txt"
    )
    assert "msgspec" not in declared  # replay's parser stays out of the Lambda package
    # GIVEN a process where anything the package does not declare cannot be imported
    blocked = ["msgspec", "orjson", "hypothesis", "moto", "pytest", "samtranslator", "yaml"]
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import evaluator.app\n"
        "import json\n"
        "print(json.dumps(sorted({n.split('.')[0] for n, m in sys.modules.items() if m is not None})))\n"
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT / "functions"), str(ROOT / "layers/paramwatch")]),
        POWERTOOLS_SERVICE_NAME="p",
        POWERTOOLS_METRICS_NAMESPACE="p",
    )
    # WHEN the handler module is imported, THEN it works, and every third-party module it loaded is declared
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    third_party = {m for m in loaded if m not in sys.stdlib_module_names and not m.startswith("_")}
    allowed = (
        declared
        | LAMBDA_RUNTIME
        | {
            "paramwatch",
            "paramwatch_aws",
            "evaluator",
            "aws_lambda_powertools",
            "pydantic",
            "pydantic_core",
            "typing_extensions",
            "annotated_types",
            "typing_inspection",
        }
    )
    assert third_party <= allowed, third_party - allowed
