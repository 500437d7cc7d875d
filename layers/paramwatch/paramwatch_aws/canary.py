"""The heartbeat: a decrypting GetParameter of the canary (created when missing), and a label on it.

`AWS::SSM::Parameter` cannot create a SecureString, so the first heartbeat creates it with
`PutParameter` (never overwriting: a canary someone changed stays as it is, and a read of it still
beats). The value is random and worthless, and it is never logged or returned.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError


class Beat(StrEnum):
    """What one heartbeat did."""

    READ = "read"
    CREATED_AND_READ = "created and read"


LABEL = "heartbeat"


def beat(ssm: Any, name: str) -> Beat:
    """Read the canary with decryption (creating it first if missing), then label it.

    The label is a write event: it reaches the tamper rule (State ENABLED), so its heartbeat proves
    that rule's path as the read proves the read rules'. Moving a label to the version it already
    marks changes nothing. Errors raise.
    """
    done = _read(ssm, name)
    ssm.label_parameter_version(Name=name, Labels=[LABEL])
    return done


def _read(ssm: Any, name: str) -> Beat:
    try:
        ssm.get_parameter(Name=name, WithDecryption=True)
        return Beat.READ
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
    try:
        ssm.put_parameter(
            Name=name,
            Value=secrets.token_urlsafe(24),
            Type="SecureString",
            Overwrite=False,
            Description="paramwatch heartbeat canary: read only by the canary role; any other read is a finding",
        )
    except ClientError as exc:  # created meanwhile by a concurrent heartbeat
        if exc.response.get("Error", {}).get("Code") != "ParameterAlreadyExists":
            raise
    ssm.get_parameter(Name=name, WithDecryption=True)
    return Beat.CREATED_AND_READ
