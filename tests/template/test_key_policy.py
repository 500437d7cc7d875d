"""The pipeline key's policy, evaluated against what each service that uses the key is documented to need.

Each requirement is a KMS request (who, which action, with which request context) that AWS's
documentation says must be allowed for the deploy or the pipeline to work, or one that least
privilege says must be refused. The policy is taken from the template after the SAM transform and
evaluated by a small model of key-policy evaluation (principal, action, the condition operators the
policy uses). moto enforces no key policy, so this is what stops a later edit from breaking them.

Sources:
- DynamoDB: KMS Developer Guide, "How Amazon DynamoDB uses AWS KMS" (services-dynamodb.html): the
  table's creator needs kms:CreateGrant, Encrypt, Decrypt, ReEncrypt*, GenerateDataKey* and
  DescribeKey through DynamoDB; the same failure is aws-cdk#18616.
- CloudWatch Logs: "Encrypt log data in CloudWatch Logs using AWS KMS" (encrypt-log-data-kms.html):
  the logs service principal with the aws:logs:arn encryption context, and kms:ViaService for the
  roles that call CloudWatch Logs.
- SNS with CloudWatch alarms: SNS Developer Guide, sns-key-management.html, "Enable compatibility
  between event sources from AWS services and encrypted topics".
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from sam_template import resources_of

ACCOUNT, OTHER_ACCOUNT, REGION, STACK = "111122223333", "444455556666", "eu-central-1", "paramwatch"
EVALUATOR = f"arn:aws:iam::{ACCOUNT}:role/paramwatch-EvaluatorRole-AbC123"
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"
LOG_GROUP = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/paramwatch/{STACK}/evaluator"
PSEUDO = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::StackName": STACK}
# The documented DynamoDB set, with kms:ReEncrypt* and kms:GenerateDataKey* as a symmetric key has them.
DYNAMODB_NEEDS = (
    "kms:CreateGrant",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
)


def resolve(value: Any) -> Any:
    """Resolve the intrinsics the key policy uses, for one fixed stack."""
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", lambda m: PSEUDO[m.group(1)], value["Fn::Sub"])
    if set(value) == {"Ref"}:
        return PSEUDO[value["Ref"]]
    if set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][1] == "Arn":
        return role_arn(value["Fn::GetAtt"][0])
    return {k: resolve(v) for k, v in value.items()}


def role_arn(logical: str) -> str:
    """The ARN CloudFormation gives role `logical` of this stack (generated name)."""
    return EVALUATOR if logical == "EvaluatorRole" else f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{logical}-XyZ789"


@dataclass
class Request:
    """One KMS request. `principal` is an IAM ARN, or a service name; `iam_allows` is what the
    caller's own IAM policies grant (an account statement delegates to them)."""

    principal: str
    action: str
    context: dict[str, str] = field(default_factory=dict)
    iam_allows: bool = False

    @property
    def account(self) -> str | None:
        parts = self.principal.split(":")
        return parts[4] if self.principal.startswith("arn:") else None


