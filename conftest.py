"""Keep the whole test session (tests/ and the doctests in skllmers/) hermetic.

Every LLM/encoder cache and data home points into a temporary folder, so a test run
never reads results cached by an earlier run nor writes into the user's home.

Tests that need a real instruction-tuned LLM take the ``smollm2_path`` fixture:
SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB), put on the machine from a PyPI package by the
``get-llm`` script of the shared folder beside the checkout (``make test`` runs it first).
Without it those tests are skipped with the reason.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session", autouse=True)
def _hermetic_cache_and_data_home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SKLLMERS_CACHE_DIR", str(tmp_path_factory.mktemp("skllmers-cache")))
        patch.setenv("SKLLMERS_DATA", str(tmp_path_factory.mktemp("skllmers-data")))
        yield


def _models_dir() -> Path:
    return Path(os.environ.get("SKLLMERS_MODELS", Path.home() / ".cache/skllmers/models"))


def _get_llm_script() -> Path | None:
    configured = os.environ.get("SKLLMERS_GET_LLM")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(__file__).resolve().parent.parent / "shared/models/get-llm")
    return next((path for path in candidates if path.is_file()), None)


def real_llm_path(name: str, filename: str) -> Path:
    """Path of a real GGUF model, fetched with ``get-llm NAME`` when it is missing.

    Skips the calling test, with the reason, when the model cannot be had.
    """
    cached = _models_dir() / filename
    if cached.is_file():
        return cached
    script = _get_llm_script()
    if script is None:
        pytest.skip(f"{filename} is not in {_models_dir()} and no get-llm script was found "
                    "(set SKLLMERS_GET_LLM to its path, or run `make models`).")
    bash = shutil.which("bash") or "/bin/bash"
    result = subprocess.run([bash, str(script), name], capture_output=True, text=True,
                            timeout=900)
    if result.returncode != 0:
        pytest.skip(f"`get-llm {name}` failed: {result.stderr.strip()[-500:]}")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def smollm2_path():
    """SmolLM2-135M-Instruct (GGUF, Q4_1): a real instruct model with a chat template."""
    return real_llm_path("smollm2", SMOLLM2_FILE)
