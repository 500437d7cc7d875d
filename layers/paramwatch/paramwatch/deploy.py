"""Template parameters for an allowlist, written so that no shell or SAM CLI quoting can break them.

SAM CLI splits `--parameter-overrides` on spaces and unquotes `\\"`, `\\'` and `\\ ` in every value,
so a JSON allowlist pasted on the command line arrives as `[{`. paramwatch writes a parameter file
instead, for `sam deploy --parameter-overrides file://params.yaml` (SAM CLI 1.170 or later), and
encodes every quote, apostrophe and backslash inside JSON strings as `\\uXXXX`: the value then
survives SAM CLI's unquoting, the quoting `sam deploy --guided` applies when it saves the value to
samconfig.toml, and CloudFormation. `template_value` composes the stored document exactly as the
template's `!Sub` does, so the round trip can be checked before anything is deployed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from paramwatch.allowlist import Allowlist, AllowlistError, Grant, parse

PARAMETER_LIMIT = 4096
"""Bytes a CloudFormation parameter value may hold."""
STANDARD_LIMIT, ADVANCED_LIMIT = 4096, 8192
"""Bytes an SSM parameter value may hold in the Standard and Advanced tiers."""
_PREFIX_GLOB = re.compile(r"^(/[A-Za-z0-9_.\-/]*/)\*$")


def sam_safe_json(value: Any) -> str:
    """Compact JSON whose strings hold no quote, apostrophe or backslash except `\\uXXXX` escapes."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string(str(k))}:{sam_safe_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(sam_safe_json(v) for v in value) + "]"
    if isinstance(value, str):
        return _string(value)
    return json.dumps(value)


def _string(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if 0x20 <= code < 0x7F and char not in "\"'\\":
            out.append(char)
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return '"' + "".join(out) + '"'


def _grant_data(grant: Grant) -> dict[str, Any]:
    data = grant.model_dump(mode="json", exclude_defaults=True)
    if grant.hours is not None:
        data["hours"]["start"] = grant.hours.start.strftime("%H:%M")
        data["hours"]["end"] = grant.hours.end.strftime("%H:%M")
    return data


def template_value(grants: str, honeytoken_prefix: str, accounts: str = "{}") -> str:
    """The allowlist parameter's value as the template's `!Sub` composes it from the parameters."""
    honeytokens = f'["{honeytoken_prefix}*"]' if honeytoken_prefix else "[]"
    return f'{{"version":1,"grants":{grants},"honeytokens":{honeytokens},"accounts":{accounts}}}'


@dataclass
class DeployArgs:
    """The template parameters for one allowlist, and what the reader must know about them."""

    parameters: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def params_file(self, source: str) -> str:
        """A YAML parameter file for `--parameter-overrides file://...`."""
        header = (
            f"# Template parameters for the allowlist {source}, written by `paramwatch deploy-args`.\n"
            "# Deploy with: sam deploy --parameter-overrides file://params.yaml (SAM CLI 1.170 or later).\n"
            "# Regenerate it after every change to the allowlist; do not edit the JSON by hand.\n"
        )
        return header + yaml.safe_dump(self.parameters, sort_keys=False, width=2**31, allow_unicode=False)


def deploy_args(allowlist: Allowlist) -> DeployArgs:
    """Template parameters that store `allowlist`; AllowlistError when the template cannot carry it."""
    problems: list[str] = []
    notes: list[str] = []
    grants = sam_safe_json([_grant_data(g) for g in allowlist.grants])
    accounts = sam_safe_json(dict(allowlist.accounts))
    parameters = {"AllowlistGrants": grants}
    if allowlist.accounts:
        parameters["AllowlistAccounts"] = accounts
    prefix = ""
    prefixes = [m.group(1) for h in allowlist.honeytokens if (m := _PREFIX_GLOB.match(h))]
    if len(allowlist.honeytokens) == 1 and len(prefixes) == 1:
        prefix = prefixes[0]
        parameters["HoneytokenPrefix"] = prefix
    elif allowlist.honeytokens:
        problems.append(
            f"honeytokens {', '.join(allowlist.honeytokens)}: the template sets one prefix glob (/decoy/*); "
            "store an allowlist with several with put-parameter after the deploy (README, 'Tuning the allowlist')"
        )
    else:
        notes.append("the allowlist names no honeytoken: the stack keeps its HoneytokenPrefix (default /decoy/)")
    for name, value in parameters.items():
        size = len(value.encode())
        if size > PARAMETER_LIMIT:
            problems.append(
                f"{name} is {size:,} bytes; a CloudFormation parameter value holds at most {PARAMETER_LIMIT:,}. "
                "Deploy without it and store the allowlist with put-parameter (README, 'Larger allowlists')"
            )
    stored = template_value(grants, prefix, accounts)
    size = len(stored.encode())
    if size > ADVANCED_LIMIT:
        problems.append(f"the stored allowlist would be {size:,} bytes; SSM holds at most {ADVANCED_LIMIT:,}")
    elif size > STANDARD_LIMIT:
        parameters["AllowlistTier"] = "Advanced"
        notes.append(f"the stored allowlist is {size:,} bytes, over the Standard tier's 4 KB: AllowlistTier Advanced")
    if problems:
        raise AllowlistError(problems)
    _check_round_trip(allowlist, stored)
    return DeployArgs(parameters, notes)


def _check_round_trip(allowlist: Allowlist, stored: str) -> None:
    """The document the template will store must validate and mean the same as the input."""
    parsed = parse(stored)
    if parsed.grants != allowlist.grants or dict(parsed.accounts) != dict(allowlist.accounts):
        raise AllowlistError(["(deploy-args): the template's document would not mean the same; please report this"])
