"""Parameter names and IAM-style globs.

CloudTrail names the same parameter in several spellings (plain, full ARN, with a version or label
selector). Judging them consistently needs one canonical spelling, the way IAM policies see it.
"""

from __future__ import annotations

import re
from functools import lru_cache

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
SECRETS_MANAGER_PREFIX = "/aws/reference/secretsmanager/"
PUBLIC_PREFIX = "/aws/service/"


class ParameterNameError(ValueError):
    """A parameter name that cannot be turned into a canonical name."""


def canonical_name(raw: str) -> str:
    """Return the canonical name: leading slash, no ARN prefix, no `:version`/`:label` selector.

    `foo` and `/foo` share one ARN (`...:parameter/foo`), so IAM cannot tell them apart and neither
    do we. Parameter names cannot contain `:`, so everything after the first `:` is a selector.
    """
    if raw.startswith("arn:"):
        parts = raw.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("parameter/"):
            raise ParameterNameError(f"not an SSM parameter ARN: {raw!r}")
        raw = parts[5][len("parameter") :]
    name = raw.split(":", 1)[0]
    if not name or name == "/":
        raise ParameterNameError(f"empty parameter name in {raw!r}")
    return name if name.startswith("/") else "/" + name


def owner_of(raw: str) -> tuple[str, str, str] | None:
    """(partition, region, account) of a parameter named by ARN; None for a plain name."""
    if not raw.startswith("arn:"):
        return None
    parts = raw.split(":", 5)
    return (parts[1], parts[3], parts[4]) if len(parts) == 6 else None


def parameter_arn(name: str, partition: str, region: str, account: str) -> str:
    """The ARN of a canonical name, the form grants written as ARN patterns are matched against."""
    return f"arn:{partition}:ssm:{region}:{account}:parameter{name}"


def is_arn_pattern(pattern: str) -> bool:
    """True for a grant pattern written as an ARN: it names the parameter's account and region."""
    return pattern.startswith("arn:")


def canonical_pattern(pattern: str) -> str:
    """Canonical form of an allowlist glob, so that `orders/*` and `/orders/*` mean the same.

    An ARN pattern is kept whole: it names the parameter's account and region.
    """
    if is_arn_pattern(pattern):
        return pattern
    if pattern.startswith(("/", "*", "?")):
        return pattern
    return "/" + pattern


def is_secrets_manager_reference(name: str) -> bool:
    """True when an SSM read of `name` returns a Secrets Manager secret instead of a parameter."""
    return name.startswith(SECRETS_MANAGER_PREFIX)


def is_public_parameter(name: str) -> bool:
    """True for AWS's public parameters (`/aws/service/...`: AMI IDs, regions, service endpoints).

    They are String parameters that every account can read (their ARNs carry no account:
    `arn:aws:ssm:REGION::parameter/aws/service/...`), so reading one exposes no secret, even with
    decryption, which Terraform's `aws_ssm_parameter` data source requests by default.
    """
    return name == PUBLIC_PREFIX.rstrip("/") or name.startswith(PUBLIC_PREFIX)


@lru_cache(maxsize=4096)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile an IAM glob: `*` is any run of characters (`/` included), `?` is one character."""
    out = []
    for char in pattern:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL)


def glob_match(pattern: str, value: str) -> bool:
    """Case-sensitive full match of `value` against an IAM glob."""
    return glob_regex(pattern).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def principal_regex(pattern: str) -> re.Pattern[str]:
    """Compile a principal glob. In an ARN's account field a wildcard stays inside that field.

    `arn:aws:iam::*:role/platform/backup` names that role in every account: its `*` matches one
    account ID and never crosses `:` or `/`, so it cannot reach into a role path (IAM paths may
    hold `:`). The other fields keep IAM semantics.
    """
    parts = pattern.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not any(c in parts[4] for c in "*?"):
        return glob_regex(pattern)
    account = "".join("[^:/]*" if c == "*" else "[^:/]" if c == "?" else re.escape(c) for c in parts[4])
    head = ":".join(glob_regex(p).pattern for p in parts[:4])
    return re.compile(f"{head}:{account}:{glob_regex(parts[5]).pattern}", re.DOTALL)


def principal_match(pattern: str, arn: str) -> bool:
    """Case-sensitive full match of a principal ARN against a principal glob."""
    return principal_regex(pattern).fullmatch(arn) is not None


def arn_account(arn: str | None) -> str | None:
    """The account field of an ARN, or None for anything else (a service name)."""
    parts = (arn or "").split(":", 5)
    return parts[4] or None if len(parts) == 6 and parts[0] == "arn" else None


def covers_subtree(pattern: str, path: str) -> bool:
    """True when `pattern` matches every name that `GetParametersByPath(path)` could return.

    A glob matches all names under `path/` exactly when the glob ends in `*` and the part before
    that `*` matches some prefix of `path/`. Anything else is treated as not covering (fail closed).
    """
    if not pattern.endswith("*"):
        return False
    head = glob_regex(pattern[:-1])
    base = path.rstrip("/") + "/"
    return any(head.fullmatch(base[:i]) for i in range(len(base) + 1))


def literal_prefix(pattern: str) -> str:
    """The part of a glob before its first wildcard."""
    cut = [i for i in (pattern.find("*"), pattern.find("?")) if i >= 0]
    return pattern[: min(cut)] if cut else pattern


def subtree_may_hold(pattern: str, path: str, *, recursive: bool) -> bool:
    """True when some name matching `pattern` could be returned by `GetParametersByPath(path)`."""
    base = path.rstrip("/") + "/"
    head = literal_prefix(pattern)
    if head.startswith(base):
        rest = head[len(base) :]
        return recursive or "/" not in rest
    return head != pattern and base.startswith(head)
