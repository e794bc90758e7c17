"""Fixtures of the knowledge tests (shared with tests/interaction via _kie_doubles)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # any --import-mode finds the doubles

from _kie_doubles import isolated_cache_dir, signal, small_data, tiny_gguf  # noqa: E402, F401
