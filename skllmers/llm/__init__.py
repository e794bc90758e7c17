"""The LLM runtime of skllmers: local LLMs and encoders, used at fit time only.

Backends
--------
:class:`LlamaCppLLM`
    A GGUF model run by llama.cpp: text generation, a choice constrained by
    a grammar to a given set of answers, log-probabilities of options, and
    pooled embeddings.
:class:`OpenAICompatibleLLM`
    Any server of the OpenAI HTTP API (vLLM, llama.cpp's servers, Ollama,
    OpenAI): generation, choices and scores from log-probabilities, and
    embeddings, with concurrent requests, retries and the same cache.
:class:`SentenceEncoder`
    sentence-transformers embeddings (all-MiniLM-L6-v2 offline by default).
:class:`PrecomputedVectors`
    Vectors computed elsewhere (e.g. a provider's embeddings), keyed by item or
    user id, passed as ``encoder=`` in place of a text encoder.
:class:`DryRunLLM`
    counts the prompts and tokens a fit would send to an LLM, calling none.
:mod:`skllmers.llm.testing`
    :class:`~skllmers.llm.testing.ScriptedLLM` and
    :class:`~skllmers.llm.testing.HashingEncoder`, deterministic model-free
    stand-ins for tests.

All backends are scikit-learn parameter objects (``get_params``,
``set_params``, ``clone``; a grid search reaches e.g.
``enhancer__llm__temperature``). Models load lazily and are never pickled.
Every call goes through a persistent, content-addressed :class:`LLMCache`
(SQLite; ``cache=None`` turns it off), runs in chunks through joblib
(``n_jobs``, ``backend``, or any ``joblib.parallel_config`` including
dask.distributed), is retried ``max_retries`` times, and then either raises
:class:`LLMCallError` or, with ``on_error="skip"``, is recorded as missing.

The backend interface
---------------------
Code that uses an LLM should rely on this duck-typed interface only, so
that any object providing it can be plugged in:

``generate(prompts: list[str]) -> list[str | None]``
    One completion per prompt.
``choose(prompt: str, options: list[str]) -> str | None``
    Exactly one of ``options``; ``choose_many(prompts, options_list)`` is
    the batched form (one shared list of options or one list per prompt).
``score_options(prompt: str, options: list[str]) -> ndarray (n_options,)``
    Log-probability of each option as a continuation of the prompt;
    ``score_options_many(prompts, options_list)`` is the batched form.
``embed(texts: list[str]) -> ndarray (n_texts, dim), float32``
    One vector per text (an encoder only needs this one).
``identity() -> dict``
    JSON-serialisable description of everything that determines the
    results (used in cache keys and to tell backends apart).

An encoder needs only ``embed`` and ``identity``. Subclassing the private
``skllmers.llm._base.BaseBackend`` gives caching, parallelism and retries for
free, as :mod:`skllmers.llm.testing` shows.

Helpers
-------
:func:`make_tiny_llama_gguf` writes a tiny random llama model for offline
tests; :func:`convert_sentence_transformer_to_gguf` turns a BERT
sentence-transformers model into a GGUF embedding model for llama.cpp.
"""

from . import testing
from ._bert_gguf import convert_sentence_transformer_to_gguf
from ._cache import LLMCache, default_cache_dir
from ._dry_run import DryRunLLM
from ._encoder import SentenceEncoder
from ._errors import LLMCallError, ModelLoadError, PromptTruncatedWarning
from ._llamacpp import LlamaCppLLM
from ._openai import APIKey, OpenAICompatibleLLM, ServerReplyError
from ._precomputed import PrecomputedVectors
from ._tiny_model import CHATML_TEMPLATE, make_tiny_llama_gguf

__all__ = [
    "APIKey",
    "CHATML_TEMPLATE",
    "DryRunLLM",
    "LLMCache",
    "LLMCallError",
    "LlamaCppLLM",
    "ModelLoadError",
    "OpenAICompatibleLLM",
    "PrecomputedVectors",
    "PromptTruncatedWarning",
    "SentenceEncoder",
    "ServerReplyError",
    "convert_sentence_transformer_to_gguf",
    "default_cache_dir",
    "make_tiny_llama_gguf",
    "testing",
]
