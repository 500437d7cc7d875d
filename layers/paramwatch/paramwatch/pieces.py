"""An allowlist in pieces: the stack's main document plus one piece per team, merged into one.

Each piece is a whole allowlist document, valid on its own, so a team can check its piece alone.
The merge fails closed: a grant name defined in two pieces is an error naming both, because a
silent choice between them would let one team's piece shadow another's. The same merge serves
the evaluator (pieces from SSM) and the command line (pieces from files), with the same errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from paramwatch.allowlist import Allowlist, AllowlistError, parse

PIECE_SUFFIXES = (".yaml", ".yml", ".json")
_PIECE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


@dataclass(frozen=True, slots=True)
class Piece:
    """One allowlist document and where it came from (a file path or an SSM parameter name)."""

    source: str
    text: str


@dataclass(frozen=True, slots=True)
class Merged:
    """The merged allowlist, and which piece each grant came from (for alerts and reviews)."""

    allowlist: Allowlist
    origins: dict[str, str]


def merge(pieces: Sequence[Piece]) -> Allowlist:
    """Validate every piece, then merge; AllowlistError names each bad field and each conflict."""
    return merge_with_origins(tuple(pieces)).allowlist


@lru_cache(maxsize=8)
def merge_with_origins(pieces: tuple[Piece, ...]) -> Merged:
    """`merge`, keeping each grant's piece. Cached: a warm Lambda merges each set of versions once."""
    if not pieces:
        raise AllowlistError(["(allowlist): no allowlist document given"])
    problems: list[str] = []
    parsed: list[tuple[str, Allowlist]] = []
    for piece in pieces:
        try:
            parsed.append((piece.source, parse(piece.text)))
        except AllowlistError as exc:
            problems += [f"{piece.source}: {p}" for p in exc.problems]
    origins: dict[str, str] = {}
    names: dict[str, tuple[str, str]] = {}
    for source, allowlist in parsed:
        for grant in allowlist.grants:
            if grant.name in origins:
                problems.append(f"{source}: grant name {grant.name!r} is also defined in {origins[grant.name]}")
            else:
                origins[grant.name] = source
        for account, name in allowlist.accounts.items():
            known = names.setdefault(account, (name, source))
            if known[0] != name:
                problems.append(f"{source}: account {account} is named {name!r} here but {known[0]!r} in {known[1]}")
    if problems:
        raise AllowlistError(problems)
    if len(parsed) == 1:
        return Merged(parsed[0][1], origins)
    merged = Allowlist(
        version=1,
        grants=[grant for _, allowlist in parsed for grant in allowlist.grants],
        honeytokens=list(dict.fromkeys(h for _, allowlist in parsed for h in allowlist.honeytokens)),
        accounts={account: name for account, (name, _) in names.items()},
        # judging public parameters is the stricter choice: one piece asking for it is enough
        judge_public_parameters=any(allowlist.judge_public_parameters for _, allowlist in parsed),
    )
    return Merged(merged, origins)


def file_pieces(paths: Iterable[str | Path]) -> list[Piece]:
    """Read each file, and each `*.yaml`/`*.yml`/`*.json` of each directory (sorted), as a piece."""
    pieces: list[Piece] = []
    problems: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in PIECE_SUFFIXES and p.is_file())
            if not found:
                problems.append(f"{path}: directory holds no *.yaml, *.yml or *.json allowlist piece")
        else:
            found = [path]
        for file in found:
            try:
                pieces.append(Piece(str(file), file.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{file}: cannot read: {exc}")
    if problems:
        raise AllowlistError(problems)
    return pieces


def load_files(paths: Iterable[str | Path]) -> Merged:
    """Read and merge allowlist files and directories, as `--allowlist` gives them."""
    return merge_with_origins(tuple(file_pieces(paths)))


def push_plan(
    directory: Path, grants_path: str, main: Piece | None, stored: Mapping[str, str]
) -> list[tuple[str, str]]:
    """The (parameter name, JSON value) to write for each piece file in `directory`.

    Every piece is validated, and merged with the stack's main allowlist and the pieces already
    stored that this push does not replace, exactly as the evaluator will merge them. Any problem
    raises AllowlistError before anything is written.
    """
    if not directory.is_dir():
        raise AllowlistError([f"{directory}: not a directory of allowlist pieces"])
    files = file_pieces([directory])
    problems = []
    plan: list[tuple[str, str]] = []
    for piece in files:
        stem = Path(piece.source).stem
        if not _PIECE_NAME.fullmatch(stem):
            problems.append(f"{piece.source}: file name {stem!r} cannot name a parameter (use A-Z a-z 0-9 _ . -)")
            continue
        plan.append((f"{grants_path}/{stem}", piece.text))
    names = [name for name, _ in plan]
    for name in {n for n in names if names.count(n) > 1}:
        problems.append(f"{directory}: two files would both be written to {name}")
    if problems:
        raise AllowlistError(problems)
    kept = [Piece(name, text) for name, text in sorted(stored.items()) if name not in names]
    merge_with_origins(tuple(([main] if main else []) + kept + files))
    return [(name, _compact(text)) for name, text in plan]


def _compact(text: str) -> str:
    """A valid piece as one line of JSON, so that the evaluator never needs a YAML parser."""
    import yaml  # JSON is YAML: one parser reads both kinds of piece

    return json.dumps(yaml.safe_load(text), separators=(",", ":"), default=str)
