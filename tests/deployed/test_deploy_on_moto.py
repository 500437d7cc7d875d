"""The README's Deploying and Tuning commands, run in order against a moto server, then an alert.

The test copies the repository's deployable parts into a fresh directory (the "repository root" of
the README), adds an `allowlist.yaml`, and runs every shell line of the README's "Deploying" and
"Tuning the allowlist" sections, as written:
- `paramwatch` lines run the installed command (a subprocess, exit code and output as a user sees);
- `sam build` runs SAM CLI for real (Python 3.13, arm64 wheels);
- `sam deploy` lines are parsed by SAM CLI's own `deploy` command (samconfig.toml, `file://`
  parameter files, overrides), its parameters merged by SAM CLI's own `merge_parameters`; then the
  built template is uploaded, translated by samtranslator and created (or updated) with
  CloudFormation on a ThreadedMotoServer started here;
- `aws` lines run the AWS CLI against that server (or the same calls through boto3 when no `aws`
  is on PATH).
Then the deployed function's handler is invoked in-process with the stack's own environment
(read from the deployed function's configuration), and the alerts are read from an SQS queue
subscribed to the stack's `AlertTopicArn` output. A README line the test does not know fails it.

What moto cannot prove here (check these in a real account, or see the test named):
- IAM and key policies: moto enforces neither, so an AccessDenied at deploy time (the pipeline key's
  policy for DynamoDB, Logs, CloudWatch) or at run time (the evaluator's least privilege) is not
  seen; tests/template/test_key_policy.py and test_least_privilege.py check them on the template.
- SAM change sets: moto's change sets do not run the SAM transform, so create_stack/update_stack
  stand in for `sam deploy`'s change set; confirm_changeset prompts and the managed S3 bucket's
  stack are not exercised. moto cannot update a function that has layers, so a later deploy is
  replayed as delete + create, with parameters resolved as CloudFormation resolves
  UsePreviousValue (the update path of CloudFormation itself is not exercised).
- Resource types moto's CloudFormation skips: AWS::SQS::QueuePolicy, AWS::SNS::TopicPolicy,
  AWS::CloudWatch::Alarm (every alarm) and AWS::Lambda::EventInvokeConfig (async retries and the
  on-failure destination).
- Delivery: moto ignores a rule's State (ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS) and
  CloudTrail sends nothing, so EventBridge never invokes the function here; rule patterns are
  checked with moto's matcher in tests/template/test_template.py. Lambda does not run the code
  (no Docker): the handler runs in this process.
- Encryption: moto records the KMS key on the table, log group and topic but encrypts nothing.
- Schedules: moto would match the heartbeat's schedule-only rule against the evaluator's finding
  events (EventBridge never does) and cannot deliver to a Lambda target, so the test skips
  schedule-only rules when moto delivers an event.
- Limits a real account enforces: name lengths and EventBridge's 2,048-character pattern quota
  (tests/template/test_resource_names.py checks them for a 128-character stack name), SSM
  throughput.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from support import EVENTS, ROOT, _NoManagedPolicies, eventbridge_event, load_case

pytestmark = pytest.mark.template

BIN = Path(sys.executable).parent
AWS_CLI = shutil.which("aws")
REGION = "us-east-1"
TRAIL_PREFIX = "AWSLogs/111122223333/CloudTrail/eu-central-1/2026/11/"


def readme_commands() -> list[str]:
    """Every shell line of the README's Deploying and Tuning sections, in order.

    Each section runs from its heading to the next "## " heading: "Organization" (between them)
    needs an AWS Organization, and tests/template/test_organization_template.py runs its commands.
    """
    text = (ROOT / "README.md").read_text()
    sections = [
        re.search(rf"^## {title}\n.*?(?=^## )", text, re.S | re.M) for title in ("Deploying", "Tuning the allowlist")
    ]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", "".join(m.group(0) for m in sections if m), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line.strip())
    return commands


@dataclass
class Step:
    command: str
    code: int
    output: str


@dataclass
class Deployment:
    """What the README walk left behind."""

    url: str
    work: Path
    steps: list[Step] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # moto's
        )

    def outputs(self) -> dict[str, str]:
        stack = self.client("cloudformation").describe_stacks(StackName="paramwatch")["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _repository_copy(work: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".aws-sam")
    for name in ("functions", "layers"):
        shutil.copytree(ROOT / name, work / name, ignore=ignore)
    for name in ("template.yaml", "samconfig.toml"):
        shutil.copy(ROOT / name, work / name)
    shutil.copy(EVENTS / "allowlist.yaml", work / "allowlist.yaml")
    (work / "teams").mkdir()
    (work / "teams" / "billing.yaml").write_text(TEAM_PIECE)  # "An allowlist that teams own"


class Walker:
    """Runs one README line after another, the way a user pasting them would."""

    def __init__(self, deployment: Deployment) -> None:
        self.d = deployment
        self.build_dir = deployment.work / ".aws-sam" / "build"
        self.deployed_once = False
        self.deployed: dict[str, tuple[str, dict[str, str]]] = {}

    def _change_the_allowlist(self) -> None:
        path = self.d.work / "allowlist.yaml"
        text = path.read_text().replace("grants:\n", "grants:\n" + CHANGE, 1)
        path.write_text(text)

    def run(self, command: str) -> Step:
        if command.startswith(".venv/bin/paramwatch deploy-args") and self.deployed_once:
            self._change_the_allowlist()  # "Later deploys, after any change to the allowlist"
        if command.startswith(".venv/bin/sam deploy"):
            self.deployed_once = True
        words = shlex.split(command)
        assignments = {}
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            key, value = words.pop(0).split("=", 1)
            assignments[key] = value
        env = {**self.d.env, **assignments}
        if words[0] == ".venv/bin/paramwatch":
            return self._process([str(BIN / "paramwatch"), *words[1:]], env, command)
        if words[:2] == [".venv/bin/sam", "build"]:
            return self._process([str(BIN / "sam"), *words[1:]], env, command)
        if words[:2] == [".venv/bin/sam", "deploy"]:
            return self._sam_deploy(words[2:], command)
        if words[0] == "aws":
            if AWS_CLI:
                return self._process([AWS_CLI, *words[1:]], env, command)
            return self._aws_with_boto3(words[1:], command)
        raise AssertionError(f"the README tells users to run a command this test does not know: {command}")

    def _process(self, argv: list[str], env: dict[str, str], command: str) -> Step:
        done = subprocess.run(argv, cwd=self.d.work, env=env, capture_output=True, text=True, timeout=900, check=False)
        return Step(command, done.returncode, done.stdout + done.stderr)

    def _sam_deploy(self, args: list[str], command: str) -> Step:
        from samcli.commands.deploy.command import cli
        from samcli.commands.deploy.deploy_context import DeployContext
        from samtranslator.translator.transform import transform
        from samtranslator.yaml_helper import yaml_parse

        cwd = Path.cwd()
        os.chdir(self.d.work)
        try:
            params = cli.make_context("deploy", list(args)).params
        finally:
            os.chdir(cwd)
        template = yaml_parse((self.build_dir / "template.yaml").read_text())
        self._upload_artifacts(template)
        translated = transform(template, {}, _NoManagedPolicies())
        values = DeployContext.merge_parameters(translated, params["parameter_overrides"] or {})
        cloudformation = self.d.client("cloudformation")
        name = params["stack_name"]
        body = json.dumps(translated, sort_keys=True)
        previous = self.deployed.get(name)
        resolved = {
            v["ParameterKey"]: previous[1][v["ParameterKey"]] if v.get("UsePreviousValue") else v["ParameterValue"]
            for v in values
            if not v.get("UsePreviousValue") or (previous and v["ParameterKey"] in previous[1])
        }
        if previous == (body, resolved):
            # what SAM CLI does by default (--fail-on-empty-changeset)
            return Step(command, 1, f"Error: No changes to deploy. Stack {name} is up to date")
        if previous:
            # moto cannot update a function that has layers (its Lambda update fails), so an update
            # is replayed as delete + create with the parameters CloudFormation would resolve
            cloudformation.delete_stack(StackName=name)
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=body,
            Capabilities=list(params["capabilities"]),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in resolved.items()],
        )
        self.deployed[name] = (body, resolved)
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        given = sorted((params["parameter_overrides"] or {}).items())
        shown = ", ".join(f"{k}={v if len(v) < 40 else v[:37] + '...'}" for k, v in given)
        return Step(command, 0, f"{stack['StackStatus']} {name}; overrides: {shown or 'none'}")

    def _upload_artifacts(self, template: dict[str, Any]) -> None:
        """What `sam deploy` uploads to its bucket: each built function and layer, zipped."""
        s3 = self.d.client("s3")
        s3.create_bucket(Bucket="aws-sam-cli-managed-default")
        for name, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            for key in ("CodeUri", "ContentUri"):
                if key in props and not str(props[key]).startswith("s3://"):
                    folder = self.build_dir / props[key]
                    buffer = io.BytesIO()
                    with zipfile.ZipFile(buffer, "w") as archive:
                        for path in sorted(folder.rglob("*")):
                            if path.is_file():
                                archive.write(path, path.relative_to(folder))
                    s3.put_object(Bucket="aws-sam-cli-managed-default", Key=name, Body=buffer.getvalue())
                    props[key] = f"s3://aws-sam-cli-managed-default/{name}"

    def _aws_with_boto3(self, args: list[str], command: str) -> Step:
        """The README's aws lines through boto3, for machines without the AWS CLI."""
        if args[:2] == ["s3", "sync"]:
            bucket, prefix = args[2].removeprefix("s3://").split("/", 1)
            s3 = self.d.client("s3")
            for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
                target = self.d.work / args[3] / item["Key"][len(prefix) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            return Step(command, 0, "(boto3) synced")
        if args[:2] == ["cloudformation", "describe-stacks"]:
            return Step(
                command, 0, json.dumps(self.d.client("cloudformation").describe_stacks()["Stacks"][0]["Outputs"])
            )
        if args[:2] == ["ssm", "put-parameter"]:
            options = dict(zip(args[2::2], args[3::2], strict=False))
            options = {k: v for k, v in options.items() if k.startswith("--")}
            value = (self.d.work / options["--value"].removeprefix("file://")).read_text()
            got = self.d.client("ssm").put_parameter(
                Name=options["--name"],
                Value=value,
                Type="String",
                Overwrite=True,
                Tier=options.get("--tier", "Standard"),
            )
            return Step(command, 0, json.dumps({"Version": got["Version"], "Tier": got["Tier"]}))
        raise AssertionError(f"no boto3 stand-in for: {command}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    work = tmp_path_factory.mktemp("repo")
    _repository_copy(work)
    url = f"http://127.0.0.1:{port}"
    shims = Path.home() / ".pyenv" / "shims"
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_ENDPOINT_URL=url,
        SAM_CLI_TELEMETRY="0",
        PYTHONPATH=os.pathsep.join([str(work / "layers" / "paramwatch"), os.environ.get("PYTHONPATH", "")]),
        PATH=f"{shims}{os.pathsep}{os.environ['PATH']}" if shims.is_dir() else os.environ["PATH"],
    )
    env.pop("AWS_PROFILE", None)
    deployed = Deployment(url=url, work=work, env=env)
    s3 = deployed.client("s3")
    s3.create_bucket(Bucket="my-trail-bucket")
    for path in sorted((EVENTS / "sample-trail").iterdir()):
        s3.put_object(Bucket="my-trail-bucket", Key=TRAIL_PREFIX + path.name, Body=path.read_bytes())
    walker = Walker(deployed)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_DEFAULT_REGION", REGION)  # the SAM translator's pseudo parameters
            for command in readme_commands():
                step = walker.run(command)
                deployed.steps.append(step)
                print(f"\n$ {command}\n{step.output.strip()[:3000]}\n[exit {step.code}]")
        yield deployed
    finally:
        server.stop()


CHANGE = """\
  - name: reporting
    owner: data-team@example.com
    reason: "the nightly report's database password"
    principals: ["arn:aws:iam::111122223333:role/reporting"]
    parameters: ["/reporting/db-password"]
"""
TEAM_PIECE = """\
version: 1
grants:
  - name: billing-api
    owner: team-billing
    reason: the billing service reads its database password at start
    principals: ["arn:aws:iam::111122223333:role/billing-api"]
    parameters: ["/billing/db-password"]
"""
EXPECTED_CODES = {
    ".venv/bin/paramwatch replay": {1},  # the sample trail holds findings: exit 1 means "findings printed"
    # the sample allowlist's grant billing-migration expired on 2026-10-31: --strict fails on it (exit
    # 2), as the README says it does for CI
    ".venv/bin/paramwatch check-allowlist --strict": {2},
}


def test_every_readme_command_ran_as_documented(deployment: Deployment) -> None:
    assert [s.command for s in deployment.steps] == readme_commands()
    for step in deployment.steps:
        expected = next((codes for prefix, codes in EXPECTED_CODES.items() if step.command.startswith(prefix)), {0})
        assert step.code in expected, f"{step.command}\n{step.output}"
        assert "Traceback" not in step.output, step.command


def test_the_stack_has_its_outputs(deployment: Deployment) -> None:
    outputs = deployment.outputs()
    assert set(outputs) >= {
        "AlertTopicArn",
        "AllowlistParameterName",
        "EvaluatorFunctionName",
        "OperationsTopicArn",
        "RulesDeadLetterQueueUrl",
        "FailureQueueUrl",
    }
    assert outputs["AllowlistParameterName"] == "/paramwatch/paramwatch/allowlist"
    described = next(s for s in deployment.steps if s.command.startswith("aws cloudformation describe-stacks"))
    assert {o["OutputKey"] for o in json.loads(described.output)} == set(outputs)


def test_the_later_deploys_changed_the_stack_parameters(deployment: Deployment) -> None:
    stack = deployment.client("cloudformation").describe_stacks(StackName="paramwatch")["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert '"name":"reporting"' in parameters["AllowlistGrants"]  # the change made before the later deploy
    assert parameters["AllowlistTier"] == "Advanced"  # "Larger allowlists"
    assert parameters["HoneytokenPrefix"] == "/decoy/"


def test_strict_check_named_the_expired_grant(deployment: Deployment) -> None:
    step = next(s for s in deployment.steps if "check-allowlist --strict" in s.command)
    assert "grant 'billing-migration': expired on 2026-10-31" in step.output
    assert "refused by --strict, 1 expired grant(s)" in step.output and ": ok," not in step.output


def test_the_readme_push_stored_the_teams_piece(deployment: Deployment) -> None:
    stored = deployment.client("ssm").get_parameter(Name="/paramwatch/paramwatch/grants/billing")["Parameter"]
    piece = json.loads(stored["Value"])
    assert [g["name"] for g in piece["grants"]] == ["billing-api"]
    assert piece["grants"][0]["principals"] == ["arn:aws:iam::111122223333:role/billing-api"]


def test_the_readme_put_parameter_stored_the_allowlist_file(deployment: Deployment) -> None:
    stored = deployment.client("ssm").get_parameter(Name="/paramwatch/paramwatch/allowlist")["Parameter"]
    assert stored["Value"] == (deployment.work / "allowlist.yaml").read_text()


@dataclass
class LambdaContext:
    function_name: str = "paramwatch-evaluator"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:paramwatch-evaluator"
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"


@pytest.fixture
def evaluator(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """The deployed function's handler, in this process, with the deployed function's environment."""
    import importlib

    outputs = deployment.outputs()
    config = deployment.client("lambda").get_function_configuration(FunctionName=outputs["EvaluatorFunctionName"])
    for key, value in config["Environment"]["Variables"].items():
        monkeypatch.setenv(key, str(value))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(key, deployment.env[key])
    sqs, sns = deployment.client("sqs"), deployment.client("sns")
    queue_url = sqs.create_queue(QueueName=f"pager-{os.urandom(4).hex()}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=outputs["AlertTopicArn"], Protocol="sqs", Endpoint=queue_arn)
    # moto matches a rule that has only a schedule (the heartbeat's) against every PutEvents, and
    # cannot deliver to its Lambda target: the evaluator's finding event would fail with a 500.
    # EventBridge never matches a schedule-only rule to an event; so neither does moto here.
    from moto.events.models import Rule

    deliver = Rule.send_to_targets
    monkeypatch.setattr(
        Rule,
        "send_to_targets",
        lambda rule, *a, **k: None if rule.event_pattern.dump() is None else deliver(rule, *a, **k),
    )
    app = importlib.import_module("evaluator.app")
    app.runtime.cache_clear()
    yield app, queue_url
    app.runtime.cache_clear()


def alerts(deployment: Deployment, queue_url: str) -> list[dict[str, Any]]:
    got = deployment.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def case(case_name: str, event_id: str, **request: Any) -> dict[str, Any]:
    record = load_case(EVENTS / "cases" / f"{case_name}.json")["record"]
    parameters = {**record["requestParameters"], **request}
    return eventbridge_event({**record, "eventID": event_id, "requestParameters": parameters})


def test_a_decoy_read_pages_through_the_deployed_topic(deployment: Deployment, evaluator) -> None:
    app, queue_url = evaluator
    result = app.lambda_handler(case("honeytoken-plain-read", "deployed-decoy-1"), LambdaContext())
    assert [v["rule"] for v in result["verdicts"]] == ["honeytoken"]
    (alert,) = alerts(deployment, queue_url)
    assert alert["MessageAttributes"]["severity"]["Value"] == "critical"
    assert alert["Subject"].startswith("paramwatch CRITICAL honeytoken:")
    state = deployment.client("dynamodb").scan(TableName=app.runtime().settings.state_table)["Items"]
    assert state, "the deployed state table holds the detector's memory"


def test_a_granted_read_is_quiet_with_the_deployed_allowlist(deployment: Deployment, evaluator) -> None:
    app, queue_url = evaluator
    result = app.lambda_handler(case("granted-assumed-role", "deployed-granted-1"), LambdaContext())
    assert result == {"verdicts": []}
    assert alerts(deployment, queue_url) == []


def test_a_broken_stored_allowlist_still_pages_the_decoy(deployment: Deployment, evaluator) -> None:
    app, queue_url = evaluator
    ssm = deployment.client("ssm")
    name = "/paramwatch/paramwatch/allowlist"
    good = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    ssm.put_parameter(Name=name, Value='{"version": 1, "grants": [{"name": "x"}]}', Type="String", Overwrite=True)
    try:
        event = case("honeytoken-plain-read", "deployed-decoy-2", name="/decoy/another-secret")
        result = app.lambda_handler(event, LambdaContext())
    finally:
        ssm.put_parameter(Name=name, Value=good, Type="String", Overwrite=True)
    assert {v["rule"] for v in result["verdicts"]} == {"allowlist-invalid", "honeytoken"}
    got = {a["MessageAttributes"]["rule"]["Value"]: a for a in alerts(deployment, queue_url)}
    assert set(got) == {"allowlist-invalid", "honeytoken"}
    assert got["allowlist-invalid"]["Subject"] == f"paramwatch HIGH allowlist-invalid: {name}"
