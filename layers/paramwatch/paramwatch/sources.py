"""Reading CloudTrail records from files: S3 log files (plain or gzip) and EventBridge events.

Each file is read whole, one at a time, so memory depends on the largest file, not the archive.
For S3 log files (`{"Records": [...]}`, nearly all of an archive) msgspec first decodes, in one
call per file, only each record's source and name and keeps its request parameters as raw bytes.
A `ByteFilter` then rejects most records without decoding anything more: a record from another
service, or one whose request-parameter bytes cannot hold what the rules need (a KMS Decrypt
without `PARAMETER_ARN`). Only records that pass are decoded whole. That skips building Python
objects for the 90%+ of a trail that is unrelated traffic, which is where `json.load` spends its
time.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from paramwatch.cloudtrail import MAX_BYTES, MAX_DEPTH, detail_of, oversize

SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")
MAX_FILE_BYTES = 256 << 20
"""CloudTrail delivers a file every few minutes per region, far below this; more is not a log file."""
_GZIP_MAGIC = b"\x1f\x8b"
_JSON = msgspec.json.Decoder()


class SourceError(ValueError):
    """A file that cannot be read as CloudTrail; the message says why in one line."""


class _LogFile(msgspec.Struct):
    Records: list[msgspec.Raw]


class _ShapedHead(msgspec.Struct):
    """A CloudTrail-shaped record, decoded only as far as the byte filter needs."""

    eventSource: str
    eventName: str
    requestParameters: msgspec.Raw = msgspec.Raw(b"null")
    userIdentity: msgspec.Raw = msgspec.Raw(b"null")


class _Heads(msgspec.Struct):
    Records: list[_ShapedHead]


class _Head(msgspec.Struct):
    """The fields the pre-filter reads; everything else stays undecoded."""

    eventSource: Any = None
    eventName: Any = None
    requestParameters: msgspec.Raw = msgspec.Raw(b"null")
    userIdentity: msgspec.Raw = msgspec.Raw(b"null")


_LOG_FILE = msgspec.json.Decoder(_LogFile)
_TOO_DEEP = "JSON nested too deep to read (a record built to exhaust the parser)"
_HEAD = msgspec.json.Decoder(_Head)
_HEADS = msgspec.json.Decoder(_Heads)


@dataclass(frozen=True, slots=True)
class ByteFilter:
    """A necessary condition for `wanted`, checked before a record is decoded any further.

    A record is skipped unless its (source, name) is one of `calls` and `may_want(source, name,
    params)` holds on the raw JSON bytes of its request parameters. It must never reject a record
    `wanted` would accept: the property test in tests/unit/test_prefilter.py checks that.
    """

    calls: frozenset[tuple[str, str]]
    may_want: Callable[[str, str, bytes], bool]


@dataclass(frozen=True, slots=True)
class Selection:
    """The records of one file that passed the pre-filter, and what the file held in all."""

    records: int
    selected: list[Any]
    malformed: int


def expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files named directly, and files with a CloudTrail suffix found below folders, sorted."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
        else:
            yield path


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"


def _gunzip(data: bytes) -> bytes:
    """Every gzip member, stopping at MAX_FILE_BYTES of output so that a gzip bomb cannot fill memory."""
    out = bytearray()
    while data:
        member = zlib.decompressobj(wbits=31)
        out += member.decompress(data, MAX_FILE_BYTES + 1 - len(out))
        if len(out) > MAX_FILE_BYTES:
            raise SourceError(f"larger than {_size(MAX_FILE_BYTES)} once decompressed")
        if not member.eof:
            raise SourceError("corrupt gzip: compressed file ended before the end-of-stream marker was reached")
        data = member.unused_data
    return bytes(out)


def _bytes_of(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SourceError(f"larger than {_size(MAX_FILE_BYTES)}")
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    if data[:2] == _GZIP_MAGIC:
        try:
            data = _gunzip(data)
        except zlib.error as exc:
            raise SourceError(f"corrupt gzip: {exc}") from None
    if not data.strip():
        raise SourceError("empty file")
    return data


def _decode(data: bytes, path: Path) -> Any:
    try:
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            return [_JSON.decode(line) for line in data.splitlines() if line.strip()]
        return _JSON.decode(data)
    except msgspec.DecodeError as exc:
        raise SourceError(f"not JSON: {exc}") from None
    except RecursionError:
        raise SourceError(_TOO_DEEP) from None


def _checked(record: Any, index: int) -> Any:
    """A selected record within the depth and size limits; beyond them the file is unreadable."""
    problem = oversize(record)
    if problem:
        raise SourceError(f"record {index}: {problem}")
    return record


def records_of(document: Any) -> list[Any]:
    """The CloudTrail records in a parsed file, whatever of the accepted shapes it has."""
    if isinstance(document, dict):
        if "Records" in document:
            records = document["Records"]
            if not isinstance(records, list):
                raise SourceError("'Records' is not a list")
            return records
        if "detail-type" in document or "eventID" in document:
            return [detail_of(document)]
        raise SourceError("JSON object is neither a CloudTrail log file nor an EventBridge event")
    if isinstance(document, list):
        return [detail_of(item) for item in document]
    raise SourceError(f"top-level JSON is a {type(document).__name__}, not CloudTrail")


def _is_record_shaped(record: Any) -> bool:
    return isinstance(record, dict) and all(isinstance(record.get(key), str) for key in ("eventSource", "eventName"))


def select(path: Path, wanted: Callable[[dict[str, Any]], bool], prefilter: ByteFilter | None = None) -> Selection:
    """The records of a file that `wanted` accepts, judging from source, name and parameters only.

    Records that are not CloudTrail-shaped (no text eventSource and eventName) are counted as
    malformed and selected too, never dropped silently: judging makes each an invalid-event
    finding, with its eventID when it has one, as the handler would.
    """
    data = _bytes_of(path)
    if prefilter is not None:
        try:
            heads = _HEADS.decode(data).Records
        except msgspec.DecodeError:  # some record is not CloudTrail-shaped, or no log file: one by one
            pass
        except RecursionError:
            raise SourceError(_TOO_DEEP) from None
        else:
            return _select_heads(data, heads, wanted, prefilter)
    try:
        raws = _LOG_FILE.decode(data).Records
    except msgspec.DecodeError:
        return _select_decoded(records_of(_decode(data, path)), wanted)
    except RecursionError:
        raise SourceError(_TOO_DEEP) from None
    selected, malformed = [], 0
    for index, raw in enumerate(raws):
        try:
            head = _HEAD.decode(raw)
        except msgspec.DecodeError:  # not an object at all
            malformed += 1
            selected.append(_JSON.decode(raw))
            continue
        if not (isinstance(head.eventSource, str) and isinstance(head.eventName, str)):
            malformed += 1
            selected.append(_JSON.decode(raw))
            continue
        light = {"eventSource": head.eventSource, "eventName": head.eventName}
        if head.eventSource in ("ssm.amazonaws.com", "kms.amazonaws.com"):
            light["requestParameters"] = _JSON.decode(head.requestParameters)
        if head.eventSource == "kms.amazonaws.com":  # SSM's own Encrypt is told apart by invokedBy
            light["userIdentity"] = _JSON.decode(head.userIdentity)
        if wanted(light):
            selected.append(_checked(_JSON.decode(raw), index))
    return Selection(len(raws), selected, malformed)


def _select_heads(
    data: bytes, heads: list[_ShapedHead], wanted: Callable[[dict[str, Any]], bool], prefilter: ByteFilter
) -> Selection:
    """The fast path for a file whose records are all CloudTrail-shaped."""
    calls, may_want = prefilter.calls, prefilter.may_want
    picked = []
    for index, head in enumerate(heads):
        if (head.eventSource, head.eventName) not in calls:
            continue
        params = bytes(head.requestParameters)
        if not may_want(head.eventSource, head.eventName, params):
            continue
        light = {
            "eventSource": head.eventSource,
            "eventName": head.eventName,
            "requestParameters": _JSON.decode(params),
        }
        if head.eventSource == "kms.amazonaws.com":  # SSM's own Encrypt is told apart by invokedBy
            light["userIdentity"] = _JSON.decode(head.userIdentity)
        if wanted(light):
            picked.append(index)
    if not picked:
        return Selection(len(heads), [], 0)
    raws = _LOG_FILE.decode(data).Records
    selected = []
    for i in picked:
        text = bytes(raws[i])
        record = _JSON.decode(text)
        selected.append(record if _surely_small(text) else _checked(record, i))
    return Selection(len(heads), selected, 0)


def _surely_small(text: bytes) -> bool:
    """True when a record's JSON text alone proves `oversize` would pass it, which saves walking
    it: each byte adds at most 4 to oversize's size estimate (a one-digit number and its comma
    count 8), and every level of nesting needs its own bracket."""
    return len(text) * 4 <= MAX_BYTES and text.count(b"{") + text.count(b"[") < MAX_DEPTH


def records_from(path: Path, sources: frozenset[str]) -> tuple[int, list[bytes]]:
    """How many records a file holds, and the JSON text of each whose eventSource is in `sources`.

    For engines that read JSON themselves (hunt's DuckDB): one record per item, in file order.
    """
    data = _bytes_of(path)
    try:
        heads = _HEADS.decode(data).Records
    except msgspec.DecodeError:  # not a log file of well-shaped records: decode it whole
        records = records_of(_decode(data, path))
        kept = [
            _checked(r, i) for i, r in enumerate(records) if isinstance(r, dict) and r.get("eventSource") in sources
        ]
        return len(records), [msgspec.json.encode(r) for r in kept]
    except RecursionError:
        raise SourceError(_TOO_DEEP) from None
    picked = [i for i, head in enumerate(heads) if head.eventSource in sources]
    raws = _LOG_FILE.decode(data).Records if picked else []
    for i in picked:
        _checked(_JSON.decode(raws[i]), i)
    return len(heads), [bytes(raws[i]) for i in picked]


def _select_decoded(records: list[Any], wanted: Callable[[dict[str, Any]], bool]) -> Selection:
    selected, malformed = [], 0
    for index, record in enumerate(records):
        if not _is_record_shaped(record):
            malformed += 1
            selected.append(record)
        elif wanted(record):
            selected.append(_checked(record, index))
    return Selection(len(records), selected, malformed)
