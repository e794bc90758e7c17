"""Deterministic, model-free backends for testing code that uses an LLM or an encoder.

:class:`ScriptedLLM` and :class:`HashingEncoder` implement the same interface
as :class:`~skllmers.llm.LlamaCppLLM` and :class:`~skllmers.llm.SentenceEncoder`
and share their machinery (cache, ``n_jobs``, retries, ``on_error``,
:meth:`stats`), but compute answers with plain Python: either your own
functions or simple word-overlap and feature-hashing rules. They are fast,
need no model file, and give the same answers in every process.

Examples
--------
>>> from skllmers.llm.testing import ScriptedLLM
>>> llm = ScriptedLLM(responder=lambda prompt: prompt.upper())
>>> llm.generate(["hello"])
['HELLO']
>>> llm.choose("I love space films", ["a space film", "a cooking show"])
'a space film'
"""

import hashlib
import re

import numpy as np

from ._base import BaseBackend, EmbeddingMixin, TextGenerationMixin, callable_name, l2_normalize

_WORD = re.compile(r"\w+")


def _words(text):
    """Lower-case words of a text."""
    return _WORD.findall(text.lower())


def hashed_bag_of_words(text, dim):
    """Feature-hashed word counts (signed), stable across processes and runs.

    Texts sharing words get similar vectors; the empty text gives zeros.

    Examples
    --------
    >>> from skllmers.llm.testing import hashed_bag_of_words
    >>> hashed_bag_of_words("Space space", 8).tolist() == (2 * hashed_bag_of_words("space", 8)).tolist()
    True
    """
    vector = np.zeros(dim, dtype=np.float32)
    for word in _words(text):
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        index = int.from_bytes(digest[:8], "little") % dim
        vector[index] += 1.0 if digest[8] & 1 else -1.0
    return vector


