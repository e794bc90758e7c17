"""Encoders and LLMs for the model-enhancement tests: deterministic, fast, picklable."""

import re
import zlib

import numpy as np

_WORD = re.compile(r"[a-z]+")


class HashingEncoder:
    """Bag of words hashed into ``dim`` signed buckets, L2-normalised (no model to load)."""

    def __init__(self, dim=128):
        self.dim = dim

    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                code = zlib.crc32(word.encode())
                out[row, code % self.dim] += 1.0 if (code >> 16) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


class RecordingEncoder(HashingEncoder):
    """A HashingEncoder that keeps every text it was asked to embed."""

    def __init__(self, dim=16):
        super().__init__(dim)
        self.calls = []

    def embed(self, texts):
        self.calls.append(list(texts))
        return super().embed(texts)

    @property
    def texts(self):
        return [t for call in self.calls for t in call]


class RaisingEncoder:
    """Stands in for an encoder that is gone after fit."""

    def embed(self, texts):
        raise RuntimeError("the encoder must not be called after fit")


class EchoLLM:
    """An LLM that records its prompts and answers with the length of each."""

    def __init__(self):
        self.prompts = []

    def generate(self, prompts):
        self.prompts.extend(prompts)
        return [f"profile: {len(p)} chars" for p in prompts]
