"""Replay: judge CloudTrail archives offline, the backtest a user runs before deploying.

Reading, parsing and the stateless rules (the expensive part) run in one process per core and keep
only the parameter reads; the stateful detections then run in this process over those reads, in
event-time order, so that a backtest gives the same verdicts whatever order the records have in
their files (CloudTrail documents none) and whatever order the folders (regions, accounts) sort in.

Files are read in the order of the delivery time in their CloudTrail names (`..._20261102T1015Z_...`)
across all folders; the reads wait in a heap and are judged once they are `HORIZON_SECONDS` older
than the newest file read, so memory holds about an hour of parameter reads, not the archive. Files
without a CloudTrail name are judged together, in event-time order, after all named files.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from paramwatch import tamper
from paramwatch.access import KMS_DECRYPTS, KMS_ENCRYPTS, KMS_SOURCE, SSM_READS, SSM_SOURCE, parse_time
from paramwatch.allowlist import Allowlist
from paramwatch.detector import BY_PATH_PART, NOBODY, SWEEP_PART, Detector, Judged, Verdict, prejudge
from paramwatch.hold import revealed_note
from paramwatch.own import Own
from paramwatch.rules import could_need, decoy_bytes, needs_judging
from paramwatch.sources import ByteFilter, SourceError, expand, select

_PARALLEL_FROM = 4
HORIZON_SECONDS = 3600
_DELIVERED = re.compile(r"_(\d{8}T\d{4})Z_")


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


def wanted(record: dict[str, Any], allowlist: Allowlist, own: Own = NOBODY) -> bool:
    """What the template's rules would deliver: reads to judge, and writes that may blind paramwatch."""
    return needs_judging(record, allowlist) or tamper.wants(record, own)


def prefilter(allowlist: Allowlist, own: Own = NOBODY) -> ByteFilter:
    """The byte filter replay reads with: SSM and KMS records that `rules.could_need` judging, and
    the writes the tamper rules judge."""
    kms = KMS_DECRYPTS | KMS_ENCRYPTS
    reads = {*((KMS_SOURCE, name) for name in kms), *((SSM_SOURCE, name) for name in SSM_READS)}
    writes = tamper.calls(own)
    decoys = decoy_bytes(allowlist)

    def may_want(source: str, name: str, params: bytes) -> bool:
        return (source, name) in writes or could_need(source, name, params, decoys)

    return ByteFilter(frozenset(reads | writes), may_want)


def select_reads(path: Path, allowlist: Allowlist, own: Own = NOBODY, track_grants: bool = False) -> FileReads:
    """Read one file and keep what the rules would deliver; a file that cannot be read is an error."""
    try:
        selection = select(path, partial(wanted, allowlist=allowlist, own=own), prefilter(allowlist, own))
    except SourceError as exc:
        return FileReads(path=str(path), error=f"{path}: {exc}")
    judged = tuple(prejudge(record, allowlist, own, track_grants) for record in selection.selected)
    return FileReads(str(path), selection.records, judged, selection.malformed)


def _selected(
    files: list[Path], allowlist: Allowlist, own: Own, workers: int, track_grants: bool
) -> Iterator[FileReads]:
    select = partial(select_reads, allowlist=allowlist, own=own, track_grants=track_grants)
    if workers < 2 or len(files) < _PARALLEL_FROM:
        yield from map(select, files)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(select, files, chunksize=1)


def delivered_at(path: Path) -> float | None:
    """The delivery time in a CloudTrail log file's name, as epoch seconds; None for other names."""
    found = _DELIVERED.search(path.name)
    if found is None:
        return None
    return datetime.strptime(found.group(1), "%Y%m%dT%H%M").replace(tzinfo=UTC).timestamp()


def in_delivery_order(files: Iterable[Path]) -> list[Path]:
    """Files by delivery time across folders (ties and unnamed files by name, unnamed last)."""
    return sorted(files, key=lambda p: (delivered_at(p) is None, delivered_at(p) or 0.0, p.name, str(p)))


