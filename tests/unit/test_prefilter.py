"""The byte pre-filter never drops a record the rules need.

Replay reads with `replay.prefilter`: records whose (source, name) or request-parameter bytes show
they cannot need judging are never decoded. Reading with and without it must select the same
records and count the same malformed ones, for generated records (escaped keys, odd spacing,
parameters of every JSON type, malformed records) and for the real logs.
"""

from __future__ import annotations

import json
import random
from functools import partial
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from paramwatch import cloudtrail, sources
from paramwatch.allowlist import validate
from paramwatch.cli import load_allowlist
from paramwatch.replay import prefilter
from paramwatch.rules import needs_judging
from paramwatch.sources import SourceError, expand, select
from strategies import any_records
from support import DATASET, EVENTS

WITH_DECOYS = load_allowlist([str(EVENTS / "allowlist.yaml")]).allowlist
WITHOUT_DECOYS = validate({"version": 1, "grants": [g.model_dump() for g in WITH_DECOYS.grants]})
# a prefix JSON may write as raw UTF-8 or as \u escapes, and a glob the template's rule never delivers
ODD_DECOYS = validate({"version": 1, "honeytokens": ["/dé cor/*", "/decoy/*/x", "/q?/*"]})
ALLOWLISTS = (WITH_DECOYS, WITHOUT_DECOYS, ODD_DECOYS)

SOURCES = ["ssm.amazonaws.com", "kms.amazonaws.com", "s3.amazonaws.com", 42, None]
NAMES = ["GetParameter", "GetParameters", "GetParametersByPath", "GetParameterHistory", "Decrypt", "PutParameter"]
NAME_VALUES = st.sampled_from(
    [
        "/decoy/x",
        "decoy/x",
        "/decoyed/x",
        "/orders/decoy/x",
        "/dé cor/x",
        "/dé co",
        "arn:aws:ssm:us-east-1:1:parameter/dé cor/k",
        "/orders/db",
        "arn:aws:ssm:us-east-1:1:parameter/decoy/k:2",
        "HIDDEN_DUE_TO_SECURITY_REASONS",
    ]
)
PARAMS = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.fixed_dictionaries(
        {},
        optional={
            "name": NAME_VALUES,
            "names": st.lists(NAME_VALUES, max_size=3),
            "path": st.sampled_from(["/", "/decoy", "/orders", "", "/dé cor/", "/dé"]),
            "recursive": st.booleans(),
            "withDecryption": st.sampled_from([True, False, "true", None]),
            "encryptionContext": st.one_of(
                st.fixed_dictionaries({"PARAMETER_ARN": st.one_of(NAME_VALUES, st.none())}),
                st.fixed_dictionaries({"aws:s3:arn": st.just("arn:aws:s3:::b/k")}),
                st.just("PARAMETER_ARN"),
            ),
        },
    ),
)
RECORDS = st.one_of(
    st.builds(
        lambda source, name, params, event_id: {
            "eventSource": source,
            "eventName": name,
            "requestParameters": params,
            "eventID": event_id,
        },
        st.sampled_from(SOURCES),
        st.sampled_from(NAMES),
        PARAMS,
        st.text(min_size=1, max_size=6),
    ),
    any_records(),
)
# JSON spells a key the same with escapes or spaces; the filter must not depend on one spelling.
SPELLINGS = [
    ('"PARAMETER_ARN"', '"\\u0050ARAMETER_ARN"'),
    ('"withDecryption"', '"with\\u0044ecryption"'),
    ('"ssm.amazonaws.com"', '"ssm\\u002eamazonaws.com"'),
    ('"Decrypt"', '"\\u0044ecrypt"'),
    ('"path"', '"\\u0070ath"'),
    ('"names"', '"nam\\u0065s"'),
    ('"name"', '"n\\u0061me"'),
    ("/decoy/", "\\/decoy\\/"),
    (":", ": "),
]


def write(path: Path, records: list, seed: int) -> Path:
    rng = random.Random(seed)
    text = json.dumps({"Records": records}, ensure_ascii=rng.random() < 0.5)
    for plain, other in SPELLINGS:
        if rng.random() < 0.3:
            text = text.replace(plain, other)
    path.write_text(text, encoding="utf-8")
    return path


