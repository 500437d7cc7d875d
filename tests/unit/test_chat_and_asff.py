"""Chat notifications (Amazon Q Developer's custom schema, escaping) and Security Hub's ASFF rules."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paramwatch.asff import Incident, incident_id, problems, product_arn, to_asff
from paramwatch.chat import SHOWN_PARAMETERS, notification, thread_id
from paramwatch.detector import judge
from paramwatch.findings import NearMiss, Rule, Severity
from support import EVENTS, ROOT, load_case

SCHEMA = json.loads((ROOT / "docs" / "chat-notification.schema.json").read_text())
CENTRAL = "999988887777"
MEMBER = "111122223333"
NOW = "2026-11-02T10:16:00Z"
FIRST = Incident(created_at=NOW, first_observed="2026-11-02T10:15:00Z")


@pytest.fixture(scope="module")
def finding(sample_allowlist):
    record = load_case(EVENTS / "cases" / "wrong-network.json")["record"]
    return judge(record, sample_allowlist)


def outside_code(text: str) -> str:
    """The text with every inline code span removed: what Slack and Teams would interpret."""
    parts = text.split("`")
    assert len(parts) % 2 == 1, "unbalanced code span"
    return "".join(parts[0::2])


def test_notification_matches_the_documented_schema(finding) -> None:
    payload = notification(finding, ["1 similar finding(s) were held back in the previous window."])
    jsonschema.validate(payload, SCHEMA)
    content = payload["content"]
    assert content["title"] == "paramwatch MEDIUM unauthorized-read in account 111122223333"
    assert (
        "*Why:* nearest grant `orders-api` (owner `orders-team@example.com`) fails on `network`"
        in content["description"]
    )
    assert "observed `203.0.113.9`" in content["description"]
    assert content["nextSteps"][0] == finding.next_step
    assert payload["metadata"]["relatedResources"] == ["arn:aws:iam::111122223333:role/app/orders-api"]


def test_the_schema_rejects_what_amazon_q_would_drop(finding) -> None:
    payload = notification(finding)
    for broken in (
        {**payload, "version": "2.0"},
        {**payload, "source": "paramwatch"},
        {**payload, "content": {"title": "no description"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


HOSTILE = st.text(
    alphabet=st.sampled_from(list("ab*_~`<>&|[]()!@#:/\\\"'\n\u202e\u0000 ")) | st.characters(), min_size=1, max_size=60
)


@settings(max_examples=200, deadline=None)
@given(name=HOSTILE, agent=HOSTILE, session=HOSTILE, ip=HOSTILE)
def test_attacker_text_cannot_change_the_markup(finding, name: str, agent: str, session: str, ip: str) -> None:
    # GIVEN a finding whose CloudTrail values are attacker-chosen, and the same finding with plain values
    hostile = replace(
        finding,
        parameters=(f"/{name}",),
        user_agent=agent,
        session_name=session,
        source_ip=ip,
        near_miss=NearMiss("orders-api", "o", "network", ip, "x"),
    )
    plain = replace(hostile, parameters=("/x",), user_agent="x", session_name="x", source_ip="x")
    plain = replace(plain, near_miss=NearMiss("orders-api", "o", "network", "x", "x"))
    hostile_text = notification(hostile)["content"]["description"]
    # THEN outside the code spans both read the same: every hostile value sits inside a code span
    assert outside_code(hostile_text) == outside_code(notification(plain)["content"]["description"])
    # AND no code span holds a backtick, a line break or a control or bidi character
    assert all((c.isascii() and c.isprintable()) or c == "\n" for c in hostile_text)
    for span in hostile_text.split("`")[1::2]:
        assert "\n" not in span
    jsonschema.validate(notification(hostile), SCHEMA)


def test_long_parameter_lists_show_twenty_and_say_how_many_more(finding) -> None:
    many = replace(finding, rule=Rule.BULK, parameters=tuple(f"/p/{i}" for i in range(42)))
    description = notification(many)["content"]["description"]
    assert "`/p/19`" in description and "`/p/20`" not in description
    assert f"and {42 - SHOWN_PARAMETERS} more" in description


def test_huge_hostile_names_keep_the_description_whole(finding) -> None:
    huge = replace(finding, parameters=tuple("/" + "\u202e" * 400 + str(i) for i in range(20)), user_agent="\n" * 300)
    payload = notification(huge)
    description = payload["content"]["description"]
    jsonschema.validate(payload, SCHEMA)
    assert len(description) <= 3500 and "more" in description and "*Why:*" in description
    outside_code(description)


def test_thread_per_principal_and_parameter(finding) -> None:
    assert thread_id(finding) == thread_id(replace(finding, event_id="other", source_ip="198.51.100.1"))
    assert thread_id(finding) != thread_id(replace(finding, parameters=("/orders/other",)))
    assert thread_id(finding) != thread_id(replace(finding, principal="arn:aws:iam::111122223333:role/x"))
    bulk = replace(finding, rule=Rule.BULK)
    assert thread_id(bulk) == thread_id(replace(bulk, parameters=("/another",)))


def test_asff_standalone_is_filed_by_the_account_itself(finding) -> None:
    record = to_asff(finding, partition="aws", region="us-east-1", filer=MEMBER, incident=FIRST, now=NOW)
    assert problems(record, MEMBER) == []
    assert record["AwsAccountId"] == MEMBER and record["ProductArn"] == product_arn("aws", "us-east-1", MEMBER)
    assert record["Severity"] == {"Label": "MEDIUM", "Normalized": 40, "Original": "medium"}
    assert not [r for r in record["Resources"] if r["Type"] == "AwsAccount"]
    assert {r["Type"] for r in record["Resources"]} == {"AwsIamRole", "Other"}
    assert record["Action"]["AwsApiCallAction"]["RemoteIpDetails"] == {"IpAddressV4": "203.0.113.9"}


def test_asff_organization_mode_files_under_the_security_account_and_names_the_member(finding) -> None:
    record = to_asff(finding, partition="aws", region="us-east-1", filer=CENTRAL, incident=FIRST, now=NOW)
    assert problems(record, CENTRAL) == []
    assert record["AwsAccountId"] == CENTRAL
    assert {"Type": "AwsAccount", "Id": f"AWS::::Account:{MEMBER}", "Partition": "aws", "Region": "us-east-1"} in (
        record["Resources"]
    )
    assert record["ProductFields"]["paramwatch/account"] == MEMBER
    assert any(r["Id"] == f"arn:aws:ssm:us-east-1:{MEMBER}:parameter/orders/db-password" for r in record["Resources"])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"AwsAccountId": MEMBER}, "is not the caller"),
        ({"ProductArn": product_arn("aws", "us-east-1", MEMBER)}, "belongs to account"),
        ({"ProductArn": "arn:aws:securityhub:us-east-1::product/paramwatch/paramwatch"}, "not a default product ARN"),
        ({"Severity": {"Label": "URGENT"}}, "Severity.Label"),
        ({"Types": ["Secrets/Read"]}, "namespace/category/classifier"),
        ({"Resources": []}, "Resources is missing"),
        ({"Resources": [{"Type": "Other", "Id": str(i)} for i in range(33)]}, "1 to 32 resources"),
        ({"CreatedAt": "yesterday"}, "ISO 8601"),
        ({"Title": "x" * 257}, "Title is longer"),
        ({"Id": ""}, "Id is missing"),
    ],
)
def test_rules_security_hub_enforces_and_moto_does_not(finding, change: dict, reason: str) -> None:
    record = {**to_asff(finding, partition="aws", region="us-east-1", filer=CENTRAL, incident=FIRST, now=NOW), **change}
    assert any(reason in p for p in problems(record, CENTRAL)), problems(record, CENTRAL)


def test_lone_surrogates_from_json_do_not_break_ids(finding) -> None:
    odd = replace(finding, parameters=("/a\ud800",), principal="arn:aws:iam::1:user/\udfff")
    assert thread_id(odd) != thread_id(finding) and incident_id(odd) != incident_id(finding)


def test_incident_id_is_stable_across_repeats_and_distinct_across_incidents(finding) -> None:
    again = replace(finding, event_id="another", event_time="2026-11-03T09:00:00+00:00", source_ip="198.51.100.7")
    assert incident_id(finding) == incident_id(again)
    assert incident_id(finding) != incident_id(replace(finding, account="444455556666"))
    assert incident_id(finding) != incident_id(replace(finding, rule=Rule.HONEYTOKEN))
    assert re.fullmatch(r"paramwatch/unauthorized-read/[0-9a-f]{40}", incident_id(finding))


@pytest.mark.parametrize("severity", list(Severity))
def test_every_severity_maps(finding, severity: Severity) -> None:
    record = to_asff(
        replace(finding, severity=severity), partition="aws", region="us-east-1", filer=MEMBER, incident=FIRST, now=NOW
    )
    assert record["Severity"]["Label"] == severity.name and problems(record, MEMBER) == []


def test_bulk_resources_are_capped_at_32(finding) -> None:
    bulk = replace(finding, rule=Rule.BULK, parameters=tuple(f"/p/{i}" for i in range(42)))
    record = to_asff(bulk, partition="aws", region="us-east-1", filer=CENTRAL, incident=FIRST, now=NOW)
    assert len(record["Resources"]) == 32 and problems(record, CENTRAL) == []
    assert record["ProductFields"]["paramwatch/parameter_count"] == "42"
