"""Account names from AWS Organizations, for organization mode (`AccountNamesFromOrganizations`).

`organizations:ListAccounts` answers only in the management account or a delegated
administrator. The names are read once per warm container and kept for `max_age` seconds; a failed
read keeps the names already known (none on a cold start), is retried after `retry_after` seconds,
and never stops judging: the allowlist's own `accounts` map still names what it names.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

_ACCOUNT = re.compile(r"\d{12}")
NAME_MAX = 128  # the allowlist's limit for a name; Organizations' own is 50


@dataclass(frozen=True, slots=True)
class Names:
    """The names known now, and the error of the read just tried, if it failed."""

    names: Mapping[str, str]
    error: str | None = None


class OrganizationNames:
    """Account ID to name, read with `ListAccounts` (paginated) and cached with a TTL."""

    def __init__(
        self,
        organizations: Any,
        max_age: float = 3600,
        retry_after: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._organizations = organizations
        self._max_age = max_age
        self._retry_after = retry_after
        self._clock = clock
        self._names: Mapping[str, str] = {}
        self._next_read: float | None = None

    def get(self) -> Names:
        """The cached names, read again when they are older than `max_age` (or a retry is due)."""
        now = self._clock()
        if self._next_read is not None and now < self._next_read:
            return Names(self._names)
        try:
            names = self._read()
        except (ClientError, BotoCoreError) as exc:
            self._next_read = now + self._retry_after
            code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else type(exc).__name__
            return Names(self._names, error=str(code))
        self._names, self._next_read = names, now + self._max_age
        return Names(names)

    def _read(self) -> dict[str, str]:
        names = {}
        for page in self._organizations.get_paginator("list_accounts").paginate():
            for account in page.get("Accounts", []):
                account_id, name = account.get("Id"), account.get("Name")
                if isinstance(account_id, str) and _ACCOUNT.fullmatch(account_id) and isinstance(name, str) and name:
                    names[account_id] = name[:NAME_MAX]
        return names
