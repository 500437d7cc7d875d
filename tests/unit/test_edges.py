"""Edges that `make mutation` found no test pinning: window bounds, glob prefixes, trailing
slashes, and the allowlist's error text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from paramwatch.allowlist import AllowlistError, Hours, parse
from paramwatch.identity import with_article
from paramwatch.names import arn_account, canonical_pattern, covers_subtree, literal_prefix, subtree_may_hold

MON = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday


def at(day_offset: int, hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return MON.replace(day=MON.day + day_offset, hour=hours, minute=minutes)


def test_a_window_includes_its_start_and_excludes_its_end() -> None:
    hours = Hours(days=["mon"], start="09:00", end="17:00", timezone="UTC")
    assert [hours.allows(at(0, t)) for t in ("08:59", "09:00", "16:59", "17:00")] == [False, True, True, False]


def test_a_window_across_midnight_belongs_to_the_day_it_starts() -> None:
    hours = Hours(days=["sun"], start="22:00", end="06:00", timezone="UTC")
    # Sunday 21:59 no, 22:00 yes; Monday (the day after) 05:59 yes, 06:00 no; Monday 22:00 no
    assert hours.allows(at(-1, "21:59")) is False
    assert hours.allows(at(-1, "22:00")) is True
    assert hours.allows(at(0, "05:59")) is True
    assert hours.allows(at(0, "06:00")) is False
    assert hours.allows(at(0, "22:00")) is False


def test_literal_prefix_stops_at_the_first_wildcard_of_either_kind() -> None:
    assert literal_prefix("/a?b*c") == "/a"
    assert literal_prefix("/a*b?c") == "/a"
    assert literal_prefix("/a*b*c") == "/a"
    assert literal_prefix("/a?b?c") == "/a"
    assert literal_prefix("*x") == "" and literal_prefix("?x") == ""
    assert literal_prefix("/plain") == "/plain"


def test_canonical_pattern_keeps_leading_wildcards() -> None:
    assert canonical_pattern("?x/*") == "?x/*"
    assert canonical_pattern("*") == "*"
    assert canonical_pattern("orders/*") == "/orders/*"


def test_subtrees_take_the_path_as_written_up_to_its_trailing_slashes() -> None:
    assert covers_subtree("/ordersX/*", "/ordersX") is True
    assert covers_subtree("/orders/*", "/orders/") is True
    assert covers_subtree("/orders//*", "/orders/") is False
    assert subtree_may_hold("/decoyX/*", "/decoyX", recursive=False) is True
    assert subtree_may_hold("/decoy/*", "/", recursive=True) is True
    assert subtree_may_hold("/decoy/a/*", "/", recursive=False) is False


def test_the_allowlist_error_lists_each_problem_on_its_own_line() -> None:
    assert str(AllowlistError(["first", "second"])) == "invalid allowlist:\n  first\n  second"
    with pytest.raises(AllowlistError) as caught:
        parse("[1, 2]")
    assert "(document): must be a mapping, got list" in str(caught.value)


def test_arn_account_reads_the_fifth_field_of_an_arn_only() -> None:
    assert arn_account("arn:aws:iam::111122223333:role/a:b:c") == "111122223333"
    assert arn_account("arn:aws:ssm:us-east-1::parameter/aws/service/x") is None
    assert arn_account("nra:aws:iam::111122223333:role/a") is None
    assert arn_account("a:b:c:d:e") is None
    assert arn_account("cloudformation.amazonaws.com") is None and arn_account(None) is None


def test_identity_types_read_as_english() -> None:
    assert with_article("AssumedRole") == "an AssumedRole"
    assert with_article("assumed") == "an assumed"
    assert with_article("FederatedUser") == "a FederatedUser"
    assert with_article("X-type") == "a X-type"
    assert with_article("") == "a "


def test_yaml_errors_say_where_when_yaml_knows_and_never_raise_anything_else() -> None:
    with pytest.raises(AllowlistError) as marked:
        parse("a: [1")
    assert str(marked.value).endswith(
        "(document): not valid YAML or JSON: line 2, column 1: did not find expected ',' or ']'"
    )
    with pytest.raises(AllowlistError) as unmarked:  # a reader error carries no line and no "problem"
        parse("version: 1\x07")
    assert "(document): not valid YAML or JSON: unacceptable character #x0007" in str(unmarked.value)
    assert "line " not in str(unmarked.value)


def test_the_near_miss_names_every_anchor_and_no_empty_range() -> None:
    from paramwatch.detector import judge
    from support import ssm_read

    allowlist = parse(
        '{"version": 1, "grants": [{"name": "g", "principals": ["arn:aws:iam::111122223333:user/alice"],'
        ' "parameters": ["/platform/*"], "vpc_endpoints": ["vpce-0a1b2c3d4e5f60718", "vpce-0fedcba987654321f"]}]}'
    )
    finding = judge(ssm_read("n-1", ["/platform/db"]), allowlist)
    assert finding is not None and finding.near_miss is not None
    text = finding.near_miss.text
    assert "through vpce-0a1b2c3d4e5f60718 or vpce-0fedcba987654321f;" in text and " from ;" not in text
