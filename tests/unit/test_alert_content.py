"""What an alert tells a responder: the person behind a role, the nearest grant and what it lacked."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from paramwatch.access import to_access
from paramwatch.allowlist import validate
from paramwatch.cli import main
from paramwatch.cloudtrail import CloudTrailRecord
from paramwatch.detector import Verdict, judge
from paramwatch.matching import nearest
from paramwatch.render import ALERT_SEPARATOR, body, subject
from support import ALICE as ALICE_IDENTITY
from support import EVENTS, load_case, ssm_read

ALICE = "arn:aws:iam::111122223333:user/alice"


def case(name: str) -> dict:
    return load_case(EVENTS / "cases" / f"{name}.json")["record"]


def access_of(record: dict):
    return to_access(CloudTrailRecord.model_validate(record))


def allowlist(*grants: dict):
    return validate({"version": 1, "grants": list(grants)})


def grant(name: str = "g", **extra: object) -> dict:
    return {"name": name, "principals": [ALICE], "parameters": ["/app/*"], **extra}


def test_sso_user_is_the_session_name_of_an_identity_center_role(sample_allowlist) -> None:
    finding = judge(case("sso-user-ungranted"), sample_allowlist)
    assert finding.sso_user == "jane.doe@example.com"
    text = body(finding)
    assert "Person:     jane.doe@example.com (IAM Identity Center user)" in text
    assert "Why:        No grant names this principal." in text


def test_other_roles_show_their_session_name_but_no_person(sample_allowlist) -> None:
    finding = judge(case("wrong-network"), sample_allowlist)
    assert (finding.session_name, finding.sso_user) == ("i-0abc123", None)
    text = body(finding)
    assert "Session:    i-0abc123" in text and "Person:" not in text
    assert "Where:      account 111122223333, us-east-1" in text


def test_a_role_merely_named_like_sso_in_its_session_is_not_a_person(sample_allowlist) -> None:
    record = case("wrong-network")
    record["userIdentity"]["arn"] = "arn:aws:sts::111122223333:assumed-role/orders-api/AWSReservedSSO_x"
    finding = judge(record, sample_allowlist)
    assert finding.sso_user is None and finding.session_name == "AWSReservedSSO_x"


def test_hostile_session_name_is_escaped_in_the_body(sample_allowlist) -> None:
    record = case("sso-user-ungranted")
    record["userIdentity"]["arn"] = record["userIdentity"]["arn"].rsplit("/", 1)[0] + "/*eve*\n<b>[x](javascript:e)"
    text = body(judge(record, sample_allowlist))
    person = next(line for line in text.splitlines() if line.startswith("Person:"))
    assert "\\u002aeve\\u002a\\u000a\\u003cb\\u003e\\u005bx\\u005d(javascript:e)" in person


@pytest.mark.parametrize(
    ("grants", "changes", "condition", "observed", "phrase"),
    [
        (
            [grant(source_cidrs=["10.0.0.0/8"], vpc_endpoints=["vpce-0a1b2c3d4e5f60718"])],
            {},
            "network",
            "203.0.113.5",
            "but only through vpce-0a1b2c3d4e5f60718 from 10.0.0.0/8; this call came from 203.0.113.5 (no VPC endpoint)",
        ),
        (
            [grant(source_cidrs=["198.51.100.0/24"], via_services=["cloudformation.amazonaws.com"])],
            {"userIdentity": {**ALICE_IDENTITY, "invokedBy": "ecs-tasks.amazonaws.com"}},
            "network",
            "203.0.113.5",
            "but only from 198.51.100.0/24 or when made by cloudformation.amazonaws.com; this call came from "
            "203.0.113.5 (no VPC endpoint), made by ecs-tasks.amazonaws.com",
        ),
        (
            [grant(hours={"days": ["mon"], "start": "08:00", "end": "09:00", "timezone": "Europe/Berlin"})],
            {},
            "hours",
            "mon 11:15 Europe/Berlin",
            "but only mon 08:00-09:00 Europe/Berlin; this call was on mon 11:15 Europe/Berlin",
        ),
        ([grant(expires="2026-11-01")], {}, "expired", "2026-11-02T10:15:00Z", "until it expired on 2026-11-01"),
        (
            [grant(expires="2026-11-03")],
            {"eventTime": "yesterday"},
            "time-unknown",
            "yesterday",
            "eventTime yesterday is unreadable",
        ),
        (
            [grant(parameters=["/other/*"])],
            {},
            "parameter",
            "/app/db",
            "allows this principal, but not parameter /app/db",
        ),
        ([grant(principals=["arn:aws:iam::111122223333:user/bob"])], {}, None, None, "No grant names this principal."),
    ],
)
def test_near_miss_names_the_failed_condition_and_observed_value(grants, changes, condition, observed, phrase) -> None:
    access = access_of({**ssm_read("e", ["/app/db"]), **changes})
    near = nearest(access, allowlist(*grants))
    assert (near.condition, near.observed) == (condition, observed)
    assert phrase in near.text


def test_nearest_prefers_a_grant_that_names_the_parameter_over_one_that_does_not() -> None:
    grants = [
        grant("wrong-param", parameters=["/x/*"]),
        grant("wrong-net", owner="team-a", source_cidrs=["192.0.2.0/24"]),
    ]
    near = nearest(access_of(ssm_read("e", ["/app/db"])), allowlist(*grants))
    assert (near.grant, near.owner, near.condition) == ("wrong-net", "team-a", "network")
    assert near.text.startswith("grant 'wrong-net' (owner team-a) allows this principal and parameter")


def test_by_path_read_names_the_path_the_grant_does_not_cover() -> None:
    record = ssm_read("e", ["/x"])
    record["eventName"] = "GetParametersByPath"
    record["requestParameters"] = {"path": "/", "recursive": True, "withDecryption": True}
    near = nearest(access_of(record), allowlist(grant()))
    assert (near.condition, near.observed) == ("path", "/")


def test_near_miss_of_a_hostile_parameter_name_is_escaped() -> None:
    near = nearest(access_of(ssm_read("e", ["/app/a*b*"])), allowlist(grant(parameters=["/other/*"])))
    assert near.observed == "/app/a*b*" and "/app/a\\u002ab\\u002a" in near.text


def test_replay_alert_format_prints_subject_and_body_of_each_paged_finding(sample_allowlist) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["replay", "--allowlist", str(EVENTS / "allowlist.yaml"), "--format", "alert", str(EVENTS / "sample-trail")],
        out=out,
        err=err,
    )
    assert code == 1
    alerts = out.getvalue().split(ALERT_SEPARATOR + "\n")
    assert alerts[-1] == ""
    alerts = alerts[:-1]
    paged = int(err.getvalue().split(" would page")[0].rsplit(" ", 1)[-1])
    assert len(alerts) == paged
    first = case("wrong-network")
    finding = judge(first, sample_allowlist)
    wanted = f"Subject: {subject(finding)}\n\n{body(finding)}\n"
    assert wanted in alerts
    for alert in alerts:
        head, text = alert.split("\n\n", 1)
        assert head.startswith("Subject: paramwatch ") and len(head) - len("Subject: ") < 100
        assert json.loads(text.rstrip("\n").splitlines()[-1])["event_id"]


def test_body_keeps_reading_as_before_for_findings_without_new_fields(sample_allowlist) -> None:
    finding = replace(judge(case("root-user"), sample_allowlist), session_name=None)
    text = body(finding, ["a note"])
    assert text.splitlines()[:3] == [
        "Severity:   HIGH",
        "Rule:       root-access",
        f"Who:        {finding.principal} (Root)",
    ]
    assert "Why:" not in text and "Note: a note" in text
    assert Verdict(finding, paged=True).to_dict()["near_miss"] is None


def detector_for(sample_allowlist):
    from paramwatch.detector import Detector, Tuning
    from paramwatch.state import MemoryState

    return Detector(sample_allowlist, MemoryState(), Tuning(learning_days=0))


def run_all(detector, records):
    out = []
    for record in records:
        outcome = detector.process(record, now=0.0)
        out += outcome.verdicts
        if outcome.begun:
            detector.finish(outcome.begun)
    return out


def test_bulk_finding_lists_the_first_twenty_names_and_counts_the_rest(sample_allowlist) -> None:
    # GIVEN alice (granted /platform/*) decrypting 22 distinct parameters within seconds
    records = [ssm_read(f"s{i}", [f"/platform/p{i}"], f"2026-11-02T10:15:{i:02d}Z") for i in range(22)]
    verdicts = run_all(detector_for(sample_allowlist), records)
    (bulk,) = [v.finding for v in verdicts if str(v.finding.rule) == "bulk-retrieval"]
    # THEN the finding counts the distinct parameters and names the first 20, in natural order
    assert bulk.parameter_count == 21 and len(bulk.parameters) == 20
    assert bulk.parameters[:3] == ("/platform/p0", "/platform/p1", "/platform/p2")
    assert "/platform/p10" in bulk.parameters and "/platform/p20" not in bulk.parameters
    assert bulk.source_ip == "203.0.113.5" and bulk.ssm_caller is None  # raised on the SSM side
    text = body(bulk)
    assert "(21 distinct parameters in the window; 1 more not listed)" in text
    assert subject(bulk).endswith("/platform/p0 +20")


def test_kms_side_bulk_carries_the_ssm_callers_address_and_user_agent(sample_allowlist) -> None:
    from support import kms_decrypt

    # GIVEN one SSM call seen, then the burst arriving through its KMS side (source "AWS Internal")
    records = [ssm_read("call", ["/platform/p0"], "2026-11-02T10:15:00Z", userAgent="stratus-red-team aws-sdk-go")]
    records += [kms_decrypt(f"k{i}", f"/platform/p{i}", f"2026-11-02T10:15:{i:02d}Z") for i in range(1, 22)]
    verdicts = run_all(detector_for(sample_allowlist), records)
    (bulk,) = [v.finding for v in verdicts if str(v.finding.rule) == "bulk-retrieval"]
    assert bulk.event_name == "Decrypt" and bulk.source_ip == "AWS Internal"
    assert (bulk.ssm_caller.source_ip, bulk.ssm_caller.user_agent, bulk.ssm_caller.event_id) == (
        "203.0.113.5",
        "stratus-red-team aws-sdk-go",
        "call",
    )
    text = body(bulk)
    assert "SSM call:   from 203.0.113.5, event call" in text and "user agent stratus-red-team aws-sdk-go" in text


def test_kms_side_of_a_known_pair_carries_the_ssm_caller(sample_allowlist) -> None:
    from support import kms_decrypt

    ssm_first = run_all(detector_for(sample_allowlist), [ssm_read("s", ["/billing/k"]), kms_decrypt("k", "/billing/k")])
    kms = next(v for v in ssm_first if v.finding.event_id == "k")
    assert kms.finding.ssm_caller is not None and kms.finding.ssm_caller.event_id == "s"
    # AND when the Decrypt arrives first, nothing is known yet and nothing is made up
    kms_first = run_all(detector_for(sample_allowlist), [kms_decrypt("k", "/billing/k"), ssm_read("s", ["/billing/k"])])
    assert next(v for v in kms_first if v.finding.event_id == "k").finding.ssm_caller is None


def test_kms_side_bulk_names_the_endpoint_the_ssm_call_came_through(sample_allowlist) -> None:
    from support import kms_decrypt

    # GIVEN the same burst, its SSM call made through a VPC endpoint
    endpoint = "vpce-0a1b2c3d4e5f60718"
    records = [ssm_read("call", ["/platform/p0"], "2026-11-02T10:15:00Z", vpcEndpointId=endpoint)]
    records += [kms_decrypt(f"k{i}", f"/platform/p{i}", f"2026-11-02T10:15:{i:02d}Z") for i in range(1, 22)]
    verdicts = run_all(detector_for(sample_allowlist), records)
    (bulk,) = [v.finding for v in verdicts if str(v.finding.rule) == "bulk-retrieval"]
    # THEN the alert says where the SSM call came from, endpoint included
    assert bulk.ssm_caller is not None and bulk.ssm_caller.vpc_endpoint == endpoint
    assert f"SSM call:   from 203.0.113.5 via {endpoint}, event call" in body(bulk)


def test_only_the_decrypt_ssm_made_notes_that_the_parameter_is_a_securestring() -> None:
    from paramwatch.allowlist import EMPTY
    from support import kms_decrypt

    # GIVEN an ungranted read seen only through the Decrypt SSM made for it, and another seen only as the SSM call
    kms = run_all(detector_for(EMPTY), [kms_decrypt("k", "/billing/key")])
    ssm = run_all(detector_for(EMPTY), [ssm_read("s", ["/billing/key"])])
    # THEN the Decrypt's alert carries the note, the SSM call's does not
    assert [v.notes for v in kms if v.paged] == [
        ("The KMS Decrypt SSM made confirms the parameter is a SecureString.",)
    ]
    assert [v.notes for v in ssm if v.paged] == [()]
    # nor does a Decrypt SSM did not make
    direct = kms_decrypt("d", "/billing/key")
    direct["userIdentity"] = {k: v for k, v in direct["userIdentity"].items() if k != "invokedBy"}
    direct_verdicts = run_all(detector_for(EMPTY), [direct])
    assert [(str(v.finding.rule), v.notes) for v in direct_verdicts if v.paged] == [("direct-decrypt", ())]
