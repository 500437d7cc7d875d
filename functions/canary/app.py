"""Canary: the heartbeat's decrypting read of the canary SecureString, on a schedule.

The evaluator recognizes the read's two legs (the SSM call, the KMS Decrypt SSM makes) and counts
them as heartbeats. An error here raises, so that it shows in the function's Errors metric; the
missing heartbeat raises the heartbeat alarm either way.

Each run also checks the heartbeats the evaluator recorded in the state table: this stack's own
legs (ssm, kms unless lean, tamper) and, in organization mode, every member's. It pages the
operations topic once per leg gone silent and publishes `SilentHeartbeats`, one aggregate metric
with no per-leg dimension, which `HeartbeatAlarm` watches (missing data breaches: a check that
stopped running is not silence).
"""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from paramwatch.heartbeat import KMS_LEG, LEGS
from paramwatch.liveness import Member, account_of
from paramwatch_aws.canary import beat
from paramwatch_aws.liveness_store import LivenessStore, check_members

logger = Logger()
metrics = Metrics()


@cache
def ssm_client() -> Any:
    """Built on the first invocation, not at import."""
    import boto3

    return boto3.client("ssm")


@cache
def member_clients() -> tuple[LivenessStore, Any]:
    """The state table and SNS, for the heartbeat check."""
    import boto3

    table = boto3.resource("dynamodb").Table(os.environ["STATE_TABLE"])
    return LivenessStore(table), boto3.client("sns")


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Make the heartbeat read (never log or return the canary's value), then check the members."""
    name = os.environ["CANARY_PARAMETER"]
    try:
        done = beat(ssm_client(), name)
        logger.info("heartbeat", extra={"canary": name, "beat": str(done)})
    finally:
        silent = watch(own_legs(context))
    return {"canary": name, "beat": str(done), "silent": silent}


def own_legs(context: LambdaContext) -> tuple[Member, ...]:
    """This stack's legs, in the canary's own account and region (no KMS leg in lean mode)."""
    account = account_of(getattr(context, "invoked_function_arn", ""))
    lean = os.environ.get("FORWARD_MODE") == "lean"
    legs = [Member.of(account, os.environ.get("AWS_REGION"), leg) for leg in LEGS if not (lean and leg == KMS_LEG)]
    return tuple(leg for leg in legs if leg is not None)


def watch(expected: tuple[Member, ...]) -> list[str]:
    """Page each leg gone silent once; publish how many are silent now."""
    store, sns = member_clients()
    silences = check_members(
        store,
        sns,
        topic_arn=os.environ["OPERATIONS_TOPIC_ARN"],
        now=time.time(),
        heartbeat_minutes=int(os.environ.get("HEARTBEAT_MINUTES", "5")),
        stack=os.environ.get("STACK_NAME", "paramwatch"),
        expected=expected,
    )
    for silence in silences:
        logger.warning("heartbeat silent", extra={"leg": silence.member.key, "paged": silence.paged})
    metrics.add_metric(name="SilentHeartbeats", unit=MetricUnit.Count, value=len(silences))
    metrics.flush_metrics()
    return [s.member.key for s in silences]
