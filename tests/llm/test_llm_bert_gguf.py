"""The BERT converter: llama.cpp's embeddings of all-MiniLM-L6-v2 match sentence-transformers."""

import gguf
import pytest

from skllmers.llm import LlamaCppLLM, convert_sentence_transformer_to_gguf
from skllmers.llm._bert_gguf import packaged_minilm_path

SENTENCES = [
    "A space opera with a charismatic smuggler.",
    "The user enjoys slow-burning crime dramas set in Los Angeles.",
    "Unbelievable!! naïve café résumé",
    "",
    "ＡＢＣ 日本語 and an emoji 🎉",
]


def test_layout_matches_llama_cpp_conversion(minilm_gguf_paths):
    reader = gguf.GGUFReader(str(minilm_gguf_paths["f16"]))
    fields = {
        name: field.contents()
        for name, field in reader.fields.items()
        if name != "tokenizer.ggml.tokens"
    }
    assert fields["general.architecture"] == "bert"
    assert fields["bert.pooling_type"] == 1
    assert fields["bert.attention.causal"] is False
    assert fields["tokenizer.ggml.model"] == "bert"
    assert fields["bert.block_count"] == 6 and fields["bert.embedding_length"] == 384
    assert fields["tokenizer.ggml.bos_token_id"] == 101  # [CLS]
    assert fields["tokenizer.ggml.seperator_token_id"] == 102  # [SEP]
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    assert len(tensors) == 101
    assert {
        "token_embd.weight",
        "token_types.weight",
        "position_embd.weight",
        "token_embd_norm.bias",
        "blk.5.attn_output_norm.weight",
        "blk.5.layer_output_norm.bias",
    } <= set(tensors)
    assert tensors["position_embd.weight"].tensor_type == gguf.GGMLQuantizationType.F32
    assert tensors["blk.0.attn_q.weight"].tensor_type == gguf.GGMLQuantizationType.F16
    q8 = gguf.GGUFReader(str(minilm_gguf_paths["q8_0"]))
    assert {t.name: t.tensor_type for t in q8.tensors}[
        "blk.0.ffn_up.weight"
    ] == gguf.GGMLQuantizationType.Q8_0


def test_wordpiece_vocabulary_uses_phantom_spaces(minilm_gguf_paths):
    reader = gguf.GGUFReader(str(minilm_gguf_paths["q8_0"]))
    field = reader.fields["tokenizer.ggml.tokens"]
    vocab = (packaged_minilm_path() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    converted = {index: field.contents(index) for index in (0, 101, 1996, vocab.index("##ing"))}
    assert converted[0] == "[PAD]" and converted[101] == "[CLS]"
    assert converted[1996] == "\u2581" + vocab[1996]
    assert converted[vocab.index("##ing")] == "ing"


@pytest.mark.llama
@pytest.mark.parametrize("dtype, threshold", [("f16", 0.9999), ("q8_0", 0.99)])
def test_llama_cpp_embeddings_match_sentence_transformers(
    minilm_gguf_paths, minilm_model, dtype, threshold
):
    pytest.importorskip("llama_cpp")
    expected = minilm_model.encode(SENTENCES, normalize_embeddings=True)
    llm = LlamaCppLLM(minilm_gguf_paths[dtype], cache=None, verbose=0, n_threads=1)
    embedded = llm.embed(SENTENCES)
    cosines = (embedded * expected).sum(axis=1)
    assert cosines.min() >= threshold, cosines


@pytest.mark.llama
def test_tokenizer_matches_the_wordpiece_tokenizer(minilm_gguf_paths, minilm_model):
    llama_cpp = pytest.importorskip("llama_cpp")
    model = llama_cpp.Llama(str(minilm_gguf_paths["q8_0"]), vocab_only=True, verbose=False)
    for sentence in SENTENCES:
        assert model.tokenize(sentence.encode()) == minilm_model.tokenizer(sentence)["input_ids"]


def test_non_bert_models_are_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ValueError, match="Only BERT models.*gpt2"):
        convert_sentence_transformer_to_gguf(tmp_path, tmp_path / "out.gguf")


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a model folder"):
        convert_sentence_transformer_to_gguf(tmp_path / "absent", tmp_path / "out.gguf")


def test_bad_dtype_and_missing_output(tmp_path):
    with pytest.raises(ValueError, match="dtype must be one of"):
        convert_sentence_transformer_to_gguf(None, tmp_path / "out.gguf", dtype="q4_k")
    with pytest.raises(TypeError, match="out_path is required"):
        convert_sentence_transformer_to_gguf(None)
