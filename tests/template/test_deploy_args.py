"""`paramwatch deploy-args` against SAM CLI's own parameter-override parser (samcli.cli.types).

The value must reach CloudFormation intact by every route SAM CLI offers: a parameter file
(`--parameter-overrides file://params.yaml`), and the string `sam deploy --guided` saves into
samconfig.toml and reads back on the next deploy. Whatever reaches CloudFormation is then composed
into the stored document the way the template's `!Sub` does, and must mean the same allowlist.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samcli.cli.types import CfnParameterOverridesType
from samcli.commands.deploy.guided_config import GuidedConfig

from paramwatch import deploy
from paramwatch.allowlist import Allowlist, Grant, parse
from paramwatch.cli import main
from support import EVENTS, ROOT

SAM_PARSER = CfnParameterOverridesType()
NASTY = st.lists(
    st.sampled_from([*"ab \"'\\$=,`;{}[]:#\t\n", "é", "\u2028", "\U0001f600", "\\u0027", '\\"']),
    min_size=1,
    max_size=20,
).map("".join)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def through_sam(params_file: Path) -> dict[str, str]:
    """What SAM CLI hands to CloudFormation for `--parameter-overrides file://<params_file>`."""
    return SAM_PARSER.convert((f"file://{params_file}",), None, None)


def stored(values: dict[str, str]) -> Allowlist:
    """The allowlist parameter's value, as the template composes it, parsed by the evaluator."""
    return parse(
        deploy.template_value(
            values.get("AllowlistGrants", "[]"),
            values.get("HoneytokenPrefix", "/decoy/"),
            values.get("AllowlistAccounts", "{}"),
        )
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NASTY, reason=NASTY, owner=NASTY)
def test_any_text_in_a_grant_survives_sam_cli_and_cloudformation(tmp_path: Path, name, reason, owner) -> None:
    # GIVEN an allowlist whose free text holds quotes, backslashes, spaces and non-ASCII
    grant = Grant(
        name=name, reason=reason, owner=owner, principals=["arn:aws:iam::111122223333:role/x"], parameters=["/a/*"]
    )
    allowlist = Allowlist(version=1, grants=[grant], honeytokens=["/decoy/*"], accounts={"111122223333": name})
    # WHEN deploy-args writes the parameter file and SAM CLI's parser reads it
    path = tmp_path / "params.yaml"
    path.write_text(deploy.deploy_args(allowlist).params_file("allowlist.yaml"))
    values = through_sam(path)
    # THEN the stored document means exactly the same allowlist
    assert stored(values).grants == allowlist.grants
    assert stored(values).accounts == allowlist.accounts
    # AND so does the string `sam deploy --guided` saves into samconfig.toml and reads back next time
    saved = " ".join(f"{k}={GuidedConfig.quote_parameter_values(v)}" for k, v in values.items())
    assert SAM_PARSER.convert((saved,), None, None) == values


def test_the_sample_allowlist_deploys_as_it_is(tmp_path: Path) -> None:
    code, out, err = run("deploy-args", str(EVENTS / "allowlist.yaml"), "--output", str(tmp_path / "params.yaml"))
    assert code == 0, err
    assert "AllowlistGrants, HoneytokenPrefix" in out
    values = through_sam(tmp_path / "params.yaml")
    assert values["HoneytokenPrefix"] == "/decoy/"
    assert stored(values).grants == parse((EVENTS / "allowlist.yaml").read_text()).grants


def test_the_old_readme_command_would_have_deployed_a_broken_allowlist() -> None:
    # `--parameter-overrides AllowlistGrants="$(yq -o=json -I=0 .grants allowlist.yaml)"` hands SAM CLI
    # one word holding JSON with spaces and quotes; its parser keeps only a fragment
    grants = json.dumps([{"name": "orders api", "principals": ["*"], "parameters": ["/a"]}])
    values = SAM_PARSER.convert((f"AllowlistGrants={grants}",), None, None)
    assert values.get("AllowlistGrants") != grants


