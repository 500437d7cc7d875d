"""Replay: judge CloudTrail archives offline, one file at a time, both cores busy.

This is the backtest a user runs before deploying, and the main local job.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paramwatch.access import is_relevant
from paramwatch.allowlist import Allowlist
from paramwatch.findings import Finding
from paramwatch.rules import invalid_event, judge
from paramwatch.sources import SourceError, expand, read_records

_PARALLEL_FROM = 4


@dataclass(frozen=True, slots=True)
class FileResult:
    """What one file gave: its findings, how many records it held, or why it could not be read."""

    path: str
    records: int = 0
    relevant: int = 0
    findings: tuple[Finding, ...] = ()
    error: str | None = None


@dataclass(slots=True)
class Totals:
    """Running totals over a replay, for the closing line and the exit code."""

    files: int = 0
    records: int = 0
    relevant: int = 0
    findings: int = 0
    errors: list[str] = field(default_factory=list)


def _is_record_shaped(record: Any) -> bool:
    return isinstance(record, dict) and all(
        isinstance(record.get(key), str) for key in ("eventSource", "eventName")
    )


def judge_records(records: Iterable[Any], allowlist: Allowlist) -> tuple[int, list[Finding]]:
    """Judge the parameter reads; report, never skip, records that are not CloudTrail."""
    relevant = 0
    findings: list[Finding] = []
    for record in records:
        if not _is_record_shaped(record):
            findings.append(invalid_event("unknown", "record lacks eventSource/eventName"))
            continue
        if not is_relevant(record):
            continue
        relevant += 1
        finding = judge(record, allowlist)
        if finding is not None:
            findings.append(finding)
    return relevant, findings


def judge_file(path: Path, allowlist: Allowlist) -> FileResult:
    """Read and judge one file; a file that cannot be read becomes an error, not an exception."""
    try:
        records = read_records(path)
    except SourceError as exc:
        return FileResult(path=str(path), error=f"{path}: {exc}")
    relevant, findings = judge_records(records, allowlist)
    return FileResult(str(path), len(records), relevant, tuple(findings))


def _worker_judge(args: tuple[Path, Allowlist]) -> FileResult:
    return judge_file(*args)


def replay(
    paths: Iterable[str | Path], allowlist: Allowlist, workers: int | None = None
) -> Iterator[FileResult]:
    """Judge every file, yielding results in file order. Uses a process per core for many files."""
    files = list(expand(paths))
    workers = workers or os.cpu_count() or 1
    if workers < 2 or len(files) < _PARALLEL_FROM:
        for path in files:
            yield judge_file(path, allowlist)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_worker_judge, ((p, allowlist) for p in files), chunksize=1)
