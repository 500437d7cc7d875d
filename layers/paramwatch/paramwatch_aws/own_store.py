"""paramwatch's own resources as the evaluator knows them: its settings, plus its rules, alarms, dead-letter
queue and event source mapping.

The rules target the evaluator, so its settings cannot name them (that would be a dependency
cycle), and CloudFormation generates their names. The same deploy writes them into a String
parameter, `/paramwatch/<stack>/resources`, which this store reads once per cache period. Until it
can be read (the first seconds of the first deploy), the settings alone serve: tamper rules on the
trail, functions, topics, key and allowlist work, and those on the rules wait.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from paramwatch.own import Own, with_member_rules
from paramwatch.settings import Settings


def _names(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str) and v) if isinstance(value, list) else ()


@dataclass
class OwnStore:
    """The stack's own resources, refreshed every `max_age` seconds; `clock` is injectable for tests."""

    ssm: Any
    settings: Settings
    max_age: float
    clock: Any = time.monotonic
    _cached: Own | None = field(default=None, init=False)
    _fetched: float = field(default=0.0, init=False)

    def get(self) -> Own:
        """Settings' resources with the rule names from the resources parameter, when it is readable."""
        now = self.clock()
        if self._cached is not None and now - self._fetched < self.max_age:
            return self._cached
        own = self.settings.own
        name = self.settings.resources_parameter
        if name:
            try:
                data = json.loads(self.ssm.get_parameter(Name=name)["Parameter"]["Value"])
            except (ClientError, ValueError, KeyError):
                data = {}
            if isinstance(data, dict):
                read_rules = _names(data.get("read_rules"))
                rules = read_rules + _names(data.get("rules"))
                own = replace(
                    own,
                    read_rules=read_rules,
                    rules=rules,
                    alarms=_names(data.get("alarms")),
                    queues=own.queues + _names(data.get("queues")),
                    mappings=_names(data.get("mappings")),
                )
        own = with_member_rules(own, self.settings.member_rule_prefix)
        self._cached, self._fetched = own, now
        return own
