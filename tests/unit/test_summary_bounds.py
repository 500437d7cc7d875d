"""The one-sentence summary every finding carries: what it lists, what it says when the record lacks
something, and how far a hostile record can grow it. Also what the byte pre-filter must hand on."""

from __future__ import annotations

import json

import pytest

from paramwatch.detector import judge
from paramwatch.names import HIDDEN
from paramwatch.rules import could_need, needs_judging
from support import kms_decrypt, ssm_read


@pytest.mark.parametrize(("count", "more"), [(5, ""), (6, " and 1 more"), (7, " and 2 more")])
def test_the_summary_lists_five_parameters_and_counts_the_rest(count: int, more: str, sample_allowlist) -> None:
    names = [f"/billing/key-{i}" for i in range(count)]
    finding = judge(ssm_read("s-1", names), sample_allowlist)
    assert finding is not None
    listed = ", ".join(names[:5])
    assert f"read {count} parameter(s): {listed}{more} with SSM GetParameters" in finding.summary


def test_a_read_without_a_source_address_says_so(sample_allowlist) -> None:
    record = ssm_read("s-2", ["/billing/key"])
    del record["sourceIPAddress"]
    finding = judge(record, sample_allowlist)
    assert finding is not None and " with SSM GetParameter from an unknown address." in finding.summary


def test_every_problem_of_an_unjudgeable_read_is_given(sample_allowlist) -> None:
    record = ssm_read("s-3", [HIDDEN, ":3"])
    finding = judge(record, sample_allowlist)
    assert finding is not None and str(finding.rule) == "unjudgeable-read"
    assert finding.summary.endswith(
        "Cannot judge: a parameter name is hidden by CloudTrail or not text; empty parameter name in ':3'."
    )


def test_a_read_of_a_public_parameter_and_a_hidden_one_is_not_waved_through(sample_allowlist) -> None:
    # GIVEN a GetParameters of a public parameter and one CloudTrail hid
    finding = judge(ssm_read("s-4", ["/aws/service/global-infrastructure/regions/us-east-1", HIDDEN]), sample_allowlist)
    # THEN it cannot be judged: the hidden name may be a secret
    assert finding is not None and str(finding.rule) == "unjudgeable-read"


LONG = "x" * 400


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        (f"/billing/{LONG}", f"/billing/{LONG}"[:160] + "...(cut)"),
        (
            f"/aws/reference/secretsmanager/{LONG}",
            f"/aws/reference/secretsmanager/{LONG}"[:160] + f"...(cut) (Secrets Manager secret {LONG[:120]}...(cut))",
        ),
    ],
)
def test_a_long_name_is_cut_in_the_summary(name: str, shown: str, sample_allowlist) -> None:
    # GIVEN a read of an attacker-chosen name of 400 characters and more (a refused call can carry any)
    finding = judge(ssm_read("s-5", [name]), sample_allowlist)
    # THEN the summary shows it cut at 160 characters (a Secrets Manager secret's own name at 120)
    assert finding is not None and f"read 1 parameter(s): {shown} with" in finding.summary


def test_a_long_problem_is_cut_in_the_summary(sample_allowlist) -> None:
    bad = "arn:aws:s3:::" + LONG
    finding = judge(ssm_read("s-6", [bad]), sample_allowlist)
    assert finding is not None and str(finding.rule) == "unjudgeable-read"
    problem = f"not an SSM parameter ARN: {bad!r}"
    assert finding.summary.endswith(f"Cannot judge: {problem[:200]}...(cut).")


def test_the_byte_prefilter_hands_on_a_kms_call_whose_context_key_is_escaped(sample_allowlist) -> None:
    # GIVEN a Decrypt whose request spells PARAMETER_ARN with a JSON escape (it decodes the same)
    record = kms_decrypt("s-7", "/orders/db")
    raw = json.dumps(record["requestParameters"]).replace("PARAMETER_ARN", "\\u0050ARAMETER_ARN")
    assert json.loads(raw) == record["requestParameters"]
    # THEN the byte pre-filter cannot rule it out, and the full test keeps it, as the rules would
    assert could_need("kms.amazonaws.com", "Decrypt", raw.encode(), ())
    assert needs_judging({**record, "requestParameters": json.loads(raw)}, sample_allowlist)
