"""The `paramwatch` command: replay archives offline and check allowlists before deploying."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pydantic import ValidationError

from paramwatch import allowlist as allowlist_mod
from paramwatch import baseline, cost, deploy, hunt, pieces, review, trail_table
from paramwatch.allowlist import Allowlist, AllowlistError
from paramwatch.detector import Detector, Tuning, Verdict
from paramwatch.escape import safe
from paramwatch.findings import Rule, Severity
from paramwatch.own import Own
from paramwatch.pieces import Merged
from paramwatch.render import alert_text, table, verdict_json
from paramwatch.replay import replay
from paramwatch.sql import DIALECTS
from paramwatch.state import MemoryState

if TYPE_CHECKING:
    from paramwatch_aws.redrive import RedriveReport

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
EXIT_CODES = (
    "exit codes: 0 done, nothing found; 1 findings printed (replay, hunt) or checks failed (doctor); "
    "2 error: bad arguments or input, named on one line (replay still judges the files it can read)"
)


@dataclass(slots=True)
class Totals:
    """Running totals over a replay, for the closing line and the exit code."""

    files: int = 0
    records: int = 0
    relevant: int = 0
    findings: int = 0
    errors: list[str] = field(default_factory=list)
    places: set[tuple[str, str]] = field(default_factory=set)


def load_allowlist(paths: Sequence[str]) -> Merged:
    """Read and merge allowlist files and directories; AllowlistError names each file and bad field."""
    return pieces.load_files(paths)


def _cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        merged = load_allowlist(args.files)
    except AllowlistError as exc:
        print(exc, file=err)
        return EXIT_ERROR
    loaded = merged.allowlist
    today = args.today or datetime.now(UTC).date()
    remarks = review.review(loaded, today, merged.origins)
    errors = sum(r.expired for r in remarks) if args.strict else 0
    for remark in remarks:
        level = "error" if remark.expired and args.strict else "warning"
        print(f"paramwatch: {level}: {remark.line()}", file=err)
    # a summary that says "ok" next to an error would contradict the exit code
    verdict = f"refused by --strict, {errors} expired grant(s)" if errors else "ok"
    print(
        f"{', '.join(args.files)}: {verdict}, {len(loaded.grants)} grant(s), "
        f"{len(loaded.honeytokens)} honeytoken(s), {len(remarks) - errors} warning(s)",
        file=out,
    )
    return EXIT_ERROR if errors else EXIT_CLEAN


def _cmd_deploy_args(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        merged = load_allowlist(args.files)
        result = deploy.deploy_args(merged.allowlist)
    except AllowlistError as exc:
        print(exc, file=err)
        return EXIT_ERROR
    text = result.params_file(", ".join(args.files))
    for note in result.notes:
        print(f"paramwatch: note: {note}", file=err)
    if args.output is None:
        print(text, end="", file=out)
        return EXIT_CLEAN
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"paramwatch: error: {args.output}: cannot write: {exc.strerror or exc}", file=err)
        return EXIT_ERROR
    print(
        f"{args.output}: {', '.join(result.parameters)}; deploy with "
        f"sam deploy --parameter-overrides file://{args.output}",
        file=out,
    )
    return EXIT_CLEAN


def _cmd_schema(_: argparse.Namespace, out: TextIO, __: TextIO) -> int:
    print(json.dumps(allowlist_mod.schema(), indent=2), file=out)
    return EXIT_CLEAN


def _closing_line(totals: Totals, severities: Counter[str], paged: int) -> str:
    ordered = sorted(severities.items(), key=lambda item: -Severity[item[0].upper()])
    by_severity = ", ".join(f"{n} {s}" for s, n in ordered) or "none"
    return (
        f"paramwatch: {totals.findings} finding(s) ({by_severity}), {paged} would page, in "
        f"{totals.files} file(s), {totals.records} record(s), {totals.relevant} parameter read(s) "
        f"in {len({a for a, _ in totals.places})} account(s) and {len({r for _, r in totals.places})} region(s), "
        f"{len(totals.errors)} unreadable file(s)"
    )


def _tuning(args: argparse.Namespace) -> Tuning:
    fields = {name: getattr(args, name) for name in Tuning.model_fields if getattr(args, name, None) is not None}
    try:
        return Tuning(**fields)
    except ValidationError as exc:
        flags = "; ".join(f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in exc.errors())
        raise ValueError(flags) from None


def _baseline_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with --learn/--baseline before hours of replay, rather than after."""
    if args.learn and not args.baseline:
        return "--learn writes the pairs it sees to a baseline: give --baseline FILE"
    if args.learn and not args.baseline.resolve().parent.is_dir():
        return f"{args.baseline}: cannot write the baseline: {args.baseline.resolve().parent} is not a directory"
    if args.baseline and args.baseline.is_dir():
        return f"{args.baseline}: is a directory, not a baseline file"
    return None


