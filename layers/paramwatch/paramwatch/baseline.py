"""The first-seen baseline: which principal has read which parameter, saved between replays,
and grants proposed from it for a person to review.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from paramwatch.detector import PAIR_PREFIX
from paramwatch.state import Claim, MemoryState

BASELINE_OWNER = "baseline"


def export_pairs(state: MemoryState) -> list[dict[str, str]]:
    """The (principal, parameter) pairs the state has seen, sorted."""
    pairs = []
    for key, claim in state.claims.items():
        if key.startswith(PAIR_PREFIX):
            principal, scope, parameter = key[len(PAIR_PREFIX) :].rsplit("#", 2)
            account, _, region = scope.partition(":")
            pairs.append(
                {
                    "principal": principal,
                    "parameter": parameter,
                    "account": account,
                    "region": region,
                    "first_seen": claim.note.get("time", ""),
                }
            )
    return sorted(pairs, key=lambda p: (p["principal"], p["account"], p["region"], p["parameter"]))


def save(state: MemoryState, path: Path) -> int:
    """Write the baseline file; return how many pairs it holds."""
    pairs = export_pairs(state)
    path.write_text(json.dumps({"version": 1, "pairs": pairs}, indent=1) + "\n")
    return len(pairs)


def load(path: Path, state: MemoryState) -> int:
    """Seed `state` with a baseline file's pairs; return how many."""
    document = json.loads(path.read_text())
    pairs = document.get("pairs") if isinstance(document, dict) else None
    if not isinstance(pairs, list):
        raise ValueError(f"{path}: not a paramwatch baseline (no 'pairs' list)")
    for pair in pairs:
        scope = f"{pair.get('account', '')}:{pair.get('region', '')}"
        key = f"{PAIR_PREFIX}{pair['principal']}#{scope}#{pair['parameter']}"
        state.claims[key] = Claim(BASELINE_OWNER, {"time": str(pair.get("first_seen", ""))})
    return len(pairs)


def _generalize(parameters: list[str]) -> list[str]:
    """Group names by parent path: two or more siblings become `parent/*`."""
    by_parent: dict[str, list[str]] = defaultdict(list)
    for name in parameters:
        by_parent[name.rsplit("/", 1)[0]].append(name)
    out = []
    for parent, names in sorted(by_parent.items()):
        out += [f"{parent}/*"] if len(names) > 1 and parent else sorted(names)
    return out


def suggest(pairs: list[dict[str, Any]]) -> str:
    """A YAML allowlist proposing one grant per principal, for a person to review."""
    by_principal: dict[str, list[str]] = defaultdict(list)
    for pair in pairs:
        by_principal[pair["principal"]].append(pair["parameter"])
    grants = []
    used: set[str] = set()
    for principal, parameters in sorted(by_principal.items()):
        name = principal.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or "grant"
        while name in used:
            name += "-2"
        used.add(name)
        grants.append({"name": name, "principals": [_grantable(principal)], "parameters": _generalize(parameters)})
    header = (
        "# Proposed by `paramwatch suggest-allowlist` from observed reads. Review every grant:\n"
        "# observed is not the same as intended. Add source_cidrs/vpc_endpoints/hours where you can.\n"
    )
    return header + yaml.safe_dump({"version": 1, "grants": grants, "honeytokens": []}, sort_keys=False)


def _grantable(who: str) -> str:
    """A principal as a grant names it: a service remembered per account (`ACCOUNT:svc`) is `svc`."""
    return who if who.startswith("arn:") else who.split(":", 1)[-1]
