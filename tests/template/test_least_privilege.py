"""Least privilege, checked on the template as CloudFormation sees it after the SAM transform."""

from __future__ import annotations

from typing import Any

import pytest

from sam_template import resources_of

# Actions that have no resource-level permissions, where "*" is the only possible Resource.
NO_RESOURCE_LEVEL = frozenset(
    {
        "cloudwatch:PutMetricData",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        # AccountNamesFromOrganizations: ListAccounts supports no resource-level permissions
        # (Service Authorization Reference, AWS Organizations: its Resource types column is empty)
        "organizations:ListAccounts",
    }
)
KEY_POLICY = "AWS::KMS::Key"


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(resource, kind, statement) for every policy statement in the template."""
    out = []
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        documents = []
        if kind == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        if kind in {
            "AWS::IAM::Policy",
            "AWS::IAM::RolePolicy",
            "AWS::IAM::ManagedPolicy",
            "AWS::SQS::QueuePolicy",
            "AWS::SNS::TopicPolicy",
        }:
            documents.append(props["PolicyDocument"])
        if kind == KEY_POLICY:
            documents.append(props["KeyPolicy"])
        if kind == "AWS::Events::EventBusPolicy":
            documents.append({"Statement": props["Statement"]})
        for document in documents:
            out += [(name, kind, s) for s in as_list(document["Statement"])]
    return out


def test_the_template_has_policies_to_check(translated) -> None:
    kinds = {kind for _, kind, _ in statements(translated)}
    assert kinds >= {"AWS::IAM::Role", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", KEY_POLICY}


def test_no_action_has_a_wildcard(translated) -> None:
    for name, _, statement in statements(translated):
        for action in as_list(statement.get("Action", [])):
            assert "*" not in action, f"{name}: {action}"
        assert "NotAction" not in statement, name


def test_resource_star_only_where_unavoidable(translated) -> None:
    for name, kind, statement in statements(translated):
        if "*" not in as_list(statement.get("Resource", [])):
            continue
        if kind == KEY_POLICY:
            continue  # in a key policy, "*" means "this key"
        assert set(as_list(statement["Action"])) <= NO_RESOURCE_LEVEL, f"{name}: {statement}"


def test_no_role_relies_on_managed_policies(translated) -> None:
    for name, role in resources_of(translated, "AWS::IAM::Role").items():
        assert not role["Properties"].get("ManagedPolicyArns"), name


def evaluator_statements(translated) -> list[dict[str, Any]]:
    function = resources_of(translated, "AWS::Lambda::Function")["EvaluatorFunction"]
    role_name = function["Properties"]["Role"]["Fn::GetAtt"][0]
    role = translated["Resources"][role_name]
    return [s for p in role["Properties"]["Policies"] for s in as_list(p["PolicyDocument"]["Statement"])]


def test_evaluator_may_do_exactly_what_it_needs(translated) -> None:
    actions = {a for s in evaluator_statements(translated) for a in as_list(s["Action"])}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ssm:GetParameter",
        "ssm:GetParametersByPath",
        "events:PutEvents",
        "sns:Publish",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "sqs:SendMessage",
    }


def test_evaluator_reads_only_its_own_allowlist_and_resources_and_decrypts_nothing(translated) -> None:
    for statement in evaluator_statements(translated):
        actions = as_list(statement["Action"])
        assert not [a for a in actions if a.startswith("kms:")]
        if any(a.startswith("ssm:") for a in actions):
            if actions == ["ssm:GetParametersByPath"]:  # the team pieces, authorized against the path
                (resource,) = as_list(statement["Resource"])
                assert resource["Fn::Sub"].endswith(":parameter/paramwatch/${AWS::StackName}/grants")
            else:
                assert actions == ["ssm:GetParameter"]
                allowlist, resources = as_list(statement["Resource"])
                assert allowlist["Fn::Sub"].endswith(":parameter/paramwatch/${AWS::StackName}/allowlist")
                assert resources["Fn::Sub"].endswith(":parameter/paramwatch/${AWS::StackName}/resources")


def test_evaluator_puts_only_its_own_events_and_files_only_under_its_own_product(translated) -> None:
    (put,) = [s for s in evaluator_statements(translated) if s["Action"] == "events:PutEvents"]
    assert put["Condition"] == {
        "StringEquals": {"events:source": "paramwatch", "events:detail-type": "Parameter access finding"}
    }
    own_bus, named_bus = put["Resource"]["Fn::If"][1:]
    assert own_bus == {"Fn::GetAtt": ["FindingsBus", "Arn"]}
    assert named_bus["Fn::Sub"].endswith(":event-bus/${FindingsBusName}")
    hub = translated["Resources"]["EvaluatorSecurityHubPolicy"]
    assert hub["Condition"] == "UseSecurityHub"
    (statement,) = hub["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "securityhub:BatchImportFindings"
    assert statement["Resource"]["Fn::Sub"].endswith(":product/${AWS::AccountId}/default")


@pytest.mark.parametrize("kind", ["AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::DynamoDB::Table", "AWS::Logs::LogGroup"])
def test_every_resource_that_can_be_encrypted_is(translated, kind: str) -> None:
    found = resources_of(translated, kind)
    assert found
    for name, resource in found.items():
        props = resource["Properties"]
        encrypted = {
            "AWS::SQS::Queue": props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId"),
            "AWS::SNS::Topic": props.get("KmsMasterKeyId"),
            "AWS::DynamoDB::Table": props.get("SSESpecification", {}).get("SSEEnabled"),
            "AWS::Logs::LogGroup": props.get("KmsKeyId"),
        }[kind]
        assert encrypted, name


def test_operations_topic_uses_a_key_cloudwatch_may_use(translated) -> None:
    topic = translated["Resources"]["OperationsTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] != "alias/aws/sns"
    key_policy = translated["Resources"]["PipelineKey"]["Properties"]["KeyPolicy"]
    cloudwatch = [s for s in key_policy["Statement"] if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch and {"kms:GenerateDataKey", "kms:Decrypt"} <= set(cloudwatch[0]["Action"])


def test_every_rule_target_retries_and_has_a_dead_letter_queue(translated) -> None:
    for name, rule in resources_of(translated, "AWS::Events::Rule").items():
        for target in rule["Properties"]["Targets"]:
            assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0, name
            if "ScheduleExpression" in rule["Properties"]:
                continue  # a heartbeat tick that cannot run is a missing heartbeat: the alarm reports it
            assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["RulesDeadLetterQueue", "Arn"]}, name


def test_the_evaluator_has_async_retries_and_an_on_failure_destination(translated) -> None:
    configs = resources_of(translated, "AWS::Lambda::EventInvokeConfig")
    by_function = {c["Properties"]["FunctionName"]["Ref"]: c["Properties"] for c in configs.values()}
    assert set(by_function) == set(resources_of(translated, "AWS::Lambda::Function"))
    evaluator = by_function["EvaluatorFunction"]
    assert evaluator["MaximumRetryAttempts"] >= 1
    assert evaluator["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailureQueue", "Arn"]}
    # a failed heartbeat is not retried later or parked: it is missing, and the heartbeat alarm says so
    assert by_function["CanaryFunction"]["MaximumRetryAttempts"] == 0


def canary_statements(translated) -> list[dict[str, Any]]:
    function = resources_of(translated, "AWS::Lambda::Function")["CanaryFunction"]
    role = translated["Resources"][function["Properties"]["Role"]["Fn::GetAtt"][0]]
    return [s for p in role["Properties"]["Policies"] for s in as_list(p["PolicyDocument"]["Statement"])]


def test_the_canary_role_may_read_only_the_canary(translated) -> None:
    statements = canary_statements(translated)
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ssm:GetParameter",
        "ssm:LabelParameterVersion",
        "ssm:PutParameter",
    }
    for statement in statements:
        (resource,) = as_list(statement["Resource"])
        if any(a.startswith("ssm:") for a in as_list(statement["Action"])):
            assert resource["Fn::Sub"].endswith(":parameter/paramwatch/${AWS::StackName}/canary")
        else:
            assert resource["Fn::Sub"].endswith(":log-group:/paramwatch/${AWS::StackName}/canary:*")
    # no kms:*: the canary uses the AWS-managed aws/ssm key, usable through SSM only
    assert not [a for a in actions if a.startswith("kms:")]


def test_the_canary_role_is_its_own_and_the_evaluator_knows_it(translated) -> None:
    functions = resources_of(translated, "AWS::Lambda::Function")
    canary_role = functions["CanaryFunction"]["Properties"]["Role"]["Fn::GetAtt"][0]
    assert canary_role != functions["EvaluatorFunction"]["Properties"]["Role"]["Fn::GetAtt"][0]
    env = functions["EvaluatorFunction"]["Properties"]["Environment"]["Variables"]
    # standalone: exactly this role; organization mode adds the members' canary roles (under /paramwatch/)
    condition, organization, standalone = env["CANARY_ROLE_ARN"]["Fn::If"]
    assert condition == "OrganizationMode"
    assert standalone == {"Fn::GetAtt": [canary_role, "Arn"]}
    assert organization["Fn::Sub"].startswith(f"${{{canary_role}.Arn}},")
    canary = functions["CanaryFunction"]["Properties"]["Environment"]["Variables"]["CANARY_PARAMETER"]
    assert env["CANARY_PARAMETER"]["Fn::If"][2] == canary


def test_the_heartbeat_alarm_treats_missing_data_as_breaching(translated) -> None:
    # one alarm on the canary's SilentHeartbeats (one series, no per-leg dimension); the canary pages
    # each silent leg itself, and a check that stopped publishing is missing data: breaching
    props = translated["Resources"]["HeartbeatAlarm"]["Properties"]
    assert "Condition" not in translated["Resources"]["HeartbeatAlarm"]
    assert (props["Namespace"], props["MetricName"]) == ("paramwatch", "SilentHeartbeats")
    assert props["Dimensions"] == [{"Name": "service", "Value": "paramwatch"}]
    assert props["TreatMissingData"] == "breaching"
    assert (props["ComparisonOperator"], props["Threshold"], props["Statistic"]) == (
        "GreaterThanThreshold",
        0,
        "Maximum",
    )
    assert props["Period"] == {"Fn::FindInMap": ["HeartbeatPeriod", {"Ref": "HeartbeatMinutes"}, "Seconds"]}
    periods = translated["Mappings"]["HeartbeatPeriod"]
    assert set(periods) == {str(v) for v in translated["Parameters"]["HeartbeatMinutes"]["AllowedValues"]}
    assert all(periods[m]["Seconds"] == int(m) * 60 for m in periods)
    assert props["AlarmActions"] == props["OKActions"] == [{"Ref": "OperationsTopic"}]
    assert "check the canary function" in props["AlarmDescription"] and "paramwatch doctor" in props["AlarmDescription"]


def test_pipeline_alarms_go_to_the_operations_topic(translated) -> None:
    alarms = resources_of(translated, "AWS::CloudWatch::Alarm")
    metrics = set()
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "OperationsTopic"}]
        metrics.add(props.get("MetricName") or props["Metrics"][1]["MetricStat"]["Metric"]["MetricName"])
    assert metrics == {
        "Errors",
        "Throttles",
        "ApproximateNumberOfMessagesVisible",
        "InvalidEvents",
        "DestinationDeliveryFailures",  # Lambda could not park a failed event: lost
        "InvocationsFailedToBeSentToDlq",  # EventBridge could not park an undelivered event: lost
        "SilentHeartbeats",  # a heartbeat leg (own or a member's) gone silent, or the canary's check stopped
    }


def test_every_rule_is_watched_by_the_delivery_alarms(translated) -> None:
    # the heartbeat schedule is not watched here: a tick that cannot reach the canary is a missing
    # heartbeat, which the heartbeat alarms report
    rules = {
        n: r for n, r in resources_of(translated, "AWS::Events::Rule").items() if "EventPattern" in r["Properties"]
    }
    # GIVEN every rule parks what it could not deliver in the dead-letter queue, whose depth has an
    # alarm: that is the failed invocation, so no FailedInvocations alarm duplicates it
    for name, rule in rules.items():
        for target in rule["Properties"]["Targets"]:
            assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["RulesDeadLetterQueue", "Arn"]}}, name
    depth = translated["Resources"]["RulesDeadLetterAlarm"]["Properties"]
    assert depth["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["RulesDeadLetterQueue", "QueueName"]}}
    ]
    # AND an event that could not be parked either is watched, rule by rule
    watched = set()
    alarms = ("RuleDeadLetterFailedAlarm", "OrganizationRuleDeadLetterFailedAlarm")
    metrics = [m for alarm in alarms for m in translated["Resources"][alarm]["Properties"]["Metrics"][1:]]
    for metric in metrics:
        assert metric["MetricStat"]["Metric"]["MetricName"] == "InvocationsFailedToBeSentToDlq"
        (value,) = [d["Value"] for d in metric["MetricStat"]["Metric"]["Dimensions"] if d["Name"] == "RuleName"]
        watched |= referenced(value)
    assert watched == set(rules)


def referenced(value: Any) -> set[str]:
    """Every resource a `Ref` inside `value` names."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return {value["Ref"]}
        return set().union(*(referenced(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(referenced(v) for v in value)) if value else set()
    return set()


def test_the_resources_parameter_names_every_rule_and_alarm(translated) -> None:
    # the evaluator knows its own rules and alarms from this parameter (tamper rules): none may be missing
    value = translated["Resources"]["ResourcesParameter"]["Properties"]["Value"]["Fn::Sub"]
    _, variables = value
    named = referenced(variables)
    for kind in ("AWS::Events::Rule", "AWS::CloudWatch::Alarm"):
        for name in resources_of(translated, kind):
            assert name in named, f"{name} is not in ResourcesParameter"


def test_account_names_from_organizations_grant_list_accounts_alone_and_only_when_asked(translated) -> None:
    # GIVEN AccountNamesFromOrganizations=true, which means something only in organization mode
    condition = translated["Conditions"]["ReadAccountNames"]["Fn::And"]
    assert {"Condition": "OrganizationMode"} in condition
    assert {"Fn::Equals": [{"Ref": "AccountNamesFromOrganizations"}, "true"]} in condition
    assert translated["Parameters"]["AccountNamesFromOrganizations"]["Default"] == "false"
    # THEN the evaluator may list the organization's accounts, and nothing else of Organizations
    policy = translated["Resources"]["EvaluatorAccountNamesPolicy"]
    assert policy["Condition"] == "ReadAccountNames" and policy["Properties"]["RoleName"] == {"Ref": "EvaluatorRole"}
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("organizations:ListAccounts", "*")
    organizations = [
        a for _, _, s in statements(translated) for a in as_list(s.get("Action", [])) if a.startswith("organizations:")
    ]
    assert organizations == ["organizations:ListAccounts"]
    # AND the function is told to use it only then
    env = translated["Resources"]["EvaluatorFunction"]["Properties"]["Environment"]["Variables"]
    assert env["ACCOUNT_NAMES_FROM_ORGANIZATIONS"] == {"Fn::If": ["ReadAccountNames", "true", "false"]}
