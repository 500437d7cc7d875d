"""Make attacker-controlled text safe to show.

`userAgent`, parameter names and session names are chosen by whoever makes the call. Before they
reach a log line, an e-mail or a chat message they are escaped so that they cannot start a new
line, hide behind bidi or other invisible characters, or open markup (`<`, `*`, `` ` ``, `[`).
The escaping is JSON's `\\uXXXX`, so it is reversible and a reader can still see what was sent.
"""

from __future__ import annotations

import json
import unicodedata

_MARKUP = frozenset('<>&`*~|[]"\\')
_LIMIT = 512


def _needs_escape(char: str) -> bool:
    if char in _MARKUP:
        return True
    if not char.isascii():
        return True
    return unicodedata.category(char)[0] == "C"


def _escape_char(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char == '"':
        return '\\"'
    return json.dumps(char, ensure_ascii=True)[1:-1] if ord(char) > 0x7F else f"\\u{ord(char):04x}"


def safe(text: object, limit: int = _LIMIT) -> str:
    """Escape `text` to printable ASCII with no markup, cut to about `limit` characters."""
    raw = str(text)
    cut = len(raw) > limit
    out = "".join(_escape_char(c) if _needs_escape(c) else c for c in raw[:limit])
    return out + ("...(cut)" if cut else "")


def unescape(text: str) -> str:
    """Reverse `safe()` for text that was not cut; used by tests and by readers of alerts."""
    return json.loads(f'"{text}"')


def ascii_line(text: str, limit: int) -> str:
    """One line of printable ASCII no longer than `limit`, for SNS subjects."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."
