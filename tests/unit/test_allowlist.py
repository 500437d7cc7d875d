"""The allowlist schema: validated at load, with errors that name the field and the reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from paramwatch.allowlist import AllowlistError, Hours, parse, schema, validate


def grant(**extra) -> dict:
    return {"name": "g", "principals": ["arn:aws:iam::1:user/a"], "parameters": ["/a/*"], **extra}


@pytest.mark.parametrize(
    ("document", "field", "reason"),
    [
        (
            {"version": 1, "grants": [grant(source_cidrs=["10.0.0.0/33"])]},
            "grants[0].source_cidrs",
            "bad CIDR",
        ),
        (
            {"version": 1, "grants": [grant(hours={"days": ["funday"], "start": "07:00", "end": "19:00"})]},
            "grants[0].hours.days[0]",
            "'mon'",
        ),
        (
            {
                "version": 1,
                "grants": [grant(hours={"start": "07:00", "end": "19:00", "timezone": "Mars/Base"})],
            },
            "grants[0].hours.timezone",
            "unknown time zone",
        ),
        (
            {"version": 1, "grants": [grant(hours={"start": "7", "end": "19:00"})]},
            "grants[0].hours.start",
            "HH:MM",
        ),
        ({"version": 1, "grants": [grant(principal=["x"])]}, "grants[0].principal", "Extra inputs"),
        (
            {"version": 1, "grants": [grant(vpc_endpoints=["vpc-123"])]},
            "grants[0].vpc_endpoints",
            "[0] 'vpc-123' is not a VPC endpoint ID",
        ),
        ({"version": 2}, "version", "1"),
        ({"version": 1, "grants": [grant(), grant()]}, "(document)", "used twice"),
        (
            {"version": 1, "grants": [{"name": "g", "principals": [], "parameters": ["/a"]}]},
            "grants[0].principals",
            "at least 1",
        ),
    ],
)
def test_errors_name_field_and_reason(document: dict, field: str, reason: str) -> None:
    with pytest.raises(AllowlistError) as caught:
        validate(document)
    assert any(p.startswith(f"{field}:") and reason in p for p in caught.value.problems), caught.value.problems


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(AllowlistError) as caught:
        validate({"version": 1, "grants": [grant(source_cidrs=["nope"]), {"name": "x"}]})
    assert len(caught.value.problems) >= 3


@pytest.mark.parametrize("text", ["", "- just\n- a list", "version: [", "null"])
def test_unusable_documents(text: str) -> None:
    with pytest.raises(AllowlistError):
        parse(text)


def test_json_and_yaml_give_the_same_allowlist() -> None:
    yaml_text = "version: 1\ngrants:\n  - {name: g, principals: [p], parameters: [a/*]}\n"
    json_text = '{"version": 1, "grants": [{"name": "g", "principals": ["p"], "parameters": ["a/*"]}]}'
    assert parse(yaml_text) == parse(json_text)
    assert parse(json_text).grants[0].parameters == ["/a/*"]


def test_schema_describes_grants() -> None:
    document = schema()
    assert "grants" in document["properties"]
    assert "Grant" in document["$defs"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_hours_follow_daylight_saving_time() -> None:
    hours = Hours(days=["mon"], start="07:00", end="19:00", timezone="Europe/Berlin")
    assert hours.allows(at("2026-07-06T05:30:00+00:00"))  # 07:30 CEST
    assert not hours.allows(at("2026-01-05T05:30:00+00:00"))  # 06:30 CET
    assert hours.allows(at("2026-01-05T06:30:00+00:00"))  # 07:30 CET


def test_hours_across_midnight_belong_to_the_start_day() -> None:
    hours = Hours(days=["fri"], start="22:00", end="02:00", timezone="UTC")
    assert hours.allows(at("2026-11-06T23:00:00+00:00"))  # Friday 23:00
    assert hours.allows(at("2026-11-07T01:00:00+00:00"))  # Saturday 01:00, Friday's night
    assert not hours.allows(at("2026-11-07T23:00:00+00:00"))  # Saturday 23:00
    assert not hours.allows(at("2026-11-06T01:00:00+00:00"))  # Friday 01:00 is Thursday's night


ENDPOINT = "vpce-0a1b2c3d4e5f60718"


def one_grant(**extra):
    return validate({"version": 1, "grants": [grant(**extra)]}).grants[0]


def test_public_ranges_keep_their_meaning() -> None:
    g = one_grant(source_cidrs=["203.0.113.0/24", "2001:db8::/32"])
    assert g.allows_source("203.0.113.9", None)
    assert g.allows_source("2001:db8::1", None)
    assert not g.allows_source("198.51.100.1", None)
    assert not g.allows_source("AWS Internal", None)
    assert not g.allows_source(None, None)


def test_private_range_matches_only_through_an_anchor() -> None:
    g = one_grant(source_cidrs=["10.0.0.0/8"], vpc_endpoints=[ENDPOINT])
    assert g.allows_source("10.9.9.9", ENDPOINT)
    assert not g.allows_source("10.9.9.9", None)  # any VPC's 10.9.9.9
    assert not g.allows_source("10.9.9.9", "vpce-00000000000000000", "999988887777")  # the attacker's endpoint
    assert not g.allows_source("172.31.5.5", ENDPOINT)  # the range narrows the anchor
    assert not g.allows_source("::ffff:10.9.9.9", None)  # IPv4-mapped is still private


def test_endpoint_accounts_anchor_any_endpoint_they_own() -> None:
    g = one_grant(source_cidrs=["10.40.0.0/16"], vpc_endpoint_accounts=["111122223333"])
    assert g.allows_source("10.40.1.2", "vpce-0123456789abcdef0", "111122223333")
    assert not g.allows_source("10.40.1.2", "vpce-0123456789abcdef0", "999988887777")
    assert not g.allows_source("10.40.1.2", None, "111122223333")  # an owner without an endpoint anchors nothing


def test_a_wide_public_range_never_admits_a_private_address_alone() -> None:
    g = one_grant(source_cidrs=["0.0.0.0/0"])
    assert g.allows_source("198.51.100.1", None)
    assert not g.allows_source("192.168.1.1", None)
    assert not g.allows_source("100.64.0.1", None)


def test_via_services_is_an_alternative_to_the_network() -> None:
    g = one_grant(source_cidrs=["203.0.113.0/24"], via_services=["cloudformation.amazonaws.com"])
    assert g.allows_source("cloudformation.amazonaws.com", None, None, "cloudformation.amazonaws.com")
    assert g.allows_source("203.0.113.9", None)
    assert not g.allows_source("cloudformation.amazonaws.com", None, None, None)  # the source is not invokedBy
    assert not g.allows_source("ecs-tasks.amazonaws.com", None, None, "ecs-tasks.amazonaws.com")
    only = one_grant(via_services=["cloudformation.amazonaws.com"])
    assert not only.allows_source("203.0.113.9", None)  # via_services alone admits only those services


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"source_cidrs": ["10.0.0.0/8"]}, "grants[0]: source_cidrs[0]: 10.0.0.0/8 is a private range"),
        ({"source_cidrs": ["100.64.0.0/10"]}, "anchor it with vpc_endpoints or vpc_endpoint_accounts"),
        ({"source_cidrs": ["fd00::/8"]}, "source_cidrs[0]: fd00::/8 is a private range"),
        ({"source_cidrs": ["203.0.113.0/24", "172.16.4.0/24"]}, "source_cidrs[1]: 172.16.4.0/24 is a private range"),
        ({"vpc_endpoint_accounts": ["12345"]}, "grants[0].vpc_endpoint_accounts: [0] '12345' is not an AWS account ID"),
        (
            {"via_services": ["AWS Internal"]},
            "is not a service principal: via_services is matched on userIdentity.invokedBy",
        ),
        ({"bulk_window_minutes": 30}, "bulk_window_minutes needs bulk_threshold"),
        ({"bulk_threshold": 1}, "grants[0].bulk_threshold"),
        ({"parameters": ["arn:aws:s3:::bucket/*"]}, "is not an SSM parameter ARN pattern"),
        ({"source_cidrs": ["::ffff:10.0.0.0/104"]}, "source_cidrs[0]: ::ffff:10.0.0.0/104 is a private range"),
        (
            {"vpc_endpoint_accounts": [111122223333], "source_cidrs": ["10.0.0.0/8"]},
            "vpc_endpoint_accounts: [0] account ID 111122223333 must be a quoted string of 12 digits",
        ),
        ({"vpc_endpoints": ["vpce-XYZ"]}, "vpc_endpoints: [0] 'vpce-XYZ' is not a VPC endpoint ID"),
    ],
)
def test_check_allowlist_explains_each_new_error(extra: dict, needle: str) -> None:
    with pytest.raises(AllowlistError) as caught:
        validate({"version": 1, "grants": [grant(**extra)]})
    assert needle in str(caught.value)


def test_path_patterns_cover_only_the_calling_account() -> None:
    g = one_grant(parameters=["/prod/checkout/*", "arn:aws:ssm:*:444455556666:parameter/shared/*"])
    own = "arn:aws:ssm:us-east-1:111122223333:parameter/prod/checkout/db"
    assert g.allows_parameter("/prod/checkout/db", own)
    assert not g.allows_parameter("arn:aws:ssm:us-east-1:999988887777:parameter/prod/checkout/db")
    assert g.allows_parameter("arn:aws:ssm:eu-west-1:444455556666:parameter/shared/key")
    assert not g.allows_parameter("/shared/key", "arn:aws:ssm:us-east-1:111122223333:parameter/shared/key")
    assert g.allows_subtree("/prod/checkout", "arn:aws:ssm:us-east-1:111122223333:parameter")


def test_the_readme_example_validates_and_anchors_its_private_range() -> None:
    import re

    from support import ROOT

    section = (ROOT / "README.md").read_text().split("## Tuning the allowlist", 1)[1]
    example = parse(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    orders = example.grants[0]
    assert orders.source_cidrs == ["10.0.0.0/8"] and orders.vpc_endpoints  # the private range is anchored
    assert not orders.allows_source("10.20.9.77", None)
    deploys = example.grants[1]
    assert deploys.via_services and deploys.bulk_threshold
