"""Grants written as ARN patterns, and the near-miss sentence an unauthorized read carries: what it
names, in which order, and how it stays short whatever a record holds."""

from __future__ import annotations

import json

import pytest

from paramwatch.allowlist import parse
from paramwatch.detector import judge
from support import ssm_read

ALICE = "arn:aws:iam::111122223333:user/alice"


def allowlist(*grants: dict):
    return parse(json.dumps({"version": 1, "grants": [{"principals": [ALICE], **g} for g in grants]}))


def by_path(event_id: str, path: str, **extra: object) -> dict:
    record = ssm_read(event_id, ["/unused"], eventName="GetParametersByPath", **extra)
    record["requestParameters"] = {"path": path, "recursive": True, "withDecryption": True}
    return record


def test_an_arn_pattern_naming_the_callers_account_covers_its_names_and_paths_in_that_region() -> None:
    # GIVEN alice's grant written as an ARN pattern of her own account, in us-east-1
    grants = allowlist({"name": "g", "parameters": ["arn:aws:ssm:us-east-1:111122223333:parameter/platform/*"]})
    # THEN it covers her reads there by name and by path, and none in another region
    assert judge(ssm_read("a-1", ["/platform/db"]), grants) is None
    assert judge(by_path("a-2", "/platform"), grants) is None
    elsewhere = judge(ssm_read("a-3", ["/platform/db"], awsRegion="eu-west-1"), grants)
    assert elsewhere is not None and str(elsewhere.rule) == "unauthorized-read"
    elsewhere = judge(by_path("a-4", "/platform", awsRegion="eu-west-1"), grants)
    assert elsewhere is not None and str(elsewhere.rule) == "unauthorized-read"


@pytest.mark.parametrize(
    ("names", "observed", "more"),
    [
        (["/platform/a", "/billing/x"], "/billing/x", ""),
        (["/billing/x", "/platform/a", "/billing/y"], "/billing/x", " (and 1 more)"),
        (["/billing/x", "/billing/y", "/platform/a", "/billing/z"], "/billing/x", " (and 2 more)"),
    ],
)
def test_the_near_miss_names_the_first_parameter_not_granted_and_counts_the_others(
    names: list[str], observed: str, more: str
) -> None:
    # GIVEN a grant (an ARN pattern of the caller's account) that covers only some of a GetParameters
    grants = allowlist({"name": "g", "parameters": ["arn:aws:ssm:us-east-1:111122223333:parameter/platform/*"]})
    finding = judge(ssm_read("p-1", names), grants)
    # THEN the sentence names the first parameter it does not cover and how many more it misses
    assert finding is not None and finding.near_miss is not None
    assert (finding.near_miss.condition, finding.near_miss.observed) == ("parameter", observed)
    assert finding.near_miss.text.endswith(f"not parameter {observed}{more}.")


def test_among_equally_near_grants_the_first_in_the_document_is_named() -> None:
    # GIVEN two grants for alice's read that each fail only on network
    grants = allowlist(
        {"name": "first", "parameters": ["/platform/*"], "source_cidrs": ["198.51.100.0/24"]},
        {"name": "second", "parameters": ["/platform/*"], "source_cidrs": ["192.0.2.0/24"]},
    )
    finding = judge(ssm_read("n-1", ["/platform/db"]), grants)
    assert finding is not None and finding.near_miss is not None and finding.near_miss.grant == "first"


def test_the_network_sentence_says_only_what_the_record_and_grant_hold() -> None:
    # GIVEN a grant without owner through an endpoint narrowed by two private ranges, and a read with
    # no source address and an endpoint owner but no endpoint
    grants = allowlist(
        {
            "name": "g",
            "parameters": ["/platform/*"],
            "vpc_endpoints": ["vpce-0a1b2c3d4e5f60718"],
            "source_cidrs": ["10.0.0.0/8", "192.168.0.0/16"],
        }
    )
    record = ssm_read("w-1", ["/platform/db"], vpcEndpointAccountId="111122223333")
    del record["sourceIPAddress"]
    finding = judge(record, grants)
    assert finding is not None and finding.near_miss is not None
    # THEN it names the grant alone, the anchor with both ranges, an unknown address and no endpoint
    assert finding.near_miss.text == (
        "grant 'g' allows this principal and parameter, but only through vpce-0a1b2c3d4e5f60718 from "
        "10.0.0.0/8 or 192.168.0.0/16; this call came from an unknown address (no VPC endpoint)."
    )


LONG = "a" * 300


def _cut(limit: int) -> str:
    return LONG[:limit] + "...(cut)"


def test_a_hostile_record_cannot_grow_the_network_sentence() -> None:
    # GIVEN a grant whose owner and service are long but valid, and a read (as a crafted log file
    # could hold it) whose address, endpoint, endpoint owner and invoking service are 300 characters
    service = "s" * 90 + ".amazonaws.com"
    grants = allowlist({"name": "g", "owner": LONG[:200], "parameters": ["/platform/*"], "via_services": [service]})
    record = ssm_read("h-1", ["/platform/db"], sourceIPAddress=LONG, vpcEndpointId=LONG, vpcEndpointAccountId=LONG)
    record["userIdentity"] = {**record["userIdentity"], "invokedBy": LONG}
    finding = judge(record, grants)
    assert finding is not None and finding.near_miss is not None
    # THEN each value is cut where the README says: owner 120, services, addresses and endpoints 64,
    # endpoint owners 16
    assert finding.near_miss.text == (
        f"grant 'g' (owner {_cut(120)}) allows this principal and parameter, but only when made by "
        f"{service[:64]}...(cut); this call came from {_cut(64)} via {_cut(64)} owned by {_cut(16)}, "
        f"made by {_cut(64)}."
    )


def test_a_long_event_time_is_cut_to_40_characters() -> None:
    # GIVEN an expired grant, and a readable eventTime padded to 60 characters
    grants = allowlist({"name": "g", "parameters": ["/platform/*"], "expires": "2026-01-01"})
    moment = "2026-11-02T10:15:00." + "0" * 34 + "+00:00"
    finding = judge(ssm_read("t-1", ["/platform/db"], time=moment), grants)
    assert finding is not None and finding.near_miss is not None
    # THEN the time is quoted cut at 40 characters
    assert finding.near_miss.text.endswith(f"this call was at {moment[:40]}...(cut).")
