"""paramwatch benchmark: `make bench`. Prints a table of ratios and per-event times.

It generates a busy day of CloudTrail logs, then measures, in the same run and on the same files:
replay against `jq` filtering; replay's CPU time against a bare `json.load` and against gunzip
alone; replay's wall time on 1 and 2 workers; `hunt --engine duckdb`; peak memory as the archive grows;
the handler's import cost against `import boto3`; CPU per event in the warm handler; and the share
of events the template's rules deliver that actually needed evaluating. The day's parameter-store
activity mixes single, batched, by-path and history reads, refused reads, honeytoken probes and
direct KMS Decrypts of a parameter's ciphertext in the shares of READ_MIX.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
# What Lambda puts on the path: the function and the layer, from this checkout.
HANDLER_PATH = f"{ROOT / 'functions'}:{ROOT / 'layers' / 'paramwatch'}"
ACCOUNT = "111122223333"
VPCE = "vpce-0a1b2c3d4e5f60718"
APPS = [f"svc-{i:02d}" for i in range(12)]
READS = ["GetParameter", "GetParameters", "GetParametersByPath", "GetParameterHistory"]
NOISE = [
    ("ec2.amazonaws.com", "DescribeInstances"),
    ("ec2.amazonaws.com", "DescribeSecurityGroups"),
    ("sts.amazonaws.com", "AssumeRole"),
    ("iam.amazonaws.com", "GetRole"),
    ("s3.amazonaws.com", "GetBucketAcl"),
    ("lambda.amazonaws.com", "ListFunctions"),
    ("logs.amazonaws.com", "DescribeLogGroups"),
    ("ssm.amazonaws.com", "DescribeParameters"),
    ("ssm.amazonaws.com", "GetParameter"),  # plain reads, no decryption
    ("ssm.amazonaws.com", "PutParameter"),
    ("kms.amazonaws.com", "GenerateDataKey"),
    ("dynamodb.amazonaws.com", "DescribeTable"),
]
ALLOWLIST = {
    "version": 1,
    "grants": [
        {
            "name": app,
            "principals": [f"arn:aws:iam::{ACCOUNT}:role/apps/{app}"],
            "parameters": [f"/{app}/*"],
            "source_cidrs": ["10.0.0.0/8"],
            "vpc_endpoints": [VPCE],  # a private range proves nothing without the endpoint it came through
        }
        for app in APPS
    ],
    "honeytokens": ["/decoy/*"],
}


# ----------------------------------------------------------------------------- data


def _identity(role: str, rng: random.Random, invoked_by: str | None = None) -> dict[str, Any]:
    session = f"i-{rng.randrange(16**12):012x}"
    identity = {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLE",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/apps/{role}",
                "accountId": ACCOUNT,
                "userName": role,
            },
            "attributes": {"creationDate": "2026-11-02T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }
    if invoked_by:
        identity["invokedBy"] = invoked_by
    return identity


def _record(rng: random.Random, moment: float, source: str, name: str, identity: dict, params: Any, ip: str) -> dict:
    return {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment)),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "eu-central-1",
        "sourceIPAddress": ip,
        "userAgent": ip if ip == "AWS Internal" else "aws-sdk-java/2.25.0 Linux/6.1 OpenJDK_64-Bit_Server_VM/21",
        "requestParameters": params,
        "responseElements": None,
        "requestID": f"{rng.getrandbits(128):032x}",
        "eventID": f"{rng.getrandbits(128):032x}",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        **({"vpcEndpointId": VPCE} if ip.startswith("10.") else {}),
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "clientProvidedHostHeader": f"{source.split('.')[0]}.eu-central-1.amazonaws.com",
        },
    }


# Shares of parameter-store activity by kind, from what a service fleet does: mostly single reads at
# start-up and on cache expiry, some batched and by-path loads (config libraries), a little history
# (rollbacks, audits), refused reads (wrong names, missing grants), and rare attack shapes.
READ_MIX = [
    ("get", 0.70),
    ("get-many", 0.10),
    ("by-path", 0.08),
    ("history", 0.02),
    ("refused", 0.07),
    ("honeytoken", 0.02),
    ("direct-kms", 0.01),
]


def _ssm_decrypt(rng: random.Random, moment: float, app: str, name: str) -> dict:
    """The Decrypt SSM makes for one parameter (invokedBy AWS Internal, no client address)."""
    params = {
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "encryptionContext": {"PARAMETER_ARN": f"arn:aws:ssm:eu-central-1:{ACCOUNT}:parameter{name}"},
    }
    return _record(
        rng, moment, "kms.amazonaws.com", "Decrypt", _identity(app, rng, "AWS Internal"), params, "AWS Internal"
    )


def _secret_read(rng: random.Random, moment: float, violate: bool, kind: str | None = None) -> list[dict]:
    """One parameter-store action of a kind drawn from READ_MIX (or `kind`), with the Decrypts SSM
    makes for it (1% of them from the wrong network)."""
    kind = kind or rng.choices([k for k, _ in READ_MIX], weights=[w for _, w in READ_MIX])[0]
    app = rng.choice(APPS)
    ip = f"198.51.100.{rng.randrange(250)}" if violate else f"10.{rng.randrange(250)}.{rng.randrange(250)}.7"
    names = [f"/{app}/secret-{i}" for i in rng.sample(range(8), 1 if kind in ("get", "refused", "history") else 3)]
    who = _identity(app, rng)
    if kind == "direct-kms":  # someone holding a parameter's ciphertext decrypts it with KMS directly
        params = {"encryptionContext": {"PARAMETER_ARN": f"arn:aws:ssm:eu-central-1:{ACCOUNT}:parameter{names[0]}"}}
        return [_record(rng, moment, "kms.amazonaws.com", "Decrypt", who, params, f"203.0.113.{rng.randrange(250)}")]
    if kind == "honeytoken":  # mostly without decryption: an attacker lists what is there first
        decrypt = rng.random() < 0.3
        params = {"name": f"/decoy/{rng.choice(['db-master', 'api-key'])}", "withDecryption": decrypt}
        read = _record(rng, moment, "ssm.amazonaws.com", "GetParameter", who, params, ip)
        return [read, _ssm_decrypt(rng, moment, app, params["name"])] if decrypt else [read]
    if kind == "get-many":
        read = _record(
            rng, moment, "ssm.amazonaws.com", "GetParameters", who, {"names": names, "withDecryption": True}, ip
        )
    elif kind == "by-path":
        params = {"path": f"/{app}", "recursive": True, "withDecryption": True}
        read = _record(rng, moment, "ssm.amazonaws.com", "GetParametersByPath", who, params, ip)
    elif kind == "history":
        params = {"name": names[0], "withDecryption": True}
        read = _record(rng, moment, "ssm.amazonaws.com", "GetParameterHistory", who, params, ip)
    else:
        read = _record(
            rng, moment, "ssm.amazonaws.com", "GetParameter", who, {"name": names[0], "withDecryption": True}, ip
        )
    if kind == "refused":  # one the role may not read: no Decrypt. GetParameter's ParameterNotFound
        # is not recorded in CloudTrail (SSM API Reference, GetParameter), so the day holds none.
        read["errorCode"] = "AccessDeniedException"
        read["errorMessage"] = "refused"
        return [read]
    return [read, *(_ssm_decrypt(rng, moment, app, name) for name in names)]


def _noise(rng: random.Random, moment: float) -> dict:
    if rng.random() < 0.12:  # KMS Decrypts for S3 objects: the rules must not deliver these
        params = {"encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::lake/part-{rng.randrange(10**6)}.parquet"}}
        return _record(
            rng,
            moment,
            "kms.amazonaws.com",
            "Decrypt",
            _identity("etl", rng, "s3.amazonaws.com"),
            params,
            "s3.amazonaws.com",
        )
    source, name = rng.choice(NOISE)
    params = (
        {"name": f"/config/flag-{rng.randrange(100)}", "maxResults": 50}
        if source.startswith("ssm")
        else {"maxResults": 100}
    )
    return _record(rng, moment, source, name, _identity(rng.choice(APPS), rng), params, f"10.1.{rng.randrange(250)}.9")


def generate(folder: Path, files: int, records_per_file: int, seed: int = 7) -> tuple[list[Path], int]:
    """A busy day: mostly unrelated calls, ~8% secret reads with their Decrypts, 1% of reads violating."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rng = random.Random(seed)
    start = 1793577600.0  # 2026-11-02T00:00:00Z
    paths, total = [], 0
    for index in range(files):
        records: list[dict] = []
        while len(records) < records_per_file:
            moment = start + (index + rng.random()) * 86400 / files
            if rng.random() < 0.04:
                records += _secret_read(rng, moment, violate=rng.random() < 0.01)
            else:
                records.append(_noise(rng, moment))
        path = folder / f"{ACCOUNT}_CloudTrail_eu-central-1_20261102T{index:04d}Z_{index:08x}.json.gz"
        path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), compresslevel=6))
        paths.append(path)
        total += len(records)
    return paths, total


