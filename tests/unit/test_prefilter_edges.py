"""Replay's pre-filter for reads without decryption mirrors HoneytokenReadRule exactly: names under
the template's prefix, paths under it or among its first two ancestors, and nothing for globs the
template cannot write. Also the allowlist's honeytoken merge, account-only grants, and the event ID
an unreadable record is reported under."""

from __future__ import annotations

import json

import pytest

from paramwatch.allowlist import Grant, parse, with_honeytokens
from paramwatch.detector import judge
from paramwatch.rules import needs_judging


def _allowlist(*honeytokens: str):
    return parse(json.dumps({"version": 1, "grants": [], "honeytokens": list(honeytokens)}))


def _undecrypted(**params: object) -> dict:
    name = "GetParametersByPath" if "path" in params else "GetParameters" if "names" in params else "GetParameter"
    return {"eventSource": "ssm.amazonaws.com", "eventName": name, "requestParameters": params}


@pytest.mark.parametrize(
    ("honeytokens", "params", "delivered"),
    [
        (["/decoy/*"], {"name": "/decoy/x"}, True),
        (["/decoy/*"], {"name": "/decoys/x"}, False),
        (["/decoy/*"], {"names": ["/a", "/decoy/x"]}, True),
        (["/decoy/*"], {"name": "arn:aws:ssm:us-east-1:1:parameter/decoy/x"}, True),
        (["/decoy/*"], {"name": "arn:aws:ssm:us-east-1:1:parameter/decoy/x\ny"}, True),
        (["/decoy/*"], {"name": "arn:aws:ssm:us-east-1:1:parameter/other/x"}, False),
        (["/decoy/*"], {"path": "/decoy"}, True),
        (["/decoy/*"], {"path": "/"}, True),
        (["/decoy/*"], {"path": "/other"}, False),
        (["/a/b/c/*"], {"path": "/a"}, True),
        (["/a/b/c/*"], {"path": "/a/"}, True),
        (["/a/b/c/*"], {"path": "/a/b"}, True),
        (["/a/b/c/*"], {"path": "/a/b/"}, True),
        (["/a/b/c/*"], {"path": "/a/b/c"}, True),
        (["/a/b/c/*"], {"path": "/a/bx"}, False),
        (["/a/b/c/d/*"], {"path": "/a/b/c"}, False),
        (["/Xa/b/*"], {"path": "/Xa"}, True),
        (["/Xdecoy/*"], {"name": "/Xdecoy/x"}, True),
        (["/decoyX/*"], {"path": "/decoyX"}, True),
        (["/decoyX/*"], {"path": "/decoyY"}, False),
        (["/de?oy/*"], {"name": "/de?oy/x"}, False),
        (["/decoy/*/x"], {"name": "/decoy/q/x"}, False),
        (["/exact-decoy"], {"name": "/exact-decoy"}, False),
        ([], {"name": "/decoy/x"}, False),
    ],
)
def test_undecrypted_reads_are_kept_exactly_when_the_honeytoken_rule_delivers_them(honeytokens, params, delivered):
    assert needs_judging(_undecrypted(**params), _allowlist(*honeytokens)) is delivered


def test_stack_honeytokens_are_added_once_and_empty_ones_ignored() -> None:
    base = _allowlist("/decoy/*")
    assert with_honeytokens(base, ("/decoy/*", "")) is base
    merged = with_honeytokens(base, ("trap/*", ""))
    assert merged.honeytokens == ["/decoy/*", "/trap/*"] and base.honeytokens == ["/decoy/*"]


def test_an_account_only_identity_matches_grants_by_their_principals_account() -> None:
    grant = Grant(name="g", principals=["arn:aws:iam::111122223333:role/a:b"], parameters=["/x/*"])
    assert grant.allows_account_of("111122223333") is True
    assert grant.allows_account_of("444455556666") is False
    limited = Grant(name="g", principals=["arn:aws:iam::*:role/a"], parameters=["/x/*"], accounts=["111122223333"])
    assert limited.allows_account_of("111122223333") is True
    assert limited.allows_account_of("444455556666") is False
    service = Grant(name="g", principals=["cloudformation.amazonaws.com"], parameters=["/x/*"])
    assert service.allows_account_of("111122223333") is False


@pytest.mark.parametrize("record", [[1, 2], {"eventID": ""}, {"eventID": 5}, {"eventSource": 1}])
def test_an_unreadable_record_without_a_text_event_id_is_reported_as_unknown(record) -> None:
    finding = judge(record, _allowlist())
    assert finding is not None and finding.event_id == "unknown"


def test_the_byte_prefilter_drops_only_calls_no_rule_delivers() -> None:
    from paramwatch.rules import could_need

    asked = b'{"name":"/a","withDecryption":true}'
    assert could_need("ssm.amazonaws.com", "GetParameter", asked, ()) is True
    assert could_need("ec2.amazonaws.com", "GetParameter", asked, ()) is False
    assert could_need("ssm.amazonaws.com", "PutParameter", asked, ()) is False


def test_a_by_path_read_is_covered_by_path_grants_and_by_arn_grants_of_its_account() -> None:
    by_arn = Grant(
        name="g", principals=["arn:aws:iam::1:role/r"], parameters=["arn:aws:ssm:*:999988887777:parameter/orders/*"]
    )
    by_path = Grant(name="g", principals=["arn:aws:iam::1:role/r"], parameters=["/orders/*"])
    prefix = "arn:aws:ssm:us-east-1:999988887777:parameter"
    assert by_arn.allows_subtree("/orders", prefix) is True
    assert by_arn.allows_subtree("/", prefix) is False
    assert by_arn.allows_subtree("/orders") is False
    assert by_path.allows_subtree("/orders") is True
    assert by_path.allows_subtree("/") is False


def test_the_byte_prefilter_reads_parameters_with_leading_whitespace_as_an_object() -> None:
    from paramwatch.rules import could_need

    assert could_need("ssm.amazonaws.com", "GetParameter", b' {"name":"/a"}', ()) is False
    assert could_need("ssm.amazonaws.com", "GetParameter", b'{"name":"/a"} ', ()) is False
