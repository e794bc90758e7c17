"""Fixtures of the interaction tests: the doubles of tests/knowledge are shared."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "knowledge"))

from _kie_doubles import isolated_cache_dir, signal, small_data, tiny_gguf  # noqa: E402, F401