def _when(judged: Judged) -> float:
    """The event time a judged record waits by; unreadable or timeless records go first."""
    if judged.access is not None:
        moment = judged.access.event_time
    else:
        moment = parse_time(judged.primary.event_time or "") if judged.primary is not None else None
    return moment.timestamp() if moment is not None else -math.inf


def replay(
    paths: Iterable[str | Path], detector: Detector, workers: int | None = None, track_grants: bool = False
) -> Iterator[FileResult]:
    """Judge every file, yielding for each the verdicts on the reads released after reading it
    (and, with `track_grants`, the grants its reads used)."""
    files = in_delivery_order(expand(paths))
    waiting: list[tuple[float, bool, str, int, Judged]] = []
    order = itertools.count()
    last: FileResult | None = None
    for selected in _selected(files, detector.allowlist, detector.own, workers or os.cpu_count() or 1, track_grants):
        if selected.error:
            yield FileResult(selected.path, error=selected.error)
            continue
        if last is not None:
            yield last
        verdicts: list[Verdict] = []
        for judged in selected.reads:
            if judged is not None:
                access = judged.access
                # ties: an SSM call before the Decrypts it caused, then by event ID
                key = (access.is_kms, access.event_id) if access is not None else (False, "")
                heapq.heappush(waiting, (_when(judged), *key, next(order), judged))
        delivered = delivered_at(Path(selected.path))
        until = delivered - HORIZON_SECONDS if delivered is not None else -math.inf
        verdicts += name_revealed(_release(detector, waiting, until))
        used = frozenset(j.grant for j in selected.reads if j is not None and j.grant)
        relevant = len(selected.reads) - selected.malformed  # malformed records are judged, but are no reads
        places = frozenset((j.access.account or "?", j.access.region or "?") for j in selected.reads if j and j.access)
        last = FileResult(selected.path, selected.records, relevant, tuple(verdicts), grants_used=used, places=places)
    if last is not None:
        rest = tuple(name_revealed(_release(detector, waiting, math.inf)))
        yield replace(last, verdicts=last.verdicts + rest) if rest else last


_JOINED = re.compile(rf"^(?:{BY_PATH_PART}|{SWEEP_PART}|repeat within \d+ minutes of the alert for event) ([^,\s]+)")


def name_revealed(verdicts: list[Verdict]) -> list[Verdict]:
    """Name, on each by-path call's page, the secrets its Decrypts revealed.

    A backtest has every Decrypt, so the page it prints says how many secrets the call (and the
    pages of its sweep) decrypted, and the first few, in the words of Lambda's held page
    (`paramwatch.hold`), which names those that arrived while the page was held.
    """
    by_event = {v.finding.event_id: v for v in verdicts}

    def page_of(verdict: Verdict) -> Verdict | None:
        for _ in range(4):  # a Decrypt joins its call, which may repeat the sweep's first call
            if verdict.paged:
                return verdict
            found = _JOINED.match(verdict.reason or "")
            verdict = by_event.get(found.group(1)) if found else None
            if verdict is None:
                return None
        return None

    revealed: dict[str, list[tuple[str, str]]] = {}
    for verdict in verdicts:
        if verdict.finding.event_name == "Decrypt" and not verdict.paged:
            page = page_of(verdict)
            if page is not None and page.finding.event_name == "GetParametersByPath":
                when = verdict.finding.event_time or ""
                revealed.setdefault(page.finding.event_id, []).extend((when, n) for n in verdict.finding.parameters)
    out = []
    for verdict in verdicts:
        entries = revealed.get(verdict.finding.event_id, ())
        if verdict.paged and entries:
            count = len({name for _, name in entries})
            verdict = replace(verdict, notes=(*verdict.notes, revealed_note(entries, count)))
        out.append(verdict)
    return out


def _release(detector: Detector, waiting: list[tuple[float, bool, str, int, Judged]], until: float) -> list[Verdict]:
    """Judge the waiting reads older than `until`, oldest first."""
    verdicts: list[Verdict] = []
    while waiting and waiting[0][0] <= until:
        judged = heapq.heappop(waiting)[-1]
        outcome = detector.process_judged(judged, now=0.0)
        verdicts += outcome.verdicts
        if outcome.begun:
            detector.finish(outcome.begun)
    return verdicts
