"""Exact outputs of the escaping, character class by character class, and its limits at their edges."""

from __future__ import annotations

import pytest

from paramwatch.escape import ascii_line, safe, unescape


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain /orders/db-1_x.y", "plain /orders/db-1_x.y"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("`", "\\u0060"),
        ("*", "\\u002a"),
        ("~", "\\u007e"),
        ("|", "\\u007c"),
        ("[", "\\u005b"),
        ("]", "\\u005d"),
        ('"', '\\"'),
        ("\\", "\\\\"),
        ("\n", "\\u000a"),
        ("\x7f", "\\u007f"),
        ("\u00e9", "\\u00e9"),
        ("\u202e", "\\u202e"),
        ("\U0001f600", "\\ud83d\\ude00"),
    ],
)
def test_each_character_class_is_escaped_exactly(raw: str, escaped: str) -> None:
    assert safe(raw) == escaped
    assert unescape(escaped) == raw


def test_safe_cuts_after_the_limit_and_says_so() -> None:
    assert safe("a" * 5, 5) == "aaaaa"
    assert safe("a" * 6, 5) == "aaaaa...(cut)"
    assert safe("a" * 512) == "a" * 512
    assert safe("a" * 513) == "a" * 512 + "...(cut)"
    assert safe(None) == "None" and safe(42) == "42"


def test_ascii_line_replaces_what_is_not_printable_ascii_and_cuts() -> None:
    assert ascii_line(" ~ok~ ", 10) == " ~ok~ "
    assert ascii_line("a\nb\x7f\u00e9", 10) == "a?b??"
    assert ascii_line("x" * 10, 10) == "x" * 10
    assert ascii_line("x" * 11, 10) == "x" * 7 + "..."
