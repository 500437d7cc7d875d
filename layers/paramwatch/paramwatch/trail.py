"""Does a trail's event-selector configuration still record what paramwatch needs?

paramwatch sees an SSM read only if a logging trail records read-only management events, and the
Decrypt SSM makes for it only if KMS events are not excluded. Tamper detection needs the write
management events. The same check runs on a `PutEventSelectors` request (the tamper rule) and on
`GetEventSelectors`' answer (`paramwatch doctor`); keys may be camelCase (CloudTrail records) or
PascalCase (API answers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KMS = "kms.amazonaws.com"


@dataclass(frozen=True, slots=True)
class Need:
    """A management event paramwatch must see, and what missing it costs."""

    source: str
    name: str
    read_only: bool
    loss: str


NEEDS = (
    Need(
        "ssm.amazonaws.com",
        "GetParameter",
        True,
        "read-only management events (GetParameter and the other reads: paramwatch sees none)",
    ),
    Need(KMS, "Decrypt", True, "KMS events (kms.amazonaws.com: no Decrypt side, no direct decrypts)"),
    Need(
        "cloudtrail.amazonaws.com",
        "StopLogging",
        False,
        "write management events (tamper detection goes blind)",
    ),
)


def _key(mapping: Mapping[str, Any], name: str) -> Any:
    """A field in camelCase or PascalCase."""
    if name in mapping:
        return mapping[name]
    return mapping.get(name[0].upper() + name[1:])


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _basic_records(selector: Mapping[str, Any], need: Need) -> bool:
    include = _key(selector, "includeManagementEvents")
    if include is False:
        return False
    kind = _key(selector, "readWriteType") or "All"
    if kind == ("WriteOnly" if need.read_only else "ReadOnly"):
        return False
    return need.source not in _strings(_key(selector, "excludeManagementEventSources"))


def _field_matches(condition: Mapping[str, Any], value: str) -> bool:
    tests = {
        "equals": lambda vs: value in vs,
        "notEquals": lambda vs: value not in vs,
        "startsWith": lambda vs: any(value.startswith(v) for v in vs),
        "notStartsWith": lambda vs: not any(value.startswith(v) for v in vs),
        "endsWith": lambda vs: any(value.endswith(v) for v in vs),
        "notEndsWith": lambda vs: not any(value.endswith(v) for v in vs),
    }
    for operator, test in tests.items():
        values = _key(condition, operator)
        if values is not None and not test(_strings(values)):
            return False
    return True


def _advanced_records(selector: Mapping[str, Any], need: Need) -> bool:
    """All field conditions of one advanced selector hold for the needed event.

    A field that a management event does not have (resources.type, ...) makes the selector one
    for data events, which records none of what paramwatch needs.
    """
    point = {
        "eventCategory": "Management",
        "readOnly": "true" if need.read_only else "false",
        "eventSource": need.source,
        "eventName": need.name,
    }
    conditions = _key(selector, "fieldSelectors")
    if not isinstance(conditions, list):
        return False
    for condition in conditions:
        if not isinstance(condition, Mapping):
            return False
        field = _key(condition, "field")
        if field not in point or not _field_matches(condition, point[field]):
            return False
    return True


def gaps(event_selectors: Any = None, advanced_event_selectors: Any = None) -> list[str]:
    """What paramwatch would no longer see under this configuration; empty when it sees everything.

    Pass the basic selectors, the advanced ones, or neither (a trail without selectors records all
    management events); an empty list of advanced selectors next to basic ones is absent
    (GetEventSelectors may answer both). Selectors of one kind are alternatives: an event is
    recorded when any selector records it.
    """
    if advanced_event_selectors or (advanced_event_selectors is not None and event_selectors is None):
        selectors, records = advanced_event_selectors, _advanced_records
    elif event_selectors is not None:
        selectors, records = event_selectors, _basic_records
    else:
        return []
    if not isinstance(selectors, list):
        return ["the selectors cannot be read"]
    usable = [s for s in selectors if isinstance(s, Mapping)]
    return [need.loss for need in NEEDS if not any(records(s, need) for s in usable)]
