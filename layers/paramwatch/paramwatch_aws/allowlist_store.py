"""The stored allowlist: read from Parameter Store once per cache period, with adaptive retries.

Every cold container reads it once, and a warm one again after `max_age` seconds. Those calls share
the account's Parameter Store throughput (40 transactions a second by default, across GetParameter,
GetParameters and GetParametersByPath) with the workload paramwatch watches, so the client uses
botocore's adaptive retry mode: on throttling it backs off and rate-limits itself instead of
hammering the quota. The parameter's version and modification time come along, so that an alert
about a broken allowlist can say since when it is broken.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RETRIES = {"mode": "adaptive", "max_attempts": 8}
"""botocore retry settings for the allowlist read (and the other clients of the handler)."""


@dataclass(frozen=True, slots=True)
class StoredAllowlist:
    """The parameter's text with where it came from."""

    name: str
    text: str
    version: int | None
    modified: str | None


@dataclass
class AllowlistStore:
    """A GetParameter cached for `max_age` seconds; `clock` is injectable for tests."""

    ssm: Any
    name: str
    max_age: float
    clock: Any = time.monotonic
    _cached: StoredAllowlist | None = field(default=None, init=False)
    _fetched: float = field(default=0.0, init=False)

    def get(self) -> StoredAllowlist:
        """The allowlist text, fetched when the cached copy is older than `max_age`."""
        now = self.clock()
        if self._cached is not None and now - self._fetched < self.max_age:
            return self._cached
        parameter = self.ssm.get_parameter(Name=self.name)["Parameter"]
        modified = parameter.get("LastModifiedDate")
        self._cached = StoredAllowlist(
            name=self.name,
            text=parameter["Value"],
            version=parameter.get("Version"),
            modified=modified.isoformat() if isinstance(modified, datetime) else None,
        )
        self._fetched = now
        return self._cached
