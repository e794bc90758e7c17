"""SentenceEncoder with the packaged all-MiniLM-L6-v2 (offline)."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from skllmers.llm import PromptTruncatedWarning, SentenceEncoder
from skllmers.llm._encoder import resolve_device


@pytest.fixture(scope="session")
def shared_encoder():
    return SentenceEncoder(device="cpu", cache=None, verbose=0)


@pytest.fixture
def encoder(shared_encoder):
    """The session's encoder (its model loads once), with its parameters restored after."""
    params = shared_encoder.get_params()
    yield shared_encoder
    shared_encoder.set_params(**params)


def test_embeddings_match_sentence_transformers(encoder, minilm_model):
    texts = ["a space opera", "a film about space", "a cooking show", ""]
    vectors = encoder.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(
        vectors, minilm_model.encode(texts, normalize_embeddings=True), atol=1e-5
    )
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_unnormalised_embeddings(encoder, minilm_model):
    encoder.set_params(normalize=False)
    vectors = encoder.embed(["a space opera"])
    np.testing.assert_allclose(vectors, minilm_model.encode(["a space opera"]), atol=1e-5)


def test_second_identical_run_makes_zero_calls_and_loads_nothing(encoder, tmp_path):
    texts = [f"item description {i}" for i in range(40)]
    encoder.set_params(cache=tmp_path, batch_size=16)
    first = encoder.embed(texts)
    second_encoder = SentenceEncoder(device="cpu", cache=tmp_path, verbose=0)
    np.testing.assert_array_equal(second_encoder.embed(texts), first)
    stats = second_encoder.stats()
    assert (stats["calls"], stats["models_loaded"], stats["cache_hits"]) == (0, 0, 40)
    assert stats["cache"]["bytes_read"] > 40 * 384 * 4


def test_long_texts_are_truncated_with_a_warning(encoder):
    before = encoder.stats()["truncated"]
    with pytest.warns(PromptTruncatedWarning, match="longer than the encoder's 256 tokens"):
        vectors = encoder.embed(["word " * 400, "short"])
    assert np.isfinite(vectors).all()
    assert encoder.stats()["truncated"] == before + 1


def test_truncated_texts_of_several_chunks_give_one_warning_with_the_total(encoder):
    import warnings

    encoder.set_params(batch_size=2)
    texts = [f"text {i} " + "word " * 260 for i in range(4)] + ["short", "tiny"]
    before = encoder.stats()["truncated"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vectors = encoder.embed(texts)  # 3 chunks of 2 texts
    assert vectors.shape == (6, 384)
    caught = [w for w in caught if issubclass(w.category, PromptTruncatedWarning)]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("4 text(s) are longer than the encoder's 256 tokens")
    assert "Raise max_seq_length" in message
    assert caught[0].filename == __file__
    assert encoder.stats()["truncated"] == before + 4


def test_empty_input_gives_an_empty_matrix(encoder):
    assert encoder.embed([]).shape == (0, 384)


def test_non_string_texts_are_refused(encoder):
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        encoder.embed(["fine", 42])


def test_packaged_model_names_resolve_offline():
    for name in (None, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        identity = SentenceEncoder(name).identity()
        assert identity["model"]["files"] >= 5


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        SentenceEncoder(str(tmp_path / "absent"), cache=None).embed(["x"])


def test_device_auto_prefers_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") in {"cpu", "mps"}


def test_model_is_not_pickled_and_clone_keeps_parameters(encoder):
    encoder.embed(["warm"])
    assert len(pickle.dumps(encoder)) < 5_000
    twin = clone(encoder)
    assert twin.get_params() == encoder.get_params()
    assert twin.stats()["models_loaded"] == 0