def _values(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _condition_holds(operator: str, key: str, expected: Any, request: Request) -> bool:
    actual = request.context.get(key)
    if actual is None:
        return False
    if operator in {"StringEquals", "ArnEquals"}:
        return actual in _values(expected)
    if operator in {"StringLike", "ArnLike"}:
        return any(fnmatch.fnmatchcase(actual, pattern) for pattern in _values(expected))
    raise AssertionError(f"the model does not know condition operator {operator}")


def _principal_matches(principal: dict[str, Any], request: Request) -> bool:
    if "Service" in principal:
        return request.principal in _values(principal["Service"])
    for aws in _values(principal.get("AWS", [])):
        if aws == "*" and request.account:
            return True
        if aws.endswith(":root") and request.account == aws.split(":")[4]:
            return request.iam_allows  # the account statement delegates to IAM
        if aws == request.principal:
            return True
    return False


def allowed(policy: dict[str, Any], request: Request) -> bool:
    """True when some Allow statement matches (the policy has no Deny statements)."""
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        if request.action not in _values(statement["Action"]):
            continue
        if not _principal_matches(statement["Principal"], request):
            continue
        conditions = statement.get("Condition", {})
        if all(
            _condition_holds(op, key, expected, request)
            for op, block in conditions.items()
            for key, expected in block.items()
        ):
            return True
    return False


@pytest.fixture(scope="module")
def key(translated) -> dict[str, Any]:
    return translated["Resources"]["PipelineKey"]


@pytest.fixture(scope="module")
def policy(key) -> dict[str, Any]:
    return resolve(key["Properties"]["KeyPolicy"])


def via(service: str, caller_account: str = ACCOUNT, **context: str) -> dict[str, str]:
    return {"kms:ViaService": f"{service}.{REGION}.amazonaws.com", "kms:CallerAccount": caller_account, **context}


@pytest.mark.parametrize("action", DYNAMODB_NEEDS)
def test_the_table_creator_may_create_the_encrypted_table(policy, action) -> None:
    # the deploying role holds kms:* in IAM, but no IAM policy can grant what the key policy does not
    assert allowed(policy, Request(DEPLOYER, action, via("dynamodb"), iam_allows=False))


@pytest.mark.parametrize("action", ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:DescribeKey"])
def test_the_evaluator_uses_the_key_through_dynamodb_only(policy, action) -> None:
    assert allowed(policy, Request(EVALUATOR, action, via("dynamodb")))
    assert not allowed(policy, Request(EVALUATOR, action, {"kms:CallerAccount": ACCOUNT}))
    assert not allowed(policy, Request(EVALUATOR, action, via("ssm")))


def test_no_principal_of_the_account_decrypts_directly(policy) -> None:
    for who in (DEPLOYER, EVALUATOR, f"arn:aws:iam::{ACCOUNT}:root"):
        assert not allowed(policy, Request(who, "kms:Decrypt", {"kms:CallerAccount": ACCOUNT}, iam_allows=True))


def test_another_account_cannot_use_it_through_dynamodb(policy) -> None:
    stranger = f"arn:aws:iam::{OTHER_ACCOUNT}:role/x"
    assert not allowed(policy, Request(stranger, "kms:Decrypt", via("dynamodb", caller_account=OTHER_ACCOUNT)))


@pytest.mark.parametrize("action", ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"])
def test_cloudwatch_logs_encrypts_this_stacks_log_group_only(policy, action) -> None:
    logs = f"logs.{REGION}.amazonaws.com"
    assert allowed(policy, Request(logs, action, {"kms:EncryptionContext:aws:logs:arn": LOG_GROUP}))
    elsewhere = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/other/app"
    assert not allowed(policy, Request(logs, action, {"kms:EncryptionContext:aws:logs:arn": elsewhere}))


def functions_logging_under_the_key(template: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Each function whose log group the pipeline key encrypts: (its role's ARN, its log group's ARN)."""
    out = {}
    for name, function in resources_of(template, "AWS::Lambda::Function").items():
        group = function["Properties"].get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        props = template["Resources"][group]["Properties"] if group else {}
        if "PipelineKey" in str(props.get("KmsKeyId")):
            role = function["Properties"]["Role"]["Fn::GetAtt"][0]
            out[name] = (role_arn(role), f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{resolve(props['LogGroupName'])}")
    return out


@pytest.mark.parametrize("action", ["kms:GenerateDataKey", "kms:Decrypt"])
def test_each_function_role_writes_its_logs_through_cloudwatch_logs(translated, policy, action) -> None:
    # GIVEN every function whose log group this key encrypts (the evaluator and the canary)
    writers = functions_logging_under_the_key(translated)
    assert {"EvaluatorFunction", "CanaryFunction"} <= set(writers)
    for role, group in writers.values():
        # THEN its role may use the key through CloudWatch Logs for its log group
        context = via("logs", **{"kms:EncryptionContext:aws:logs:arn": group, "aws:PrincipalArn": role})
        assert allowed(policy, Request(role, action, context)), role
    other = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
    context = via("logs", **{"kms:EncryptionContext:aws:logs:arn": LOG_GROUP, "aws:PrincipalArn": other})
    assert not allowed(policy, Request(other, action, context))


@pytest.mark.parametrize("action", ["kms:GenerateDataKey", "kms:Decrypt"])
def test_cloudwatch_alarms_of_this_account_publish_to_the_operations_topic(policy, action) -> None:
    assert allowed(policy, Request("cloudwatch.amazonaws.com", action, {"aws:SourceAccount": ACCOUNT}))
    assert not allowed(policy, Request("cloudwatch.amazonaws.com", action, {"aws:SourceAccount": OTHER_ACCOUNT}))


@pytest.mark.parametrize("action", ["kms:GenerateDataKey", "kms:Decrypt"])
def test_the_canary_pages_the_operations_topic_through_sns_only(policy, action) -> None:
    # the canary publishes its silent-heartbeat pages to the topic this key encrypts (SNS key management)
    canary = role_arn("CanaryRole")
    assert allowed(policy, Request(canary, action, via("sns", **{"aws:PrincipalArn": canary})))
    assert not allowed(policy, Request(canary, action, {"kms:CallerAccount": ACCOUNT, "aws:PrincipalArn": canary}))
    other = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
    assert not allowed(policy, Request(other, action, via("sns", **{"aws:PrincipalArn": other})))


@pytest.mark.parametrize("action", ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DescribeKey"])
def test_the_account_can_still_administer_the_key(policy, action) -> None:
    assert allowed(policy, Request(DEPLOYER, action, iam_allows=True))


def test_no_statement_names_a_role_as_principal(policy) -> None:
    # a Principal naming a role created seconds earlier can fail CreateKey ("principals must exist")
    for statement in policy["Statement"]:
        for aws in _values(statement["Principal"].get("AWS", [])):
            assert aws == "*" or aws == f"arn:aws:iam::{ACCOUNT}:root", statement["Sid"]


def test_the_key_is_kept_after_deletion_but_not_after_a_failed_create(key) -> None:
    assert key["DeletionPolicy"] == "RetainExceptOnCreate"


def test_the_evaluator_role_has_no_kms_permission(translated) -> None:
    role = resources_of(translated, "AWS::IAM::Role")["EvaluatorRole"]
    actions = [
        a
        for p in role["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        for a in _values(s["Action"])
    ]
    assert not [a for a in actions if a.startswith("kms:")]
