"""Reading CloudTrail records from files: S3 log files (plain or gzip) and EventBridge events.

Each file is read whole, one at a time, so memory depends on the largest file, not the archive.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")
_GZIP_MAGIC = b"\x1f\x8b"


class SourceError(ValueError):
    """A file that cannot be read as CloudTrail; the message says why in one line."""


def expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files named directly, and files with a CloudTrail suffix found below folders, sorted."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
        else:
            yield path


def _decode(data: bytes, path: Path) -> Any:
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceError(f"corrupt gzip: {exc}") from None
    if not data.strip():
        raise SourceError("empty file")
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        try:
            return [orjson.loads(line) for line in data.splitlines() if line.strip()]
        except orjson.JSONDecodeError as exc:
            raise SourceError(f"not JSON lines: {exc}") from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"not JSON: {exc}") from None


def _unwrap(item: Any) -> Any:
    """An EventBridge event carries the CloudTrail record in `detail`; a bare record is itself."""
    if isinstance(item, dict) and "detail-type" in item and "detail" in item:
        return item["detail"]
    return item


def records_of(document: Any) -> list[Any]:
    """The CloudTrail records in a parsed file, whatever of the accepted shapes it has."""
    if isinstance(document, dict):
        if "Records" in document:
            records = document["Records"]
            if not isinstance(records, list):
                raise SourceError("'Records' is not a list")
            return records
        if "detail-type" in document or "eventID" in document:
            return [_unwrap(document)]
        raise SourceError("JSON object is neither a CloudTrail log file nor an EventBridge event")
    if isinstance(document, list):
        return [_unwrap(item) for item in document]
    raise SourceError(f"top-level JSON is a {type(document).__name__}, not CloudTrail")


def read_records(path: Path) -> list[Any]:
    """All records of one file; raise SourceError naming the reason when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    return records_of(_decode(data, path))