def _cmd_replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if problem := _baseline_problem(args):
        print(f"paramwatch: error: {problem}", file=err)
        return EXIT_ERROR
    try:  # AllowlistError and pydantic's ValidationError are ValueErrors
        merged = load_allowlist(args.allowlist)
        loaded = merged.allowlist
        state = MemoryState()
        if args.baseline and args.baseline.exists():
            baseline.load(args.baseline, state)
        elif args.baseline and not args.learn:
            raise ValueError(f"{args.baseline}: baseline file not found")
        own = Own.for_stack(args.stack) if args.stack else Own()
        detector = Detector(loaded, state, _tuning(args), report_first_seen=not args.learn, own=own)
    except (ValueError, KeyError, OSError) as exc:
        print(f"paramwatch: error: {exc}", file=err)
        return EXIT_ERROR
    totals = Totals()
    severities: Counter[str] = Counter()
    paged = 0
    collected: list[Verdict] = []
    used: set[str] = set()
    for result in replay(args.paths, detector, workers=args.workers, track_grants=bool(args.baseline)):
        totals.files += 1
        if result.error:
            totals.errors.append(result.error)
            print(f"paramwatch: error: {safe(result.error)}", file=err)
            continue
        totals.records += result.records
        totals.relevant += result.relevant
        totals.places |= result.places
        totals.findings += len(result.verdicts)
        paged += sum(v.paged for v in result.verdicts)
        severities.update(str(v.finding.severity) for v in result.verdicts)
        used |= result.grants_used
        if args.format == "jsonl":
            for verdict in result.verdicts:
                print(verdict_json(verdict), file=out)
        elif args.format == "alert":
            for verdict in result.verdicts:
                if verdict.paged:
                    print(alert_text(verdict), file=out)
        else:
            collected.extend(result.verdicts)
    if args.format == "table":
        for row in table(collected):
            print(row, file=out)
    print(_closing_line(totals, severities, paged), file=err)
    if args.baseline and totals.files:
        for remark in review.stale(loaded, used, merged.origins):
            print(f"paramwatch: stale: {remark.line()}", file=err)
    if args.learn and args.baseline:
        try:
            count = baseline.save(state, args.baseline, detector.tuning)
        except OSError as exc:
            print(f"paramwatch: error: {args.baseline}: cannot write the baseline: {exc.strerror or exc}", file=err)
            return EXIT_ERROR
        print(
            f"paramwatch: baseline of {count} (principal, parameter) pair(s) written to {args.baseline}",
            file=err,
        )
    if totals.files == 0:
        print("paramwatch: error: no input files found", file=err)
        return EXIT_ERROR
    if totals.errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if totals.findings else EXIT_CLEAN


def _cmd_suggest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    state = MemoryState()
    try:
        baseline.load(args.baseline, state)
        bulk = baseline.bulk_settings(json.loads(args.baseline.read_text()))
        honeytokens = list(load_allowlist(args.allowlist).allowlist.honeytokens) if args.allowlist else None
    except (ValueError, KeyError, OSError) as exc:  # AllowlistError is a ValueError
        print(f"paramwatch: error: {exc}", file=err)
        return EXIT_ERROR
    bulk = {**bulk, "peaks": baseline.bulk_peaks(state)}
    print(baseline.suggest(baseline.export_pairs(state), bulk, honeytokens), end="", file=out)
    return EXIT_CLEAN


