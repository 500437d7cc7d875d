"""The first-seen baseline: which principal has read which parameter, saved between replays,
and grants proposed from it for a person to review.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from paramwatch.detector import PAIR_PREFIX, Tuning, remember_pairs
from paramwatch.findings import Rule
from paramwatch.state import Claim, MemoryState

BASELINE_OWNER = "baseline"
PEAK_PREFIX = "bulkpeak#"
HEADROOM = 1.5
"""A proposed per-grant bulk threshold is the peak seen plus half again: a release train that grows
a little does not page, a sweep of everything still does."""


def bulk_peaks(state: MemoryState) -> dict[str, int]:
    """The most distinct parameters each principal decrypted in one bulk window, as the detector
    counted them (its window sets), merged with the peaks of a baseline loaded earlier."""
    peaks: dict[str, int] = {}
    for key, claim in state.claims.items():
        if key.startswith(PEAK_PREFIX):
            peaks[key[len(PEAK_PREFIX) :]] = int(claim.note.get("peak", 0))
    prefix = f"{Rule.BULK}#"
    for key, members in state.sets.items():
        if key.startswith(prefix):
            principal = key[len(prefix) :].rsplit("#", 2)[0].split("#grant:", 1)[0]
            peaks[principal] = max(peaks.get(principal, 0), len(members))
    return peaks


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


def save(state: MemoryState, path: Path, tuning: Tuning | None = None) -> int:
    """Write the baseline file (pairs, and each principal's bulk peak); return how many pairs."""
    tuning = tuning or Tuning()
    pairs = export_pairs(state)
    bulk = {
        "window_minutes": tuning.bulk_window_minutes,
        "threshold": tuning.bulk_threshold,
        "peaks": dict(sorted(bulk_peaks(state).items())),
    }
    path.write_text(json.dumps({"version": 1, "pairs": pairs, "bulk": bulk}, indent=1) + "\n")
    return len(pairs)


def load(path: Path, state: MemoryState) -> int:
    """Seed `state` with a baseline file's pairs; return how many. ValueError names the file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a paramwatch baseline (not JSON: {exc})") from None
    pairs = document.get("pairs") if isinstance(document, dict) else None
    if not isinstance(pairs, list):
        raise ValueError(f"{path}: not a paramwatch baseline (no 'pairs' list)")
    for index, pair in enumerate(pairs):
        if not (
            isinstance(pair, dict) and isinstance(pair.get("principal"), str) and isinstance(pair.get("parameter"), str)
        ):
            raise ValueError(f"{path}: pairs[{index}] needs a 'principal' and a 'parameter' string")
        scope = f"{pair.get('account', '')}:{pair.get('region', '')}"
        key = f"{PAIR_PREFIX}{pair['principal']}#{scope}#{pair['parameter']}"
        state.claims[key] = Claim(BASELINE_OWNER, {"time": str(pair.get("first_seen", ""))})
        remember_pairs(state, pair["principal"], [f"{scope}{pair['parameter']}"], math.inf)
    for principal, peak in bulk_settings(document)["peaks"].items():
        if isinstance(peak, bool) or not isinstance(peak, int | float) or not 0 <= peak < 10**9:
            raise ValueError(f"{path}: bulk.peaks[{principal!r}] must be a number of parameters")
        state.claims[f"{PEAK_PREFIX}{principal}"] = Claim(BASELINE_OWNER, {"peak": str(int(peak))})
    return len(pairs)


def bulk_settings(document: Any) -> dict[str, Any]:
    """The `bulk` part of a baseline document; an older baseline without one has no peaks."""
    bulk = document.get("bulk") if isinstance(document, dict) else None
    defaults = Tuning()
    if not isinstance(bulk, dict) or not isinstance(bulk.get("peaks"), dict):
        return {"window_minutes": defaults.bulk_window_minutes, "threshold": defaults.bulk_threshold, "peaks": {}}
    for key, default in (("window_minutes", defaults.bulk_window_minutes), ("threshold", defaults.bulk_threshold)):
        value = bulk.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**6:
            raise ValueError(f"baseline: bulk.{key} must be a whole number from 1 to 1000000")
    return {"window_minutes": defaults.bulk_window_minutes, "threshold": defaults.bulk_threshold, **bulk}


def _generalize(parameters: list[str]) -> list[str]:
    """Group names by parent path: two or more siblings become `parent/*`."""
    by_parent: dict[str, list[str]] = defaultdict(list)
    for name in parameters:
        by_parent[name.rsplit("/", 1)[0]].append(name)
    out = []
    for parent, names in sorted(by_parent.items()):
        out += [f"{parent}/*"] if len(names) > 1 and parent else sorted(names)
    return out


def proposed_threshold(peak: int, threshold: int) -> int | None:
    """A grant's own bulk threshold from the peak seen, when the global one would page on it."""
    proposal = math.ceil(peak * HEADROOM)
    return proposal if peak > threshold or proposal > threshold else None


def suggest(
    pairs: list[dict[str, Any]], bulk: dict[str, Any] | None = None, honeytokens: list[str] | None = None
) -> str:
    """A YAML allowlist proposing one grant per principal, for a person to review.

    A principal whose peak of distinct parameters in one bulk window comes near the global
    threshold gets a `bulk_threshold` of that peak plus half again, with the window it was seen in.
    Honeytokens are carried over from the current allowlist (else the template's default prefix),
    so that replaying with the proposal still treats a decoy read as critical.
    """
    bulk = bulk or {"peaks": {}}
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
        grant: dict[str, Any] = {
            "name": name,
            "principals": [_grantable(principal)],
            "parameters": _generalize(parameters),
        }
        peak = int(bulk["peaks"].get(principal, 0))
        own = proposed_threshold(peak, int(bulk.get("threshold", Tuning().bulk_threshold))) if peak else None
        if own is not None:
            grant.update(bulk_threshold=own, bulk_window_minutes=int(bulk["window_minutes"]))
        grants.append(grant)
    header = (
        "# Proposed by `paramwatch suggest-allowlist` from observed reads. Review every grant:\n"
        "# observed is not the same as intended. Add source_cidrs/vpc_endpoints/hours where you can.\n"
        f"# bulk_threshold, where proposed, is the peak of distinct parameters seen in one window x{HEADROOM}.\n"
    )
    if honeytokens is None:
        honeytokens = ["/decoy/*"]
        header += "# honeytokens: the template's default prefix; pass --allowlist to carry over your own.\n"
    else:
        header += "# honeytokens: carried over from the current allowlist.\n"
    document = {"version": 1, "grants": grants, "honeytokens": honeytokens}
    return header + yaml.safe_dump(document, sort_keys=False)


def _grantable(who: str) -> str:
    """A principal as a grant names it: a service remembered per account (`ACCOUNT:svc`) is `svc`."""
    return who if who.startswith("arn:") else who.split(":", 1)[-1]
