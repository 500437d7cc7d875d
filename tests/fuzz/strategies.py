"""Hypothesis strategies for hostile CloudTrail records: mutations of the sample cases, and noise."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from support import CASES, load_case

BASES = [load_case(p)["record"] for p in CASES]
IDENTITY_TYPES = [
    "IAMUser",
    "AssumedRole",
    "Root",
    "AWSService",
    "AWSAccount",
    "FederatedUser",
    "IdentityCenterUser",
    "WebIdentityUser",
    "SAMLUser",
    "Unknown",
    None,
    42,
]
BIG = "A" * 300_000
HOSTILE_TEXT = st.one_of(
    st.text(max_size=64),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp", "So"]), max_size=32),
    st.sampled_from(
        [
            "HIDDEN_DUE_TO_SECURITY_REASONS",
            '\n{"level":"ERROR","message":"forged"}',
            "<script>alert(1)</script>",
            "<!here> *RESOLVED* `test` [alert](https://x) ~no~ |action|",
            "/orders/<!channel>*x*",
            "arn:aws:iam::111122223333:role/<b>*evil*</b>",
            "\u202eevil\u202c",
            "arn:aws:ssm:us-east-1:111122223333:parameter/decoy/x:7",
            "/decoy/x",
            "*",
            "",
            BIG,
        ]
    ),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), HOSTILE_TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
PATHS = [
    ("eventID",),
    ("eventTime",),
    ("eventSource",),
    ("eventName",),
    ("sourceIPAddress",),
    ("userAgent",),
    ("errorCode",),
    ("vpcEndpointId",),
    ("recipientAccountId",),
    ("requestParameters",),
    ("requestParameters", "name"),
    ("requestParameters", "names"),
    ("requestParameters", "path"),
    ("requestParameters", "withDecryption"),
    ("requestParameters", "encryptionContext"),
    ("requestParameters", "encryptionContext", "PARAMETER_ARN"),
    ("userIdentity",),
    ("userIdentity", "type"),
    ("userIdentity", "arn"),
    ("userIdentity", "accountId"),
    ("userIdentity", "invokedBy"),
    ("userIdentity", "sessionContext"),
    ("userIdentity", "sessionContext", "sessionIssuer"),
    ("userIdentity", "sessionContext", "sessionIssuer", "arn"),
]


def _apply(record: dict, path: tuple[str, ...], action: str, value: Any) -> None:
    node: Any = record
    for key in path[:-1]:
        if not isinstance(node, dict):
            return
        node = node.setdefault(key, {})
    if not isinstance(node, dict):
        return
    if action == "delete":
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


@st.composite
def mutated_records(draw: st.DrawFn) -> Any:
    """A sample case with a few fields deleted, nulled, retyped or filled with hostile text."""
    record = copy.deepcopy(draw(st.sampled_from(BASES)))
    if draw(st.booleans()):
        identity = record.setdefault("userIdentity", {})
        if isinstance(identity, dict):
            identity["type"] = draw(st.sampled_from(IDENTITY_TYPES))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(PATHS))
        action = draw(st.sampled_from(["delete", "null", "set"]))
        value = None if action == "null" else draw(JSON)
        _apply(record, path, action, value)
    return record


def any_records() -> st.SearchStrategy[Any]:
    """Mutated cases most of the time, arbitrary JSON some of the time."""
    return st.one_of(mutated_records(), mutated_records(), mutated_records(), JSON)
