"""Helpers and fixtures for template tests: the SAM template as CloudFormation sees it after the transform."""

from __future__ import annotations

from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from support import ROOT, deploy_rule_patterns, translate_template

TEMPLATE = ROOT / "template.yaml"


def raw_template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


@pytest.fixture(scope="session")
def translated(monkeypatch_session: pytest.MonkeyPatch) -> dict[str, Any]:
    """The template after the real SAM transform."""
    return translate_template(TEMPLATE)


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
    """Each rule's EventPattern with parameters and intrinsics resolved by moto's CloudFormation."""
    return deploy_rule_patterns(translated)