def _echo_last_line(prompt):
    """Default reply of :class:`ScriptedLLM`: the prompt's last non-empty line."""
    lines = [line.strip() for line in prompt.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _overlap_scores(prompt, options):
    """Log-softmax of the number of prompt words each option contains."""
    prompt_words = set(_words(prompt))
    overlaps = np.array(
        [len(prompt_words & set(_words(option))) for option in options], dtype=np.float64
    )
    shifted = overlaps - overlaps.max()
    return shifted - np.log(np.exp(shifted).sum())


def _most_overlapping_option(prompt, options):
    """Default choice of :class:`ScriptedLLM`: most shared words, first on ties."""
    return options[int(np.argmax(_overlap_scores(prompt, options)))]


class ScriptedLLM(TextGenerationMixin, EmbeddingMixin, BaseBackend):
    """A deterministic LLM stand-in driven by Python functions.

    Parameters
    ----------
    responder : callable, default=None
        ``prompt -> str`` used by :meth:`generate`; ``None`` echoes the last
        non-empty line of the prompt.
    chooser : callable, default=None
        ``(prompt, options) -> option`` used by :meth:`choose`; ``None`` picks
        the option sharing the most words with the prompt (first on ties). An
        answer outside ``options`` is an error, as with a real grammar.
    scorer : callable, default=None
        ``(prompt, options) -> array of log-probabilities``; ``None`` uses a
        log-softmax of the word overlap.
    embed_dim : int, default=32
        Size of the feature-hashed bag-of-words embeddings.
    normalize : bool, default=True
        L2-normalise embeddings.
    name : str, default="scripted"
        Part of the cache identity: give different names to doubles that
        answer differently but share a cache (the callables are identified
        by their qualified names only).
    cache : bool, str, path-like or LLMCache, default=None
        As for :class:`~skllmers.llm.LlamaCppLLM`; off by default.
    n_jobs, backend, on_error, max_retries, verbose
        As for :class:`~skllmers.llm.LlamaCppLLM` (``verbose`` defaults to 0).

    Examples
    --------
    >>> from skllmers.llm.testing import ScriptedLLM
    >>> llm = ScriptedLLM()
    >>> llm.generate(["Instruction\\nAnswer: yes"])
    ['Answer: yes']
    >>> llm.score_options("likes sci-fi", ["sci-fi", "drama"]).round(3).tolist()
    [-0.127, -2.127]
    >>> llm.embed(["space", "space opera"]).shape
    (2, 32)
    >>> llm.stats()["calls"]  # one prompt, one prompt, two texts
    4
    """

    def __init__(
        self,
        responder=None,
        *,
        chooser=None,
        scorer=None,
        embed_dim=32,
        normalize=True,
        name="scripted",
        cache=None,
        n_jobs=None,
        backend=None,
        on_error="raise",
        max_retries=2,
        verbose=0,
    ):
        self.responder = responder
        self.chooser = chooser
        self.scorer = scorer
        self.embed_dim = embed_dim
        self.normalize = normalize
        self.name = name
        self.cache = cache
        self.n_jobs = n_jobs
        self.backend = backend
        self.on_error = on_error
        self.max_retries = max_retries
        self.verbose = verbose

    def _model_identity(self):
        return {"name": self.name}

    def _output_params(self, operation):
        return {
            "responder": callable_name(self.responder),
            "chooser": callable_name(self.chooser),
            "scorer": callable_name(self.scorer),
            "embed_dim": self.embed_dim,
            "normalize": bool(self.normalize),
        }

    def _embedding_dimension(self):
        return int(self.embed_dim)

    def _compute(self, operation, payloads, report):
        compute_one = {
            "generate": self._respond,
            "choose": self._choose,
            "score_options": self._score,
            "embed": self._embed,
        }[operation]
        return [compute_one(payload) for payload in payloads]

    def _respond(self, payload):
        reply = (self.responder or _echo_last_line)(payload["prompt"])
        if not isinstance(reply, str):
            raise TypeError(f"The responder must return a str, got {type(reply).__name__}.")
        return reply

    def _choose(self, payload):
        options = payload["options"]
        answer = (self.chooser or _most_overlapping_option)(payload["prompt"], options)
        if answer not in options:
            raise ValueError(f"The chooser answered {answer!r}, which is not one of the options.")
        return answer

    def _score(self, payload):
        options = payload["options"]
        scores = np.asarray(
            (self.scorer or _overlap_scores)(payload["prompt"], options), dtype=np.float64
        )
        if scores.shape != (len(options),):
            raise ValueError(
                f"The scorer returned shape {scores.shape}; expected ({len(options)},)."
            )
        return scores

    def _embed(self, payload):
        vector = hashed_bag_of_words(payload["text"], int(self.embed_dim))
        return l2_normalize(vector[None, :])[0] if self.normalize else vector


class HashingEncoder(EmbeddingMixin, BaseBackend):
    """A deterministic encoder stand-in: feature-hashed bag of words.

    Has the interface of :class:`~skllmers.llm.SentenceEncoder` (``embed``,
    ``identity``, ``stats``, cache, ``n_jobs``...) with no model: texts that
    share words get similar vectors.

    Parameters
    ----------
    embed_dim : int, default=64
        Size of the vectors.
    normalize : bool, default=True
        L2-normalise the vectors.
    cache, n_jobs, backend, on_error, max_retries, verbose
        As for :class:`~skllmers.llm.SentenceEncoder` (cache off and
        ``verbose=0`` by default).

    Examples
    --------
    >>> from skllmers.llm.testing import HashingEncoder
    >>> vectors = HashingEncoder(embed_dim=16).embed(["space opera", "opera", ""])
    >>> vectors.shape, float(abs(vectors[2]).sum())
    ((3, 16), 0.0)
    """

    def __init__(
        self,
        embed_dim=64,
        *,
        normalize=True,
        cache=None,
        n_jobs=None,
        backend=None,
        on_error="raise",
        max_retries=2,
        verbose=0,
    ):
        self.embed_dim = embed_dim
        self.normalize = normalize
        self.cache = cache
        self.n_jobs = n_jobs
        self.backend = backend
        self.on_error = on_error
        self.max_retries = max_retries
        self.verbose = verbose

    def _model_identity(self):
        return {"name": "feature-hashing"}

    def _output_params(self, operation):
        return {"embed_dim": int(self.embed_dim), "normalize": bool(self.normalize)}

    def _embedding_dimension(self):
        return int(self.embed_dim)

    def _chunk_size(self, operation, n_items, in_process):
        return 256

    def _compute(self, operation, payloads, report):
        matrix = np.vstack(
            [hashed_bag_of_words(payload["text"], int(self.embed_dim)) for payload in payloads]
        )
        return list(l2_normalize(matrix) if self.normalize else matrix)


__all__ = ["ScriptedLLM", "HashingEncoder", "hashed_bag_of_words"]
