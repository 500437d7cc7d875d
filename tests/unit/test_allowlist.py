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
            "grants[0].vpc_endpoints[0]",
            "pattern",
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


def test_network_cidr_or_vpc_endpoint() -> None:
    g = validate(
        {
            "version": 1,
            "grants": [grant(source_cidrs=["10.0.0.0/8", "2001:db8::/32"], vpc_endpoints=["vpce-0a1b2c3d4e5f60718"])],
        }
    ).grants[0]
    assert g.allows_network("10.9.9.9", None)
    assert g.allows_network("2001:db8::1", None)
    assert g.allows_network("203.0.113.1", "vpce-0a1b2c3d4e5f60718")
    assert not g.allows_network("203.0.113.1", "vpce-00000000000000000")
    assert not g.allows_network("AWS Internal", None)
    assert not g.allows_network(None, None)