def test_an_allowlist_over_the_parameter_limit_is_refused_with_what_to_do(tmp_path: Path) -> None:
    grants = [
        {
            "name": f"grant-{i}",
            "principals": [f"arn:aws:iam::111122223333:role/app/service-{i}"],
            "parameters": [f"/service-{i}/*"],
        }
        for i in range(60)
    ]
    source = tmp_path / "big.json"
    source.write_text(json.dumps({"version": 1, "grants": grants, "honeytokens": ["/decoy/*"]}))
    code, out, err = run("deploy-args", str(source), "--output", str(tmp_path / "params.yaml"))
    assert code == 2 and out == ""
    assert "AllowlistGrants is" in err and "at most 4,096" in err and "put-parameter" in err
    assert not (tmp_path / "params.yaml").exists()


def test_a_document_over_4_kb_but_under_8_kb_asks_for_the_advanced_tier() -> None:
    grants = [
        Grant(name=f"g{i}", principals=[f"arn:aws:iam::111122223333:role/r{i:03}"], parameters=["/p/*"])
        for i in range(45)
    ]
    accounts = {f"{i:012}": f"account-number-{i}" for i in range(60)}
    result = deploy.deploy_args(Allowlist(version=1, grants=grants, accounts=accounts, honeytokens=["/decoy/*"]))
    assert result.parameters["AllowlistTier"] == "Advanced"
    assert all(len(v.encode()) <= deploy.PARAMETER_LIMIT for v in result.parameters.values())


def test_honeytokens_the_template_cannot_carry_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "a.yaml"
    source.write_text("version: 1\nhoneytokens: ['/decoy/*', '/canary/db']\n")
    code, _, err = run("deploy-args", str(source))
    assert code == 2
    assert "/canary/db" in err and "put-parameter" in err


def test_sam_deploy_reads_the_file_and_samconfig_as_the_readme_says(tmp_path: Path) -> None:
    # the README's deploy line, parsed by SAM CLI's own `deploy` command with the repo's samconfig.toml
    from samcli.commands.deploy.command import cli

    assert run("deploy-args", str(EVENTS / "allowlist.yaml"), "--output", str(tmp_path / "params.yaml"))[0] == 0
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        context = cli.make_context("deploy", ["--parameter-overrides", f"file://{tmp_path / 'params.yaml'}"])
    finally:
        os.chdir(cwd)
    assert context.params["stack_name"] == "paramwatch"
    assert context.params["resolve_s3"] is True and context.params["s3_bucket"] is None
    assert context.params["capabilities"] == ("CAPABILITY_IAM",) or context.params["capabilities"] == ["CAPABILITY_IAM"]
    assert stored(context.params["parameter_overrides"]).grants == parse((EVENTS / "allowlist.yaml").read_text()).grants


def _deploy_params(work: Path, args: list[str]) -> dict:
    from samcli.commands.deploy.command import cli

    cwd = Path.cwd()
    os.chdir(work)
    try:
        return cli.make_context("deploy", args).params
    finally:
        os.chdir(cwd)


def test_the_readme_deploy_variants_parse_as_it_says(tmp_path: Path) -> None:
    # the forms the README's Deploying section names, read by SAM CLI with the repo's samconfig.toml
    from samcli.commands.deploy.exceptions import DeployResolveS3AndS3SetError

    for name in ("samconfig.toml", "template.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    assert run("deploy-args", str(EVENTS / "allowlist.yaml"), "--output", str(tmp_path / "params.yaml"))[0] == 0
    # one parameter changed next to the file
    params = _deploy_params(tmp_path, ["--parameter-overrides", "file://params.yaml", "BulkThreshold=40"])
    assert params["parameter_overrides"]["BulkThreshold"] == "40"
    assert stored(params["parameter_overrides"]).grants == parse((EVENTS / "allowlist.yaml").read_text()).grants
    # your own artifacts bucket
    params = _deploy_params(tmp_path, ["--s3-bucket", "my-artifacts-bucket", "--no-resolve-s3"])
    assert (params["s3_bucket"], params["resolve_s3"]) == ("my-artifacts-bucket", False)
    # --s3-bucket alone keeps samconfig's resolve_s3: the combination SAM CLI refuses, with the README's words
    params = _deploy_params(tmp_path, ["--s3-bucket", "my-artifacts-bucket"])
    assert (params["s3_bucket"], params["resolve_s3"]) == ("my-artifacts-bucket", True)
    assert "Cannot use both --resolve-s3 and --s3-bucket" in DeployResolveS3AndS3SetError().message
    # another stack name
    assert _deploy_params(tmp_path, ["--stack-name", "pw-eu"])["stack_name"] == "pw-eu"
