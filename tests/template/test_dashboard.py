"""The CloudWatch dashboard: every widget the README promises, and no high-cardinality dimension."""

from __future__ import annotations

import json
import re

from sam_template import resources_of
from support import ROOT

ALLOWED_DIMENSIONS = {"service", "rule", "severity", "leg", "FunctionName", "QueueName", "RuleName"}


def body(translated) -> dict:
    (dashboard,) = resources_of(translated, "AWS::CloudWatch::Dashboard").values()
    template, variables = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert set(variables) == {"DeadLetterQueueName", "FailureQueueName", "HoneytokenRuleName"}
    # substitute every ${...} with a placeholder: what is left must be valid JSON
    return json.loads(re.sub(r"\$\{[^}]+\}", "X", template))


def metrics_of(widget: dict) -> list[list]:
    return [m for m in widget["properties"].get("metrics", []) if isinstance(m[0], str)]


def test_dashboard_shows_what_the_readme_promises(translated) -> None:
    widgets = body(translated)["widgets"]
    text = json.dumps(widgets)
    for metric in (
        "Findings",
        "Invocations",
        "AlertsSent",
        "AlertsSuppressed",
        "AlertsParked",
        "SilentHeartbeats",
        "Errors",
        "Throttles",
        "InvalidEvents",
        "ApproximateNumberOfMessagesVisible",
        "FailedInvocations",
    ):
        assert metric in text, metric
    search = next(w for w in widgets if w["properties"].get("title") == "Findings by rule and severity")
    assert "{paramwatch,rule,service,severity}" in search["properties"]["metrics"][0][0]["expression"]


def test_dashboard_has_no_high_cardinality_dimension(translated) -> None:
    for widget in body(translated)["widgets"]:
        for metric in metrics_of(widget):
            if metric[0] == "...":  # repeats the line above with another value of its last dimension
                continue
            # [namespace, name, dimension, value, dimension, value, ...]; "." repeats the line above
            dimensions = {d for d in metric[2::2] if d != "."}
            assert dimensions <= ALLOWED_DIMENSIONS, (widget["properties"]["title"], dimensions)
            assert metric[2::2], f"{metric[1]} without a dimension"


def test_every_paramwatch_metric_on_the_dashboard_is_one_the_code_emits(translated) -> None:
    """A widget line for a metric nobody publishes is an empty graph that looks like a quiet day."""
    code = "\n".join(p.read_text() for d in ("functions", "layers/paramwatch") for p in (ROOT / d).rglob("*.py"))
    emitted = set(re.findall(r'name="([A-Za-z]+)", unit=', code))
    assert {"Findings", "AlertsSent", "SilentHeartbeats"} <= emitted
    namespace = None
    for widget in body(translated)["widgets"]:
        for metric in metrics_of(widget):
            namespace = namespace if metric[0] in (".", "...") else metric[0]
            if namespace == "paramwatch" and metric[0] != "...":
                assert metric[1] in emitted, (widget["properties"]["title"], metric[1])