def _cmd_redrive(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import boto3  # only this command talks to AWS; replay and checks stay offline
    from botocore.exceptions import BotoCoreError, ClientError

    from paramwatch_aws.redrive import Redriver, RedriveReport

    report = RedriveReport()
    try:
        session = boto3.Session(region_name=args.region)
        outputs = {}
        if args.stack:
            stack = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
            outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        function = args.function or outputs.get("EvaluatorFunctionName")
        queues = args.queue or [outputs[k] for k in ("RulesDeadLetterQueueUrl", "FailureQueueUrl") if k in outputs]
        if not function or not queues:
            print("paramwatch: error: give --stack, or --function and --queue", file=err)
            return EXIT_ERROR
        redriver = Redriver(
            sqs=session.client("sqs"),
            lambda_client=session.client("lambda"),
            sns=session.client("sns"),
            function_name=function,
        )
        for queue in queues:
            redriver.drain(queue, report, limit=args.limit)
    except (BotoCoreError, ClientError) as exc:
        _redrive_summary(report, out, err, finished=False)
        print(f"paramwatch: error: {safe(exc, 300)}", file=err)
        return EXIT_ERROR
    _redrive_summary(report, out, err, finished=True)
    return EXIT_ERROR if report.left or report.failed else EXIT_CLEAN


def _redrive_summary(report: RedriveReport, out: TextIO, err: TextIO, *, finished: bool) -> None:
    """What a redrive did so far: handled records by kind, then what it left and why.

    "Empty" only when every queue was read to the end: a redrive stopped by an error says nothing
    of the queues it did not reach.
    """
    for kind, number in sorted(report.handled.items()):
        print(f"{number} {kind}", file=out)
    if finished and not report.handled and not report.left and not report.failed:
        print("nothing to redrive: the queues are empty", file=out)
    for line in report.left:
        print(f"paramwatch: left in queue: {safe(line)}", file=err)
    for line in report.failed:
        print(f"paramwatch: left in queue: {safe(line, 600)}", file=err)


def _cmd_push(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _push(args, out, err)
    except (BotoCoreError, ClientError) as exc:  # no credentials, no region, access denied
        print(f"paramwatch: error: {safe(exc, 300)}", file=err)
        return EXIT_ERROR


def _push(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import boto3  # only this command and redrive talk to AWS

    ssm = boto3.Session(region_name=args.region).client("ssm")
    prefix = f"/paramwatch/{args.stack}"
    grants_path = f"{prefix}/grants"
    try:
        main_text = ssm.get_parameter(Name=f"{prefix}/allowlist")["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        print(f"paramwatch: error: {prefix}/allowlist not found: is stack {args.stack!r} deployed here?", file=err)
        return EXIT_ERROR
    stored = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=grants_path, Recursive=False):
        stored.update({p["Name"]: p["Value"] for p in page["Parameters"]})
    try:
        main = pieces.Piece(f"{prefix}/allowlist", main_text)
        plan = pieces.push_plan(Path(args.directory), grants_path, main, stored)
    except AllowlistError as exc:
        print(f"paramwatch: error: nothing written; {exc}", file=err)
        return EXIT_ERROR
    for name, value in plan:
        ssm.put_parameter(Name=name, Value=value, Type="String", Tier="Intelligent-Tiering", Overwrite=True)
        print(f"{name}: written ({len(value)} bytes)", file=out)
    return EXIT_CLEAN


def _cmd_doctor(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import boto3  # only the AWS commands import boto3; replay and checks stay offline
    from botocore.exceptions import BotoCoreError

    from paramwatch_aws.doctor import CannotCheck, Doctor, exit_code, load_stack

    try:
        session = boto3.Session(region_name=args.region)
        stack = load_stack(session, args.stack)
    except (CannotCheck, BotoCoreError) as exc:
        print(f"paramwatch: cannot check: {exc}", file=err)
        return EXIT_ERROR
    checks = []
    for check in Doctor(session, stack).run():
        checks.append(check)
        print(check.line(), file=out)
    return exit_code(checks)


def _cmd_cost(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.reads_per_second < 0 or not 0 <= args.violation_share <= 1:
        print("paramwatch: error: --reads-per-second must be >= 0 and --violation-share in [0, 1]", file=err)
        return EXIT_ERROR
    prices = cost.load_prices()
    modes = {
        mode: cost.Workload(
            reads_per_second=args.reads_per_second,
            violation_share=args.violation_share,
            customer_managed_key=args.customer_managed_key,
            higher_throughput=args.higher_throughput,
            memory_mb=args.memory_mb,
            lean=mode == "lean",
            accounts=args.accounts,
            regions=args.regions,
            violating_pairs=args.violating_pairs,
            suppression_minutes=args.suppression_minutes,
            heartbeat_minutes=args.heartbeat_minutes,
            dashboard=args.dashboard,
        )
        for mode in ("full", "lean")
    }
    full = modes["full"]
    print(
        f"{full.reads_per_month:,.0f} secret reads a month (30 days) at {args.reads_per_second:g}/s across "
        f"{args.accounts} account(s) x {args.regions} region(s), {args.violation_share:.2%} violating; "
        f"prices {prices['region']} of {prices['date']}",
        file=out,
    )
    print(
        f"incident shape: the violating reads come from {args.violating_pairs} (principal, parameter) pair(s) "
        f"repeating all month; each pages once per {args.suppression_minutes}-minute suppression window",
        file=out,
    )
    header = f"  {'':<58} {'full mode':>30} {'lean mode':>30}"
    monitor = {mode: cost.monitor_lines(w, prices) for mode, w in modes.items()}
    print(f"\nparamwatch:\n{header}", file=out)
    for a, b in zip(monitor["full"], monitor["lean"], strict=True):
        print(f"  {a.item:<58} {_cell(a)} {_cell(b)}", file=out)
    totals = {mode: sum(line.monthly for line in lines) for mode, lines in monitor.items()}
    print(f"  {'total':<58} {totals['full']:>26,.2f} USD {totals['lean']:>26,.2f} USD", file=out)
    paid = cost.workload_lines(full, prices)
    print("\nalready paid by the watched workload:", file=out)
    for line in paid:
        print(f"  {line.item:<58} {_cell(line)}", file=out)
    kms = sum(line.monthly for line in paid if line.item.startswith("KMS Decrypt"))
    print(f"  {'total':<58} {sum(line.monthly for line in paid):>26,.2f} USD", file=out)
    if kms:
        shares = ", ".join(f"{totals[m] / kms:.1%} in {m} mode" for m in modes)
        print(f"\nparamwatch is {shares} of the workload's KMS Decrypt bill ({kms:,.2f} USD)", file=out)
    for mode, goal in (("full", cost.FULL_GOAL), ("lean", cost.LEAN_GOAL)):
        rate = cost.goal_met_from(modes[mode], prices, goal)
        where = (
            f"from {rate:,.1f} reads/s" if rate is not None else "at no read rate (the per-read part alone exceeds it)"
        )
        print(f"goal of {goal:.0%} in {mode} mode, with everything else as above: met {where}", file=out)
    ranking = cost.cheapest_memory(full, prices)
    print("\nLambda requests and duration by memory size, full mode (cheapest first):", file=out)
    for size, monthly in ranking:
        print(f"  {size:>5} MB {monthly:>12,.2f} USD", file=out)
    return EXIT_CLEAN


def _cell(line: cost.Line) -> str:
    quantity = f"{line.quantity:,.0f}" if line.quantity >= 100 else f"{line.quantity:,.2f}"
    return f"{quantity:>14} {line.unit[:13]:<13} {line.monthly:>7,.2f}"


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _cmd_hunt(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        if args.ddl:
            return _hunt_ddl(args, out)
        if not args.allowlist:
            raise hunt.HuntError("give --allowlist FILE (or --ddl --bucket B)")
        loaded = load_allowlist(args.allowlist).allowlist
        scope = hunt.Scope(
            args.since, args.until, tuple(args.account or ()), tuple(args.region or ()), tuple(args.rule or ())
        )
        if args.since and args.until and args.since > args.until:
            raise hunt.HuntError("--since is after --until")
        bulk = hunt.BulkRule(**{k: getattr(args, k) for k in ("threshold", "window_minutes") if getattr(args, k)})
        if args.engine == "athena":
            if args.paths:
                raise hunt.HuntError("--engine athena prints a query and reads no files; use --engine duckdb for files")
            print(hunt.build_query(loaded, DIALECTS["athena"], scope, bulk, args.table) + ";", file=out)
            if args.bytes_per_day is not None:
                print(_estimate_line(args), file=err)
            return EXIT_CLEAN
        return _hunt_duckdb(args, loaded, scope, bulk, out, err)
    except (AllowlistError, hunt.HuntError) as exc:
        print(f"paramwatch: error: {exc}", file=err)
        return EXIT_ERROR


def _estimate_line(args: argparse.Namespace) -> str:
    if args.since is None:
        raise hunt.HuntError("--bytes-per-day needs --since (and --until, default today)")
    if args.bytes_per_day < 0:
        raise hunt.HuntError("--bytes-per-day must be >= 0")
    prices = cost.load_prices()
    until = args.until or datetime.now(UTC).date()
    estimate = trail_table.scan_estimate(args.since, until, args.bytes_per_day, prices)
    return (
        f"paramwatch: estimated scan {estimate.days} day(s) x {args.bytes_per_day:,} bytes = "
        f"{estimate.bytes / 1e9:,.2f} GB, about {estimate.usd:,.4f} USD at {prices['athena_per_tb_scanned']:.2f} USD "
        f"per TB scanned (Athena, {prices['region']}, prices of {prices['date']})"
    )


def _hunt_ddl(args: argparse.Namespace, out: TextIO) -> int:
    if not args.bucket:
        raise hunt.HuntError("--ddl needs --bucket B")
    location = trail_table.TrailLocation(args.bucket, args.prefix or "", args.organization)
    regions = tuple(args.regions.split(",")) if args.regions else trail_table.REGIONS
    accounts = tuple(args.accounts.split(",")) if args.accounts else ()
    start = args.since or date(2020, 1, 1)
    print(trail_table.ddl(location, table=args.table, regions=regions, accounts=accounts, start=start) + ";", file=out)
    return EXIT_CLEAN


def _hunt_duckdb(
    args: argparse.Namespace,
    loaded: Allowlist,
    scope: hunt.Scope,
    bulk: hunt.BulkRule,
    out: TextIO,
    err: TextIO,
) -> int:
    from paramwatch import hunt_local

    if not args.paths:
        raise hunt.HuntError("--engine duckdb needs PATH... (CloudTrail log files or folders)")
    if any(n.version == 6 for g in loaded.grants for n in g.networks):
        print(
            "paramwatch: warning: DuckDB has no IPv6 CIDR test: reads from IPv6 addresses match no source_cidrs "
            "and are reported",
            file=err,
        )
    result = hunt_local.run(loaded, args.paths, scope, bulk)
    for error in result.errors:
        print(f"paramwatch: error: {safe(error)}", file=err)
    if args.format == "jsonl":
        for verdict in result.verdicts:
            print(verdict_json(verdict), file=out)
    else:
        for row in table(result.verdicts, paging=False):
            print(row, file=out)
    severities = Counter(str(v.finding.severity) for v in result.verdicts)
    ordered = sorted(severities.items(), key=lambda item: -Severity[item[0].upper()])
    by_severity = ", ".join(f"{n} {s}" for s, n in ordered) or "none"
    print(
        f"paramwatch: hunt found {len(result.verdicts)} finding(s) ({by_severity}) in {result.files} file(s), "
        f"{result.records} record(s), {len(result.errors)} unreadable file(s)",
        file=err,
    )
    if result.errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if result.verdicts else EXIT_CLEAN


def _number(kind: type[int] | type[float], text: str) -> float:
    """`text` as a number, or argparse's one-line error naming what was expected (not a function name)."""
    try:
        return kind(text)
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = int(_number(int, text))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _rate(text: str) -> float:
    value = _number(float, text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of 0 or more, got {text}")
    return value


def _share(text: str) -> float:
    value = _number(float, text)
    if not 0 <= value <= 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a share from 0 to 1, got {text}")
    return value


def _memory_mb(text: str) -> int:
    value = int(_number(int, text))
    if not 128 <= value <= 10240:
        raise argparse.ArgumentTypeError(f"Lambda memory is 128 to 10240 MB, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, exposed for tests and for `--help`."""
    parser = argparse.ArgumentParser(
        prog="paramwatch", description="Watch who reads SSM Parameter Store secrets.", epilog=EXIT_CODES
    )
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser(
        "replay",
        help="judge CloudTrail log files against an allowlist",
        description="Judge CloudTrail records offline with the same rules and detections as the deployed "
        'function. Inputs: CloudTrail log files as delivered to S3 ({"Records": [...]}, .json or .json.gz), '
        "folders of them, or files of EventBridge events (one event, a JSON list of events, or .jsonl, one "
        "event per line).",
        epilog=EXIT_CODES,
    )
    rep.add_argument(
        "--allowlist",
        required=True,
        action="append",
        help="allowlist file (YAML or JSON) or directory of pieces; repeat to merge several",
    )
    rep.add_argument(
        "--format",
        choices=("jsonl", "table", "alert"),
        default="jsonl",
        help="alert: each paged finding's SNS subject and body, exactly as e-mail subscribers get them",
    )
    rep.add_argument("--workers", type=_positive_int, default=None, help="processes (default: one per core)")
    rep.add_argument(
        "paths",
        nargs="+",
        help="CloudTrail log files (.json, .json.gz), folders of them, or EventBridge event files (.json, .jsonl)",
    )
    rep.add_argument("--baseline", type=Path, help="first-seen baseline file to read (and with --learn, write)")
    rep.add_argument("--learn", action="store_true", help="record (principal, parameter) pairs, report none as new")
    rep.add_argument(
        "--stack",
        help="paramwatch's stack name: also judge changes to its own resources (NAME-*, /paramwatch/NAME/...) "
        "and recognize its heartbeat; without it only trail-wide tamper rules apply",
    )
    for name, info in Tuning.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kind = float if info.annotation is float else int
        rep.add_argument(flag, type=kind, dest=name, help=f"default {info.default}")
    rep.set_defaults(func=_cmd_replay)

    suggest = sub.add_parser("suggest-allowlist", help="propose grants from a baseline built with --learn")
    suggest.add_argument("--baseline", type=Path, required=True)
    suggest.add_argument(
        "--allowlist",
        action="append",
        help="the current allowlist: its honeytokens are carried over (default: the template's /decoy/*)",
    )
    suggest.set_defaults(func=_cmd_suggest)

    check = sub.add_parser("check-allowlist", help="validate allowlist files and review their grants")
    check.add_argument("files", nargs="+", metavar="FILE", help="allowlist file or directory of pieces")
    check.add_argument("--strict", action="store_true", help="fail (exit 2) when a grant has expired")
    check.add_argument("--today", type=date.fromisoformat, help="review as of this date (YYYY-MM-DD)")
    check.set_defaults(func=_cmd_check)

    redrive = sub.add_parser("redrive", help="re-process the dead-letter and failure queues of a deployed stack")
    redrive.add_argument("--stack", help="stack name; its outputs name the function and the queues")
    redrive.add_argument("--function", help="evaluator function name (instead of --stack)")
    redrive.add_argument("--queue", action="append", help="queue URL (repeatable; instead of --stack)")
    redrive.add_argument("--region", default=None)
    redrive.add_argument("--limit", type=_positive_int, default=1000, help="messages per queue at most")
    redrive.set_defaults(func=_cmd_redrive)

    pieces_cmd = sub.add_parser("allowlist", help="manage a deployed stack's allowlist pieces")
    pieces_sub = pieces_cmd.add_subparsers(dest="allowlist_command", required=True)
    push = pieces_sub.add_parser("push", help="validate a directory of pieces, then write one parameter per file")
    push.add_argument("--stack", required=True, help="stack name: pieces go under /paramwatch/STACK/grants/")
    push.add_argument("--region", default=None)
    push.add_argument("directory", metavar="DIR", help="directory of *.yaml/*.yml/*.json pieces")
    push.set_defaults(func=_cmd_push)

    doctor = sub.add_parser(
        "doctor",
        help="read-only preflight of a deployed stack: trail, rules, allowlist, subscriptions, heartbeat, queues",
    )
    doctor.add_argument("--stack", required=True, help="the paramwatch stack's name")
    doctor.add_argument("--region", default=None, help="default: the standard AWS configuration")
    doctor.set_defaults(func=_cmd_doctor)

    price = sub.add_parser("cost", help="estimate the monthly bill of paramwatch next to the workload's own")
    price.add_argument("--reads-per-second", type=_rate, required=True, help="decrypted secret reads per second")
    price.add_argument("--violation-share", type=_share, default=0.01, help="share of reads that violate (0..1)")
    price.add_argument("--customer-managed-key", action="store_true", help="SecureStrings use a customer-managed key")
    price.add_argument("--higher-throughput", action="store_true", help="Parameter Store higher throughput is on")
    price.add_argument("--memory-mb", type=_memory_mb, default=256, help="evaluator memory size (128 to 10240)")
    price.add_argument(
        "--heartbeat-minutes", type=int, choices=(5, 10, 15, 30, 60), default=5, help="the HeartbeatMinutes parameter"
    )
    price.add_argument("--accounts", type=_positive_int, default=1, help="accounts the reads are spread over")
    price.add_argument("--regions", type=_positive_int, default=1, help="regions the reads are spread over")
    price.add_argument(
        "--violating-pairs",
        type=_positive_int,
        default=10,
        help="distinct (principal, parameter) pairs behind the violations",
    )
    price.add_argument("--suppression-minutes", type=_positive_int, default=60, help="the stack's SuppressionMinutes")
    price.add_argument("--dashboard", action="store_true", help="DashboardEnabled=true (3 USD a month)")
    price.set_defaults(func=_cmd_cost)

    args = sub.add_parser(
        "deploy-args",
        help="write the template parameters for an allowlist, for sam deploy --parameter-overrides file://...",
    )
    args.add_argument("files", nargs="+", metavar="FILE", help="allowlist file or directory of pieces")
    args.add_argument("--output", type=Path, help="parameter file to write (written only when the allowlist fits)")
    args.set_defaults(func=_cmd_deploy_args)

    hun = sub.add_parser("hunt", help="the allowlist as SQL: print it for Athena, or run it on DuckDB over files")
    hun.add_argument("--allowlist", action="append", help="allowlist file (repeatable: grants are combined)")
    hun.add_argument("--engine", choices=("athena", "duckdb"), default="athena")
    hun.add_argument("--since", type=_date, help="first day (UTC, YYYY-MM-DD), inclusive")
    hun.add_argument("--until", type=_date, help="last day (UTC, YYYY-MM-DD), inclusive")
    hun.add_argument("--account", action="append", help="account partition to scan (repeatable)")
    hun.add_argument("--region", action="append", help="region partition to scan (repeatable)")
    hun.add_argument(
        "--rule",
        action="append",
        choices=[str(r) for r in (*hunt.PER_EVENT_RULES, Rule.BULK)],
        help="report only this rule (repeatable)",
    )
    hun.add_argument("--table", default=hunt.TABLE, help="table name (default cloudtrail; database.table allowed)")
    hun.add_argument("--bytes-per-day", type=int, help="compressed bytes a day of the trail holds: print the scan")
    hun.add_argument("--bulk-threshold", type=int, dest="threshold", help="default 20, as replay")
    hun.add_argument("--bulk-window-minutes", type=int, dest="window_minutes", help="default 10, as replay")
    hun.add_argument("--format", choices=("jsonl", "table"), default="jsonl", help="duckdb output")
    hun.add_argument("--ddl", action="store_true", help="print the CREATE EXTERNAL TABLE for the trail bucket")
    hun.add_argument("--bucket", help="--ddl: the trail's S3 bucket")
    hun.add_argument("--prefix", help="--ddl: the trail's key prefix, if any")
    hun.add_argument("--organization", help="--ddl: organization ID, for an organization trail")
    hun.add_argument("--regions", help="--ddl: comma-separated regions (default: all commercial regions)")
    hun.add_argument("--accounts", help="--ddl: comma-separated account IDs (default: injected, name them per query)")
    hun.add_argument("paths", nargs="*", help="--engine duckdb: CloudTrail log files (.json, .json.gz) or folders")
    hun.set_defaults(func=_cmd_hunt)

    schema = sub.add_parser("schema", help="print the allowlist's JSON Schema")
    schema.set_defaults(func=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Entry point; returns the exit code (0 clean, 1 findings, 2 errors)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage and one error line (or the help)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    if out is None:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `paramwatch replay ... | head` ends quietly
    return args.func(args, out or sys.stdout, err or sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
