"""Fixtures for template tests: the SAM template as CloudFormation sees it after the transform."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
from moto import mock_aws
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from support import ROOT

TEMPLATE = ROOT / "template.yaml"


class _NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs only when a template names them by name."""

    def load(self) -> dict[str, str]:
        return {}


def raw_template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


@pytest.fixture(scope="session")
def translated(monkeypatch_session: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run the real SAM translator, with local code paths replaced by S3 URIs as `sam deploy` does."""
    template = raw_template()
    for resource in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key"
    return transform(template, {}, _NoManagedPolicies())


@pytest.fixture(scope="session")
def monkeypatch_session() -> pytest.MonkeyPatch:
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield patch
    patch.undo()


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


@pytest.fixture(scope="session")
def deployed_patterns(translated: dict[str, Any]) -> dict[str, str]:
    """Each rule's EventPattern with parameters and intrinsics resolved by moto's CloudFormation.

    Only the rules (without targets) are deployed, with the template's default parameters.
    """
    rules = resources_of(translated, "AWS::Events::Rule")
    mini = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": translated["Parameters"],
        "Conditions": translated.get("Conditions", {}),
        "Resources": {},
    }
    for name, rule in rules.items():
        rule = copy.deepcopy(rule)
        rule["Properties"].pop("Targets", None)
        mini["Resources"][name] = rule
    with mock_aws():
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(StackName="paramwatch", TemplateBody=json.dumps(mini))
        physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cloudformation.describe_stack_resources(StackName="paramwatch")["StackResources"]
        }
        events = boto3.client("events")
        return {name: events.describe_rule(Name=physical[name].split("/")[-1])["EventPattern"] for name in rules}
