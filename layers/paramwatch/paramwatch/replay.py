"""Replay: judge CloudTrail archives offline, the backtest a user runs before deploying.

Reading and parsing files (the expensive part) runs in one process per core and keeps only the
parameter reads; the detector then runs in this process over those reads, in file order, with the
same stateful detections as Lambda, so a backtest raises the alerts production would raise.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paramwatch.access import is_relevant
from paramwatch.detector import Detector, Verdict
from paramwatch.rules import invalid_event
from paramwatch.sources import SourceError, expand, read_records

_PARALLEL_FROM = 4


@dataclass(frozen=True, slots=True)
class FileReads:
    """What one file holds for the detector: its parameter reads, or why it could not be read."""

    path: str
    records: int = 0
    reads: tuple[Any, ...] = ()
    malformed: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FileResult:
    """One file's verdicts, record counts, or error."""

    path: str
    records: int = 0
    relevant: int = 0
    verdicts: tuple[Verdict, ...] = ()
    error: str | None = None


def _is_record_shaped(record: Any) -> bool:
    return isinstance(record, dict) and all(isinstance(record.get(key), str) for key in ("eventSource", "eventName"))


def select_reads(path: Path) -> FileReads:
    """Read one file and keep the parameter reads; a file that cannot be read becomes an error."""
    try:
        records = read_records(path)
    except SourceError as exc:
        return FileReads(path=str(path), error=f"{path}: {exc}")
    reads = []
    malformed = 0
    for record in records:
        if not _is_record_shaped(record):
            malformed += 1
        elif is_relevant(record):
            reads.append(record)
    return FileReads(str(path), len(records), tuple(reads), malformed)


def _selected(files: list[Path], workers: int) -> Iterator[FileReads]:
    if workers < 2 or len(files) < _PARALLEL_FROM:
        yield from map(select_reads, files)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(select_reads, files, chunksize=1)


def replay(paths: Iterable[str | Path], detector: Detector, workers: int | None = None) -> Iterator[FileResult]:
    """Judge every file in order, yielding each file's verdicts."""
    files = list(expand(paths))
    for selected in _selected(files, workers or os.cpu_count() or 1):
        if selected.error:
            yield FileResult(selected.path, error=selected.error)
            continue
        verdicts = [
            Verdict(invalid_event("unknown", "record lacks eventSource/eventName"), paged=True)
            for _ in range(selected.malformed)
        ]
        for record in selected.reads:
            outcome = detector.process(record, now=0.0)
            verdicts += outcome.verdicts
            if outcome.begun:
                detector.finish(outcome.begun)
        yield FileResult(selected.path, selected.records, len(selected.reads), tuple(verdicts))
