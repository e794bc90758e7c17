"""Fixtures of the knowledge tests (shared with tests/interaction via _kie_doubles)."""

from _kie_doubles import isolated_cache_dir, signal, small_data, tiny_gguf  # noqa: F401
