"""A tiny llama-architecture GGUF model with random weights, for offline tests."""

import os
import tempfile
from pathlib import Path

import numpy as np

_SPACE = "\u2581"  # SentencePiece's marker for a word start
_WORDS = (
    "the a an and or not yes no item user movie book song like liked likes watch watched "
    "read answer option best next recommend recommended because with for from to of in on "
    "is was it this that good bad great love hate one two three four five"
).split()
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_DTYPES = ("q8_0", "f16", "f32")


def _vocabulary():
    """Tokens, scores and token types of a small SentencePiece-style vocabulary.

    Three control tokens, the 256 byte-fallback tokens (so any UTF-8 text can
    be tokenised), the printable ASCII characters, and some English words with
    every prefix (SentencePiece merges pieces pairwise, so a word needs its
    prefixes in the vocabulary to be merged).
    """
    import gguf

    token_type = gguf.TokenType
    tokens = ["<unk>", "<s>", "</s>"]
    types = [token_type.UNKNOWN, token_type.CONTROL, token_type.CONTROL]
    scores = [0.0, 0.0, 0.0]
    for byte in range(256):
        tokens.append(f"<0x{byte:02X}>")
        types.append(token_type.BYTE)
        scores.append(0.0)
    pieces = [_SPACE] + [chr(code) for code in range(0x21, 0x7F)]
    for word in _WORDS:
        marked = _SPACE + word
        pieces.extend(marked[:end] for end in range(2, len(marked) + 1))
    for piece in dict.fromkeys(pieces):
        tokens.append(piece)
        types.append(token_type.NORMAL)
        scores.append(float(len(piece)))
    return tokens, scores, types


def _random_tensors(rng, n_vocab, n_embd, n_layers, n_heads, n_kv_heads, n_ff):
    head_dim = n_embd // n_heads

    def matrix(rows, cols):
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def norm():
        return np.ones(n_embd, dtype=np.float32)

    tensors = {"token_embd.weight": matrix(n_vocab, n_embd), "output_norm.weight": norm()}
    for block in range(n_layers):
        prefix = f"blk.{block}."
        tensors.update(
            {
                prefix + "attn_norm.weight": norm(),
                prefix + "attn_q.weight": matrix(n_embd, n_embd),
                prefix + "attn_k.weight": matrix(n_kv_heads * head_dim, n_embd),
                prefix + "attn_v.weight": matrix(n_kv_heads * head_dim, n_embd),
                prefix + "attn_output.weight": matrix(n_embd, n_embd),
                prefix + "ffn_norm.weight": norm(),
                prefix + "ffn_gate.weight": matrix(n_ff, n_embd),
                prefix + "ffn_up.weight": matrix(n_ff, n_embd),
                prefix + "ffn_down.weight": matrix(n_embd, n_ff),
            }
        )
    return tensors


def _check_shapes(n_embd, n_heads, n_kv_heads, n_ff, dtype):
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}; got {dtype!r}.")
    if n_embd % n_heads or n_heads % n_kv_heads:
        raise ValueError(
            f"n_embd ({n_embd}) must be a multiple of n_heads ({n_heads}), and n_heads a "
            f"multiple of n_kv_heads ({n_kv_heads})."
        )
    if dtype == "q8_0" and (n_embd % 32 or n_ff % 32):
        raise ValueError(
            f"Q8_0 stores rows in blocks of 32 values: n_embd ({n_embd}) and n_ff ({n_ff}) "
            "must be multiples of 32, or use dtype='f16'."
        )


def make_tiny_llama_gguf(
    path,
    *,
    n_layers=2,
    n_embd=64,
    n_heads=4,
    n_kv_heads=None,
    n_ff=128,
    n_ctx=512,
    dtype="q8_0",
    chat_template=None,
    seed=0,
):
    """Write a tiny llama-architecture GGUF model with random weights.

    The model is useless for language but real for llama.cpp: it loads in
    milliseconds, tokenises any UTF-8 text (byte fallback), generates,
    follows grammars, returns log-probabilities and mean-pooled embeddings.
    Use it to test code that calls an LLM without downloading one. The same
    arguments always give the same weights.

    Parameters
    ----------
    path : str or path-like
        Where to write the ``.gguf`` file (parent folders are created).
    n_layers : int, default=2
        Number of transformer blocks.
    n_embd : int, default=64
        Width of the model.
    n_heads : int, default=4
        Attention heads.
    n_kv_heads : int, default=None
        Key/value heads (grouped-query attention); ``None`` means ``n_heads``.
    n_ff : int, default=128
        Width of the feed-forward layers.
    n_ctx : int, default=512
        Training context length written in the metadata.
    dtype : {"q8_0", "f16", "f32"}, default="q8_0"
        Storage type of the weight matrices (norms stay float32).
    chat_template : str, default=None
        Jinja chat template stored as ``tokenizer.chat_template``; ``None``
        writes none. :data:`skllmers.llm.CHATML_TEMPLATE` is a ChatML one.
    seed : int, default=0
        Seed of the random weights.

    Returns
    -------
    path : pathlib.Path
        The written file.

    Examples
    --------
    >>> import tempfile
    >>> from skllmers.llm import make_tiny_llama_gguf
    >>> path = make_tiny_llama_gguf(tempfile.mkdtemp() + "/tiny.gguf")
    >>> path.stat().st_size < 500_000
    True
    """
    import gguf

    n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
    _check_shapes(n_embd, n_heads, n_kv_heads, n_ff, dtype)
    tokens, scores, types = _vocabulary()
    rng = np.random.default_rng(seed)
    tensors = _random_tensors(rng, len(tokens), n_embd, n_layers, n_heads, n_kv_heads, n_ff)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".gguf.tmp")
    os.close(descriptor)
    try:
        writer = gguf.GGUFWriter(temporary, "llama")
        _add_llama_metadata(writer, n_layers, n_embd, n_heads, n_kv_heads, n_ff, n_ctx, dtype)
        _add_spm_vocabulary(writer, tokens, scores, types, chat_template)
        for name, values in tensors.items():
            _add_tensor(writer, name, values, dtype)
        _write_and_close(writer)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def _add_llama_metadata(writer, n_layers, n_embd, n_heads, n_kv_heads, n_ff, n_ctx, dtype):
    import gguf

    file_types = {
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "f32": gguf.LlamaFileType.ALL_F32,
    }
    writer.add_name("skllmers-tiny-llama")
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_heads)
    writer.add_head_count_kv(n_kv_heads)
    writer.add_rope_dimension_count(n_embd // n_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(file_types[dtype])


def _add_spm_vocabulary(writer, tokens, scores, types, chat_template):
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    if chat_template is not None:
        writer.add_chat_template(chat_template)


def _add_tensor(writer, name, values, dtype):
    """Add a tensor; matrices use ``dtype``, vectors stay float32 (as llama.cpp expects)."""
    import gguf

    if values.ndim == 1 or dtype == "f32":
        writer.add_tensor(name, values.astype(np.float32))
    elif dtype == "f16":
        writer.add_tensor(name, values.astype(np.float16))
    else:
        quant = gguf.GGMLQuantizationType.Q8_0
        writer.add_tensor(name, gguf.quants.quantize(values, quant), raw_dtype=quant)


def _write_and_close(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