def outcome(path: Path, wanted, byte_filter=None) -> object:
    try:
        return select(path, wanted, byte_filter)
    except SourceError as exc:  # a file that is not JSON (Infinity) fails the same either way
        return str(exc)


def same_selection(path: Path) -> None:
    for allowlist in ALLOWLISTS:
        wanted = partial(needs_judging, allowlist=allowlist)
        assert outcome(path, wanted, prefilter(allowlist)) == outcome(path, wanted)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(RECORDS, max_size=8), seed=st.integers(0, 2**16))
def test_prefilter_selects_what_full_decoding_selects(tmp_path, records, seed) -> None:
    same_selection(write(tmp_path / "t.json", records, seed))


def test_prefilter_rejects_without_decoding(tmp_path) -> None:
    # GIVEN an S3 Decrypt and a plain SSM read (no honeytokens): neither can need judging
    s3 = {"eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "requestParameters": {"encryptionContext": {}}}
    plain = {"eventSource": "ssm.amazonaws.com", "eventName": "GetParameter", "requestParameters": {"name": "/a"}}
    read = {**plain, "requestParameters": {"name": "/a", "withDecryption": True}}
    path = write(tmp_path / "t.json", [s3, plain, read], seed=1)
    filt = prefilter(WITHOUT_DECOYS)
    calls = []

    def wanted(record: dict) -> bool:
        calls.append(record)
        return needs_judging(record, WITHOUT_DECOYS)

    # WHEN read with the filter, THEN only the decrypting read reaches the full test
    selection = select(path, wanted, filt)
    assert [c["requestParameters"] for c in calls] == [read["requestParameters"]]
    assert selection.records == 3 and len(selection.selected) == 1


def test_prefilter_rejects_reads_no_honeytoken_rule_delivers(tmp_path) -> None:
    # GIVEN undecrypted SSM reads, with the template's honeytoken rule for /decoy/ in force
    def plain(call: str, **params: object) -> dict:
        return {"eventSource": "ssm.amazonaws.com", "eventName": call, "requestParameters": params}

    records = [
        plain("GetParameter", name="/orders/db"),
        plain("GetParameters", names=["/a", "/b"]),
        plain("GetParameter", name="/decoy/db"),
        plain("GetParameter", name="arn:aws:ssm:us-east-1:111122223333:parameter/decoy/db"),
        plain("GetParametersByPath", path="/"),
    ]
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"Records": records}))
    calls = []

    def wanted(record: dict) -> bool:
        calls.append(record["requestParameters"])
        return needs_judging(record, WITH_DECOYS)

    # WHEN read with the filter, THEN reads of other names never reach the full test; the decoy's
    # reads, and a by-path read of an ancestor, do and are selected
    selection = select(path, wanted, prefilter(WITH_DECOYS))
    assert calls == [r["requestParameters"] for r in records[2:]]
    assert len(selection.selected) == 3


@pytest.mark.skipif(not DATASET.is_dir(), reason="real CloudTrail dataset not present")
def test_prefilter_on_real_logs() -> None:
    files = list(expand([DATASET]))
    assert files
    for path in files:
        same_selection(path)


def test_prefilter_on_the_sample_trail() -> None:
    for path in expand([EVENTS / "sample-trail"]):
        same_selection(path)


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=6)),
    lambda inner: st.lists(inner, max_size=16) | st.dictionaries(st.text(max_size=4), inner, max_size=8),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(record=JSON_VALUES)
@example(record=[1] * 13)  # 26 bytes of text, 104 of oversize's estimate
@example(record=[[[[[]]]]])  # five levels in five brackets
def test_a_record_the_text_proves_small_is_never_oversize(record) -> None:
    # with limits small enough for generated records to cross them
    with pytest.MonkeyPatch.context() as patch:
        for module in (cloudtrail, sources):
            patch.setattr(module, "MAX_BYTES", 48)
            patch.setattr(module, "MAX_DEPTH", 4)
        if sources._surely_small(msgspec.json.encode(record)):
            assert cloudtrail.oversize(record) is None
