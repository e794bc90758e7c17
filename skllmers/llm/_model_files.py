"""Fingerprints and metadata of model files, computed without loading the model."""

import hashlib
import os
from functools import lru_cache
from pathlib import Path

_EDGE_BYTES = 1 << 20  # the first and last megabyte are hashed
_WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx"}
_CONFIG_SUFFIXES = {".json", ".txt", ".model"}


def file_fingerprint(path):
    """Cheap identity of a (possibly huge) file: name, size, mtime, edge hash.

    The SHA-256 covers the first and the last megabyte, so a re-downloaded or
    edited file gets a new fingerprint without reading gigabytes.

    Examples
    --------
    >>> import tempfile
    >>> from skllmers.llm._model_files import file_fingerprint
    >>> path = tempfile.mkdtemp() + "/weights.bin"
    >>> _ = open(path, "wb").write(b"abc")
    >>> sorted(file_fingerprint(path))
    ['edges_sha256', 'mtime_ns', 'name', 'size']
    """
    stat = os.stat(path)
    return dict(_fingerprint(str(path), stat.st_size, stat.st_mtime_ns))


@lru_cache(maxsize=256)
def _fingerprint(path, size, mtime_ns):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(_EDGE_BYTES))
        if size > _EDGE_BYTES:
            handle.seek(max(_EDGE_BYTES, size - _EDGE_BYTES))
            digest.update(handle.read(_EDGE_BYTES))
    fingerprint = {
        "name": os.path.basename(path),
        "size": size,
        "mtime_ns": mtime_ns,
        "edges_sha256": digest.hexdigest(),
    }
    return tuple(sorted(fingerprint.items()))


def folder_fingerprint(folder):
    """Fingerprint of a model folder: its weight and configuration files."""
    folder = Path(folder)
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in _WEIGHT_SUFFIXES | _CONFIG_SUFFIXES
    )
    combined = hashlib.sha256()
    for path in files:
        combined.update(str(path.relative_to(folder)).encode("utf-8"))
        combined.update(repr(sorted(file_fingerprint(path).items())).encode("utf-8"))
    return {"folder": folder.name, "files": len(files), "sha256": combined.hexdigest()}


def gguf_metadata(path):
    """A few metadata values of a GGUF file, read without loading the model.

    Returns
    -------
    metadata : dict
        ``architecture``, ``context_length``, ``embedding_length`` (``None``
        when absent), ``chat_template`` (``None`` when absent).
    """
    stat = os.stat(path)
    return dict(_gguf_metadata(str(path), stat.st_size, stat.st_mtime_ns))


@lru_cache(maxsize=64)
def _gguf_metadata(path, size, mtime_ns):
    import gguf

    reader = gguf.GGUFReader(path)

    def value(key):
        field = reader.fields.get(key)
        return None if field is None else field.contents()

    architecture = value("general.architecture")
    metadata = {
        "architecture": architecture,
        "context_length": value(f"{architecture}.context_length"),
        "embedding_length": value(f"{architecture}.embedding_length"),
        "chat_template": value("tokenizer.chat_template"),
    }
    return tuple(metadata.items())
