"""Canary: the heartbeat's decrypting read of the canary SecureString, on a schedule.

The evaluator recognizes the read's two legs (the SSM call, the KMS Decrypt SSM makes) and counts
them as heartbeats. An error here raises, so that it shows in the function's Errors metric; the
missing heartbeat raises the heartbeat alarm either way.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from paramwatch_aws.canary import beat

logger = Logger()


@cache
def ssm_client() -> Any:
    """Built on the first invocation, not at import."""
    import boto3

    return boto3.client("ssm")


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """Make the heartbeat read; never log or return the canary's value."""
    name = os.environ["CANARY_PARAMETER"]
    done = beat(ssm_client(), name)
    logger.info("heartbeat", extra={"canary": name, "beat": str(done)})
    return {"canary": name, "beat": str(done)}
