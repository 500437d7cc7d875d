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
    grants_path: str = ""
    _cached: StoredAllowlist | None = field(default=None, init=False)
    _fetched: float = field(default=0.0, init=False)
    _pieces: tuple[StoredAllowlist, ...] = field(default=(), init=False)

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
        self._pieces = self._read_pieces()
        self._fetched = now
        return self._cached

    def pieces(self) -> tuple[StoredAllowlist, ...]:
        """The delegated pieces under `grants_path` (one per team), as of the last `get()`."""
        return self._pieces

    def _read_pieces(self) -> tuple[StoredAllowlist, ...]:
        """Every parameter directly under `grants_path`, sorted by name; one paginated read."""
        if not self.grants_path:
            return ()
        found = []
        pages = self.ssm.get_paginator("get_parameters_by_path").paginate(Path=self.grants_path, Recursive=False)
        for page in pages:
            for parameter in page["Parameters"]:
                modified = parameter.get("LastModifiedDate")
                found.append(
                    StoredAllowlist(
                        name=parameter["Name"],
                        text=parameter["Value"],
                        version=parameter.get("Version"),
                        modified=modified.isoformat() if isinstance(modified, datetime) else None,
                    )
                )
        return tuple(sorted(found, key=lambda p: p.name))
