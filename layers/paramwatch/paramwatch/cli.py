"""The `paramwatch` command: replay archives offline and check allowlists before deploying."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from paramwatch import allowlist as allowlist_mod
from paramwatch.allowlist import Allowlist, AllowlistError
from paramwatch.escape import safe
from paramwatch.findings import Finding, Severity
from paramwatch.render import finding_json, table
from paramwatch.replay import Totals, replay

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def load_allowlist_file(path: str) -> Allowlist:
    """Read and validate an allowlist file; AllowlistError names the file and each bad field."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AllowlistError([f"{path}: cannot read: {exc}"]) from None
    try:
        return allowlist_mod.parse(text)
    except AllowlistError as exc:
        raise AllowlistError([f"{path}: {p}" for p in exc.problems]) from None


def _cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        loaded = load_allowlist_file(args.file)
    except AllowlistError as exc:
        print(exc, file=err)
        return EXIT_ERROR
    print(
        f"{args.file}: ok, {len(loaded.grants)} grant(s), {len(loaded.honeytokens)} honeytoken(s)",
        file=out,
    )
    return EXIT_CLEAN


def _cmd_schema(_: argparse.Namespace, out: TextIO, __: TextIO) -> int:
    print(json.dumps(allowlist_mod.schema(), indent=2), file=out)
    return EXIT_CLEAN


def _closing_line(totals: Totals, severities: Counter[str]) -> str:
    ordered = sorted(severities.items(), key=lambda item: -Severity[item[0].upper()])
    by_severity = ", ".join(f"{n} {s}" for s, n in ordered) or "none"
    return (
        f"paramwatch: {totals.findings} finding(s) ({by_severity}) in {totals.files} file(s), "
        f"{totals.records} record(s), {totals.relevant} parameter read(s), "
        f"{len(totals.errors)} unreadable file(s)"
    )


def _cmd_replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        loaded = load_allowlist_file(args.allowlist)
    except AllowlistError as exc:
        print(exc, file=err)
        return EXIT_ERROR
    totals = Totals()
    severities: Counter[str] = Counter()
    collected: list[Finding] = []
    for result in replay(args.paths, loaded, workers=args.workers):
        totals.files += 1
        if result.error:
            totals.errors.append(result.error)
            print(f"paramwatch: error: {safe(result.error)}", file=err)
            continue
        totals.records += result.records
        totals.relevant += result.relevant
        totals.findings += len(result.findings)
        severities.update(str(f.severity) for f in result.findings)
        if args.format == "jsonl":
            for finding in result.findings:
                print(finding_json(finding), file=out)
        else:
            collected.extend(result.findings)
    if args.format == "table":
        for row in table(collected):
            print(row, file=out)
    print(_closing_line(totals, severities), file=err)
    if totals.files == 0:
        print("paramwatch: error: no input files found", file=err)
        return EXIT_ERROR
    if totals.errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if totals.findings else EXIT_CLEAN


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, exposed for tests and for `--help`."""
    parser = argparse.ArgumentParser(
        prog="paramwatch", description="Watch who reads SSM Parameter Store secrets."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("replay", help="judge CloudTrail log files against an allowlist")
    rep.add_argument("--allowlist", required=True, help="allowlist file (YAML or JSON)")
    rep.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    rep.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    rep.add_argument("paths", nargs="+", help="log files (.json, .json.gz) or folders of them")
    rep.set_defaults(func=_cmd_replay)

    check = sub.add_parser("check-allowlist", help="validate an allowlist file")
    check.add_argument("file")
    check.set_defaults(func=_cmd_check)

    schema = sub.add_parser("schema", help="print the allowlist's JSON Schema")
    schema.set_defaults(func=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Entry point; returns the exit code (0 clean, 1 findings, 2 errors)."""
    args = build_parser().parse_args(argv)
    if out is None:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `paramwatch replay ... | head` ends quietly
    return args.func(args, out or sys.stdout, err or sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