# ----------------------------------------------------------------------------- measuring


def wall(command: list[str] | str, repeat: int, **kwargs: Any) -> float:
    """Median wall time of a command (it must succeed, or exit 1 for replay's 'findings')."""
    times = []
    for _ in range(repeat):
        begin = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, **kwargs)
        times.append(time.perf_counter() - begin)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"{command!r} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(times)


JQ_FILTER = (
    '.Records[] | select((.eventSource == "ssm.amazonaws.com" and (.eventName | IN("GetParameter", '
    '"GetParameters", "GetParametersByPath", "GetParameterHistory")) and .requestParameters.withDecryption == true) '
    'or (.eventSource == "kms.amazonaws.com" and .eventName == "Decrypt" and '
    "(.requestParameters.encryptionContext.PARAMETER_ARN? != null)))"
)


def measured(command: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system, children included) of a command."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        begin = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        walls.append(time.perf_counter() - begin)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"{command!r} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(walls), statistics.median(cpus)


GUNZIP_ONLY = "import gzip, sys\nfor p in sys.argv[1:]:\n    gzip.decompress(open(p, 'rb').read())"
JSON_LOAD = "import gzip, json, sys\nfor p in sys.argv[1:]:\n    json.load(gzip.open(p))"


def throughput(paths: list[Path], allowlist: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """(wall, CPU) of jq, gunzip alone, json.load, replay on 1 and 2 workers, and hunt on DuckDB."""
    names = " ".join(str(p) for p in paths)
    files = [str(p) for p in paths]
    command = [str(BIN / "paramwatch")]
    return {
        "jq": (wall(f"gzip -dc {names} | jq -c '{JQ_FILTER}'", repeat, shell=True), float("nan")),
        "gunzip": measured([sys.executable, "-c", GUNZIP_ONLY, *files], repeat),
        "json.load": measured([sys.executable, "-c", JSON_LOAD, *files], repeat),
        "replay1": measured([*command, "replay", "--workers", "1", "--allowlist", str(allowlist), *files], repeat),
        "replay2": measured([*command, "replay", "--workers", "2", "--allowlist", str(allowlist), *files], repeat),
        "hunt": measured([*command, "hunt", "--engine", "duckdb", "--allowlist", str(allowlist), *files], repeat),
    }


PEAK = """
import io, resource, sys
from paramwatch.cli import main
main(sys.argv[1:], out=io.StringIO(), err=io.StringIO())
me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(me, kids)
"""


def peak_memory(paths: list[Path], allowlist: Path) -> tuple[int, int]:
    """Peak RSS in MiB of the replay process and of its largest worker."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK, "replay", "--allowlist", str(allowlist), *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    me, kids = (int(v) // 1024 for v in done.stdout.split())
    return me, kids


def import_cost(statement: str, repeat: int) -> float:
    env = dict(
        os.environ,
        PYTHONPATH=HANDLER_PATH,
        POWERTOOLS_SERVICE_NAME="paramwatch",
        POWERTOOLS_METRICS_NAMESPACE="paramwatch",
    )
    return wall([sys.executable, "-c", statement], repeat, env=env)


def handler_rss() -> int:
    """Resident memory of a process that imported the handler module, in MiB."""
    env = dict(
        os.environ,
        PYTHONPATH=HANDLER_PATH,
        POWERTOOLS_SERVICE_NAME="paramwatch",
        POWERTOOLS_METRICS_NAMESPACE="paramwatch",
    )
    code = "import resource, boto3, evaluator.app\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return int(done.stdout) // 1024


def per_event(allowlist_json: str, events: int) -> dict[str, float]:
    """CPU per event in the warm handler: allowed reads (no AWS call) and violations (SNS stubbed)."""
    os.environ.update(
        AWS_DEFAULT_REGION="eu-central-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        POWERTOOLS_SERVICE_NAME="paramwatch",
        POWERTOOLS_METRICS_NAMESPACE="paramwatch",
        ALLOWLIST_PARAMETER="/paramwatch/bench/allowlist",
        ALLOWLIST_CACHE_SECONDS="3600",
        ALERT_TOPIC_ARN=f"arn:aws:sns:eu-central-1:{ACCOUNT}:alerts",
        FAILURE_QUEUE_URL=f"https://sqs.eu-central-1.amazonaws.com/{ACCOUNT}/failures",
        STATE_TABLE="bench-state",
        BULK_THRESHOLD="10000",
    )
    import boto3
    from botocore.stub import Stubber
    from moto import mock_aws

    from evaluator import app
    from paramwatch.hold import Holds
    from paramwatch.settings import Settings
    from paramwatch.state import MemoryState
    from paramwatch_aws.alerts import AlertSender
    from paramwatch_aws.allowlist_store import AllowlistStore
    from paramwatch_aws.bus import FindingBus
    from paramwatch_aws.cached_state import CachedState
    from paramwatch_aws.liveness_store import LivenessStore
    from paramwatch_aws.own_store import OwnStore

    rng = random.Random(11)
    context = type(
        "Context",
        (),
        {"function_name": "bench", "memory_limit_in_mb": 256, "invoked_function_arn": "arn", "aws_request_id": "r"},
    )()

    def warm_events(violate: bool, count: int) -> list[dict]:
        out = []
        for i in range(count):
            read = _secret_read(rng, 1793577600.0 + i * 0.01, violate=violate, kind="get")[0]
            if violate:  # a distinct parameter each time, so that every one pages (worst case)
                read["requestParameters"]["name"] = f"/other/secret-{i}"
            else:  # the same few secrets, read over and over: the steady state of a service
                read["userIdentity"] = _identity("svc-00", rng)
                read["requestParameters"]["name"] = f"/svc-00/secret-{i % 4}"
            out.append({"detail-type": "AWS API Call via CloudTrail", "source": "aws.ssm", "detail": read})
        return out

    with mock_aws():  # only for the one allowlist read; it is then cached for the run
        ssm = boto3.client("ssm")
        ssm.put_parameter(Name="/paramwatch/bench/allowlist", Value=allowlist_json, Type="String")
        sns = boto3.client("sns")
        stubber = Stubber(sns)
        events_client = boto3.client("events")
        bus_stubber = Stubber(events_client)
        settings = Settings.from_env(os.environ)
        state = CachedState(MemoryState())
        runtime = app.Runtime(
            settings=settings,
            tuning=settings.tuning,
            alerts=AlertSender(sns=sns, sqs=None, topic_arn=os.environ["ALERT_TOPIC_ARN"], failure_queue_url=""),
            state=state,
            allowlist=AllowlistStore(ssm=ssm, name=settings.allowlist_parameter, max_age=3600),
            own=OwnStore(ssm=ssm, settings=settings, max_age=3600),
            bus=FindingBus(events=events_client, bus_name="default"),
            hub=None,
            holds=Holds(state, 0),  # GetParameter reads only: nothing is held
            hold_queue=None,
            liveness=LivenessStore(boto3.resource("dynamodb").Table("bench-state")),  # no heartbeats here
            account_names=None,
        )
        app.runtime = lambda: runtime  # the bench supplies the warm container's clients
        app.logger.setLevel("ERROR")
        sink = io.StringIO()
        results = {}
        with stubber, bus_stubber, _stdout_to(sink):
            app.lambda_handler(warm_events(False, 1)[0], context)  # cold path: allowlist fetched
            for label, violate in (("allowed", False), ("violation", True)):
                batch = warm_events(violate, events)
                if violate:
                    for _ in batch:
                        stubber.add_response("publish", {"MessageId": "m"})
                        bus_stubber.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}]})
                begin = time.process_time()
                for event in batch:
                    app.lambda_handler(event, context)
                results[label] = (time.process_time() - begin) / events
            stubber.assert_no_pending_responses()
            bus_stubber.assert_no_pending_responses()
            empty = _decorated_empty(app)
            begin = time.process_time()
            for event in warm_events(False, events):
                empty(event, context)
            results["decorators only"] = (time.process_time() - begin) / events
    return results


def _decorated_empty(app: Any) -> Callable:
    @app.logger.inject_lambda_context(log_event=False)
    def empty(event: dict, context: Any) -> dict:
        app.logger.set_correlation_id(app.correlation_id(event))
        return {}

    return empty


class _stdout_to:
    def __init__(self, sink: io.StringIO) -> None:
        self.sink = sink

    def __enter__(self) -> None:
        self.saved = sys.stdout
        sys.stdout = self.sink

    def __exit__(self, *_: object) -> None:
        sys.stdout = self.saved


def precision(paths: list[Path]) -> dict[str, int]:
    """Of the events the deployed rules deliver, how many needed evaluating (and what they missed)."""
    from moto.events.models import EventPattern

    from paramwatch.access import is_relevant, to_access
    from paramwatch.allowlist import validate
    from paramwatch.cloudtrail import CloudTrailRecord
    from paramwatch.rules import touches_honeytoken
    from support import deploy_rule_patterns, eventbridge_event, translate_template

    patterns = [EventPattern.load(p) for p in deploy_rule_patterns(translate_template(ROOT / "template.yaml")).values()]
    allowlist = validate(ALLOWLIST)
    counts = {"records": 0, "delivered": 0, "needed": 0, "delivered and needed": 0}
    delivered_calls: dict[str, int] = {}
    for path in paths:
        for record in json.loads(gzip.decompress(path.read_bytes()))["Records"]:
            counts["records"] += 1
            delivered = any(p.matches_event(eventbridge_event(record)) for p in patterns)
            needed = False
            if is_relevant(record):
                access = to_access(CloudTrailRecord.model_validate(record))
                needed = access.decrypted or touches_honeytoken(access, allowlist)
            counts["delivered"] += delivered
            if delivered:
                call = record["eventName"] + (f" ({record['errorCode']})" if record.get("errorCode") else "")
                delivered_calls[call] = delivered_calls.get(call, 0) + 1
            counts["needed"] += needed
            counts["delivered and needed"] += delivered and needed
    counts["calls"] = delivered_calls
    return counts


# ----------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--records-per-file", type=int, default=2600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    allowlist = OUT / "allowlist.json"
    allowlist.write_text(json.dumps(ALLOWLIST))
    paths, records = generate(OUT / "day", args.files, args.records_per_file)
    size = sum(p.stat().st_size for p in paths) / 2**20
    raw = sum(len(gzip.decompress(p.read_bytes())) for p in paths) / 2**20
    rows: list[tuple[str, str, str, str]] = []

    t = throughput(paths, allowlist, args.repeat)
    (wall1, cpu1), (wall2, cpu2) = t["replay1"], t["replay2"]
    rows += [
        (
            "replay, full evaluation, 1 worker",
            f"{wall1:.2f} s wall ({records / wall1 / 1000:.0f}k records/s)",
            f"jq filter only: {t['jq'][0]:.2f} s wall",
            f"{wall1 / t['jq'][0]:.2f}x (goal < 0.5x)",
        ),
        (
            "replay CPU, 1 worker",
            f"{cpu1:.2f} CPU s",
            f"json.load: {t['json.load'][1]:.2f} CPU s",
            f"{cpu1 / t['json.load'][1]:.2f}x",
        ),
        (
            "replay CPU, 1 worker",
            f"{cpu1:.2f} CPU s",
            f"gunzip only: {t['gunzip'][1]:.2f} CPU s",
            f"{cpu1 / t['gunzip'][1]:.2f}x",
        ),
        (
            "replay wall, 2 workers",
            f"{wall2:.2f} s wall ({cpu2:.2f} CPU s)",
            f"1 worker: {wall1:.2f} s wall",
            f"{wall2 / wall1:.2f}x",
        ),
        (
            "hunt --engine duckdb",
            f"{t['hunt'][0]:.2f} s wall ({t['hunt'][1]:.2f} CPU s)",
            f"replay, 1 worker: {wall1:.2f} s wall",
            f"{t['hunt'][0] / wall1:.2f}x",
        ),
    ]

    memory = {n: peak_memory(paths[:n], allowlist) for n in (args.files // 4, args.files // 2, args.files)}
    smallest = memory[args.files // 4]
    for n, (me, kid) in memory.items():
        rows.append(
            (
                f"peak RSS, {n} files",
                f"main {me} MiB, worker {kid} MiB",
                f"{args.files // 4} files: main {smallest[0]} MiB",
                f"{me / smallest[0]:.2f}x",
            )
        )

    rss = handler_rss()
    rows.append(
        ("handler process RSS after import", f"{rss} MiB", "smallest Lambda size: 128 MB", f"{rss / 128:.2f} of 128 MB")
    )

    base = import_cost("pass", 7)
    boto = import_cost("import boto3", 7) - base
    handler = import_cost("import evaluator.app", 7) - base
    rows.append(
        (
            "cold start: import handler module",
            f"{handler * 1000:.0f} ms",
            f"import boto3: {boto * 1000:.0f} ms",
            f"{handler / boto:.2f}x (goal <= 1.5x)",
        )
    )

    cpu = per_event(json.dumps(ALLOWLIST), args.events)
    for label in ("allowed", "violation"):
        rows.append(
            (
                f"warm handler CPU, {label} read",
                f"{cpu[label] * 1e6:.0f} us/event",
                f"Powertools decorators only: {cpu['decorators only'] * 1e6:.0f} us",
                f"{cpu[label] / cpu['decorators only']:.2f}x",
            )
        )

    p = precision(paths)
    share = p["delivered and needed"] / p["delivered"] if p["delivered"] else 1.0
    missed = p["needed"] - p["delivered and needed"]
    rows.append(
        (
            "rule precision",
            f"{p['delivered and needed']} of {p['delivered']} delivered needed evaluating",
            f"{p['records']} records in the day",
            f"{share:.1%} (goal 100%), {missed} needed but not delivered",
        )
    )
    calls = ", ".join(f"{n} {call}" for call, n in sorted(p["calls"].items(), key=lambda item: -item[1]))
    rows.append(("delivered calls", calls, "mix: " + ", ".join(f"{k} {w:.0%}" for k, w in READ_MIX), ""))

    print(
        f"\nparamwatch bench: {records} records in {args.files} .json.gz files ({size:.1f} MiB gzipped, "
        f"{raw:.0f} MiB JSON), {os.cpu_count()} cores, Python {sys.version.split()[0]}\n"
    )
    widths = [max(len(r[i]) for r in [("measure", "paramwatch", "baseline", "ratio"), *rows]) for i in range(4)]
    header = ("measure", "paramwatch", "baseline", "ratio")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print(f"\nbench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
