"""Replay: judge CloudTrail archives offline, the backtest a user runs before deploying.

Reading, parsing and the stateless rules (the expensive part) run in one process per core and keep
only the parameter reads; the stateful detections then run in this process over those reads, in
file order, exactly as in Lambda, so a backtest raises the alerts production would raise.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from paramwatch.access import KMS_DECRYPTS, KMS_ENCRYPTS, KMS_SOURCE, SSM_READS, SSM_SOURCE
from paramwatch.allowlist import Allowlist
from paramwatch.detector import Detector, Judged, Verdict, prejudge
from paramwatch.rules import could_need, invalid_event, needs_judging
from paramwatch.sources import ByteFilter, SourceError, expand, select

_PARALLEL_FROM = 4


@dataclass(frozen=True, slots=True)
class FileReads:
    """What one file holds for the detector: its parameter reads, or why it could not be read."""

    path: str
    records: int = 0
    reads: tuple[Judged | None, ...] = ()
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
    grants_used: frozenset[str] = frozenset()
    places: frozenset[tuple[str, str]] = frozenset()


def prefilter(allowlist: Allowlist) -> ByteFilter:
    """The byte filter replay reads with: SSM and KMS records that `rules.could_need` judging."""
    kms = KMS_DECRYPTS | KMS_ENCRYPTS
    calls = frozenset({*((KMS_SOURCE, name) for name in kms), *((SSM_SOURCE, name) for name in SSM_READS)})
    return ByteFilter(calls, partial(could_need, allowlist=allowlist))


def select_reads(path: Path, allowlist: Allowlist, track_grants: bool = False) -> FileReads:
    """Read one file and keep what the rules would deliver; a file that cannot be read is an error."""
    try:
        selection = select(path, partial(needs_judging, allowlist=allowlist), prefilter(allowlist))
    except SourceError as exc:
        return FileReads(path=str(path), error=f"{path}: {exc}")
    judged = tuple(prejudge(record, allowlist, track_grants) for record in selection.selected)
    return FileReads(str(path), selection.records, judged, selection.malformed)


def _selected(files: list[Path], allowlist: Allowlist, workers: int, track_grants: bool) -> Iterator[FileReads]:
    select = partial(select_reads, allowlist=allowlist, track_grants=track_grants)
    if workers < 2 or len(files) < _PARALLEL_FROM:
        yield from map(select, files)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(select, files, chunksize=1)


def replay(
    paths: Iterable[str | Path], detector: Detector, workers: int | None = None, track_grants: bool = False
) -> Iterator[FileResult]:
    """Judge every file in order, yielding each file's verdicts (and, with `track_grants`, the grants used)."""
    files = list(expand(paths))
    for selected in _selected(files, detector.allowlist, workers or os.cpu_count() or 1, track_grants):
        if selected.error:
            yield FileResult(selected.path, error=selected.error)
            continue
        verdicts = [
            Verdict(invalid_event("unknown", "record lacks eventSource/eventName"), paged=True)
            for _ in range(selected.malformed)
        ]
        for judged in selected.reads:
            outcome = detector.process_judged(judged, now=0.0)
            verdicts += outcome.verdicts
            if outcome.begun:
                detector.finish(outcome.begun)
        used = frozenset(j.grant for j in selected.reads if j is not None and j.grant)
        places = frozenset((j.access.account or "?", j.access.region or "?") for j in selected.reads if j and j.access)
        yield FileResult(
            selected.path, selected.records, len(selected.reads), tuple(verdicts), grants_used=used, places=places
        )
