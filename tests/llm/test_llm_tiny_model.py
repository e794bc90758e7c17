import gguf
import numpy as np
import pytest

from skllmers.llm import CHATML_TEMPLATE, make_tiny_llama_gguf


def read_fields(path):
    reader = gguf.GGUFReader(str(path))
    return reader, {
        name: field.contents()
        for name, field in reader.fields.items()
        if name != "tokenizer.ggml.tokens"
    }


def test_metadata_has_what_llama_cpp_requires(tiny_model_path):
    reader, fields = read_fields(tiny_model_path)
    assert fields["general.architecture"] == "llama"
    for key in (
        "llama.context_length",
        "llama.embedding_length",
        "llama.block_count",
        "llama.attention.layer_norm_rms_epsilon",
        "llama.feed_forward_length",
        "llama.attention.head_count",
        "tokenizer.ggml.model",
        "tokenizer.ggml.token_type",
    ):
        assert key in fields, key
    assert fields["llama.embedding_length"] == 64 and fields["llama.block_count"] == 2
    names = {tensor.name for tensor in reader.tensors}
    assert {"token_embd.weight", "output_norm.weight", "blk.1.ffn_down.weight"} <= names
    assert len(names) == 2 + 2 * 9
    assert tiny_model_path.stat().st_size < 300_000


def test_same_seed_same_file_other_seed_other_weights(tmp_path):
    first = make_tiny_llama_gguf(tmp_path / "a.gguf", seed=3)
    second = make_tiny_llama_gguf(tmp_path / "b.gguf", seed=3)
    third = make_tiny_llama_gguf(tmp_path / "c.gguf", seed=4)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != third.read_bytes()


def test_chat_template_is_stored(tiny_chat_model_path):
    _, fields = read_fields(tiny_chat_model_path)
    assert fields["tokenizer.chat_template"] == CHATML_TEMPLATE


@pytest.mark.parametrize("dtype", ["f16", "f32"])
def test_other_storage_types_load_and_generate(tmp_path, dtype):
    llama_cpp = pytest.importorskip("llama_cpp")
    path = make_tiny_llama_gguf(
        tmp_path / f"{dtype}.gguf", dtype=dtype, n_kv_heads=2, n_embd=48, n_heads=4, n_ff=96
    )
    model = llama_cpp.Llama(str(path), n_ctx=128, verbose=False)
    assert model.n_embd() == 48
    out = model.create_completion("hello", max_tokens=4, temperature=0)
    assert out["usage"]["completion_tokens"] >= 1


@pytest.mark.llama
def test_any_utf8_text_round_trips_through_the_tokenizer(tiny_model_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    model = llama_cpp.Llama(str(tiny_model_path), n_ctx=128, verbose=False, vocab_only=True)
    text = "Héllo wörld ☕ 日本 the movie\n\ttab"
    tokens = model.tokenize(text.encode(), add_bos=False)
    assert (
        model.detokenize(tokens).decode() == " " + text or model.detokenize(tokens).decode() == text
    )
    assert len(model.tokenize(b" the movie", add_bos=False)) < len(" the movie")  # words merge


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dtype": "q4_0"}, "dtype must be one of"),
        ({"n_embd": 62}, "multiple of n_heads"),
        ({"n_heads": 4, "n_kv_heads": 3}, "multiple of n_kv_heads"),
        ({"n_embd": 48, "n_ff": 96}, "multiples of 32"),
    ],
)
def test_invalid_shapes_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_tiny_llama_gguf(tmp_path / "x.gguf", **kwargs)
    assert not list(tmp_path.iterdir())


def test_weights_are_random_but_finite(tiny_model_path):
    reader = gguf.GGUFReader(str(tiny_model_path))
    tensor = next(t for t in reader.tensors if t.name == "blk.0.attn_q.weight")
    values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    assert np.isfinite(values).all() and values.std() > 0.01
