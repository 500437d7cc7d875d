"""Fixtures for the template tests; the helpers live in `sam_template` (a unique module name, so
that `tests/handler` and `tests/template` can be collected together in any order)."""

from sam_template import deployed_patterns, monkeypatch_session, translated

__all__ = ["deployed_patterns", "monkeypatch_session", "translated"]
