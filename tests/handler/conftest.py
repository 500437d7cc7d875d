"""Fixtures for the handler tests; the helpers live in `harness` (a unique module name, so that
`tests/handler` and `tests/template` can be collected together in any order)."""

from harness import app, aws, held, stack

__all__ = ["app", "aws", "held", "stack"]
