"""Machinery shared by every backend: caching, chunked parallel runs, retries, stats.

A backend subclasses :class:`BaseBackend` (a scikit-learn ``BaseEstimator``:
its ``__init__`` only stores parameters) and implements

- ``_model_identity()``: JSON-serialisable description of the model,
- ``_output_params(operation)``: parameters that change that operation's results,
- ``_compute(operation, payloads, report)``: run one chunk in this process,
- ``_load_model(role)`` / ``_load_signature(role)`` if it loads models lazily.

The public operations (``generate``, ``choose``, ``score_options``,
``embed``...) come from the mixins below and all go through
:meth:`BaseBackend._run`: cache lookup, de-duplication, chunking, joblib,
retries, ``on_error`` handling and writing each finished chunk to the cache.
"""

import copy
import os
import sys
import warnings
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator
from tqdm.auto import tqdm

from ._cache import make_key, resolve_cache
from ._errors import LLMCallError, ModelLoadError, PromptTruncatedWarning
from ._parallel import run_chunks, runs_in_process, split_in_chunks, worker_models
from ._validation import (
    check_non_negative_int,
    check_on_error,
    check_options,
    check_options_list,
    check_text,
    check_texts,
)

# Errors that a retry cannot fix: they propagate at once, whatever on_error says.
NOT_RETRIED = (FileNotFoundError, ModelLoadError, ImportError, TypeError, MemoryError)
_COUNTER_NAMES = (
    "requests",
    "cache_hits",
    "calls",
    "retries",
    "failures",
    "truncated",
    "models_loaded",
)


@dataclass
class ChunkReport:
    """What computing one chunk produced and cost (sent back from workers)."""

    values: list = field(default_factory=list)
    calls: int = 0
    retries: int = 0
    failures: int = 0
    truncated: int = 0
    truncation_limit: int | None = None  # the token limit the truncated inputs exceeded
    models_loaded: int = 0
    errors: list = field(default_factory=list)


class _RuntimeState:
    """Per-object state that is never pickled: models, cache handle, counters."""

    def __init__(self, worker_mode=False):
        self.worker_mode = worker_mode
        self.models = {}
        self.cache_param = None
        self.cache = None
        self.counters = dict.fromkeys(_COUNTER_NAMES, 0)
        self.recent_errors = []
        self.thread_hint = None
        self.dispatcher_pid = None
        self.loads = 0


def _describe_payload(payload, limit=80):
    text = payload.get("prompt", payload.get("text", ""))
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return repr(text)


class BaseBackend(BaseEstimator):
    """Base class of the LLM and encoder backends (see the module docstring)."""

    # ----------------------------------------------------------------- state
    def _runtime(self):
        state = self.__dict__.get("_runtime_state")
        if state is None:
            state = _RuntimeState()
            self.__dict__["_runtime_state"] = state
        return state

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_runtime_state", None)
        return state

    def _worker_copy(self, thread_hint=None, dispatcher_pid=None):
        worker = copy.copy(self)  # goes through __getstate__: no models, no connection
        runtime = _RuntimeState(worker_mode=True)
        runtime.thread_hint = thread_hint
        runtime.dispatcher_pid = dispatcher_pid
        worker.__dict__["_runtime_state"] = runtime
        return worker

    def _in_worker_process(self):
        """Whether this runs in a worker process (not a thread of the calling process)."""
        runtime = self._runtime()
        return runtime.worker_mode and runtime.dispatcher_pid not in (None, os.getpid())

    def _cache(self):
        runtime = self._runtime()
        if runtime.cache_param is not self.cache or (runtime.cache is None and self.cache):
            runtime.cache = resolve_cache(self.cache)
            runtime.cache_param = self.cache
        return runtime.cache

    def _model(self, role):
        """The model used for ``role``, loaded on first use.

        In the calling process the model lives on this object (one per role);
        in joblib/dask workers it lives in the worker thread's registry, so a
        worker loads it once for all the chunks it runs.
        """
        runtime = self._runtime()
        signature = (type(self).__qualname__, role, self._load_signature(role))
        if runtime.worker_mode:
            store, key = worker_models(), signature
        else:
            store, key = runtime.models, role
        entry = store.get(key)
        if entry is None or entry[0] != signature:
            entry = (signature, self._load_model(role))
            store[key] = entry
            runtime.loads += 1
        return entry[1]

    def _load_signature(self, role):
        return ()

    def _load_model(self, role):
        raise NotImplementedError(f"{type(self).__name__} loads no model for {role!r}.")

    def unload(self):
        """Free the models this object loaded (they reload on next use).

        Returns
        -------
        self : object

        Examples
        --------
        >>> from skllmers.llm.testing import ScriptedLLM
        >>> ScriptedLLM().unload().stats()["models_loaded"]
        0
        """
        self._runtime().models.clear()
        return self

    # ---------------------------------------------------------------- identity
    def identity(self, operation=None):
        """JSON-serialisable description of what determines this backend's results.

        The cache key of every call is derived from it, so two backends with
        the same identity share cached results, and changing the model file
        or an output-changing parameter never reuses an old answer.

        Parameters
        ----------
        operation : str, default=None
            Restrict the parameters to those that matter for one operation
            (``"generate"``, ``"choose"``, ``"score_options"``, ``"embed"``).

        Returns
        -------
        identity : dict

        Examples
        --------
        >>> from skllmers.llm.testing import ScriptedLLM
        >>> sorted(ScriptedLLM().identity())
        ['class', 'model', 'params']
        >>> ScriptedLLM(embed_dim=8).identity() == ScriptedLLM(embed_dim=16).identity()
        False
        """
        return {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "model": self._model_identity(),
            "params": self._output_params(operation),
        }

    def _model_identity(self):
        raise NotImplementedError

    def _output_params(self, operation):
        raise NotImplementedError

    # ------------------------------------------------------------------ stats
    def stats(self):
        """Counters of the calls made through this object since it was created.

        Returns
        -------
        stats : dict
            ``requests`` (inputs asked for), ``cache_hits`` (answered from the
            cache), ``calls`` (inputs sent to the model, retries included),
            ``retries``, ``failures`` (inputs recorded as missing with
            ``on_error="skip"``), ``truncated`` (inputs shortened to fit),
            ``models_loaded``, ``recent_errors`` (messages of the last
            failures) and ``cache`` (the cache's own :meth:`LLMCache.stats`, or
            ``None`` without a cache).

        Examples
        --------
        >>> from skllmers.llm.testing import ScriptedLLM
        >>> llm = ScriptedLLM()
        >>> _ = llm.generate(["a", "b", "a"])
        >>> stats = llm.stats()
        >>> stats["requests"], stats["calls"], stats["cache"]
        (3, 2, None)
        """
        runtime = self._runtime()
        stats = dict(runtime.counters)
        stats["recent_errors"] = list(runtime.recent_errors)
        cache = self._cache()
        stats["cache"] = None if cache is None else cache.stats()
        return stats

    # -------------------------------------------------------------- execution
    def _check_run_params(self):
        check_on_error(self.on_error)
        check_non_negative_int(self.max_retries, "max_retries")

    def _chunk_size(self, operation, n_items, in_process):
        """Items per chunk: one at a time (each result is saved at once), but for embed.

        A chunk reaches the cache only when it has finished, so a process killed
        mid-chunk would lose the calls of that chunk that had finished; one call
        per chunk loses none (workers too). Embeddings are cheap and batched.
        """
        if in_process or operation != "embed":
            return 1
        workers = max(1, abs(self._effective_n_jobs()))
        return min(32, max(1, -(-n_items // (4 * workers))))

    def _effective_n_jobs(self):
        import joblib

        with joblib.parallel_config(backend=self.backend) if self.backend else _null():
            return joblib.effective_n_jobs(self.n_jobs)

    def _run(self, operation, payloads):
        """Results of ``operation`` for each payload, from the cache or computed."""
        self._check_run_params()
        runtime = self._runtime()
        cache = self._cache()
        identity = self.identity(operation)
        keys = [make_key(identity, operation, payload) for payload in payloads]
        results = cache.get_many(keys) if cache is not None and keys else {}
        runtime.counters["requests"] += len(keys)
        runtime.counters["cache_hits"] += sum(key in results for key in keys)
        pending = {}
        for key, payload in zip(keys, payloads, strict=True):
            if key not in results:
                pending.setdefault(key, payload)
        if pending:
            truncated, limit = self._compute_pending(operation, pending, cache, results)
            if truncated:
                _warn_once(self._truncation_message(operation, truncated, limit))
        return [results.get(key) for key in keys]

    def _truncation_message(self, operation, n_truncated, limit):
        """Text of the one :class:`PromptTruncatedWarning` of a call (backends refine it).

        ``n_truncated`` is the number of inputs shortened over all the chunks
        of the call, ``limit`` the token limit they exceeded (or ``None``).
        """
        where = "" if limit is None else f" ({limit} tokens)"
        return (
            f"{type(self).__name__}.{operation}: {n_truncated} input(s) were longer than the "
            f"model accepts{where} and were shortened."
        )

    def _compute_pending(self, operation, pending, cache, results):
        in_process = runs_in_process(self.n_jobs, self.backend)
        items = list(pending.items())
        chunks = split_in_chunks(items, self._chunk_size(operation, len(items), in_process))
        thread_hint = None if in_process else self._worker_thread_hint()
        progress = tqdm(
            total=len(items),
            desc=f"{type(self).__name__}.{operation}",
            disable=not self.verbose,
            leave=False,
        )
        truncation = {"count": 0, "limit": None}

        def on_done(index, report):
            self._absorb(report)
            truncation["count"] += report.truncated
            if report.truncation_limit is not None:
                truncation["limit"] = report.truncation_limit
            fresh = {
                key: value
                for (key, _), value in zip(chunks[index], report.values, strict=True)
                if value is not None
            }
            if cache is not None and fresh:
                cache.set_many(fresh)
            results.update(fresh)
            progress.update(len(chunks[index]))

        try:
            run_chunks(
                partial(_compute_chunk_in_worker, self, operation, (thread_hint, os.getpid())),
                [[payload for _, payload in chunk] for chunk in chunks],
                n_jobs=self.n_jobs,
                backend=self.backend,
                in_process_function=partial(_compute_chunk, self, operation),
                on_done=on_done,
            )
        finally:
            progress.close()
        return truncation["count"], truncation["limit"]

    def _worker_thread_hint(self):
        """CPU threads per worker so that parallel workers do not oversubscribe."""
        workers = max(1, abs(self._effective_n_jobs()))
        return max(1, (os.cpu_count() or 1) // workers)

    def _absorb(self, report):
        counters = self._runtime().counters
        for name in ("calls", "retries", "failures", "truncated", "models_loaded"):
            counters[name] += getattr(report, name)
        recent = self._runtime().recent_errors
        recent.extend(report.errors)
        del recent[:-20]

    def _attempts(self, operation, payloads, report, attempts):
        """Compute a chunk, retrying up to ``attempts`` times; raise the last error."""
        for attempt in range(attempts):
            report.calls += len(payloads)
            truncated_before = report.truncated
            try:
                values = self._compute(operation, payloads, report)
            except NOT_RETRIED:
                raise
            except Exception:
                # A failed attempt's inputs are counted again by the next one.
                report.truncated = truncated_before
                if attempt == attempts - 1:
                    raise
                report.retries += 1
            else:
                try:
                    return _checked_values(operation, values)
                except ValueError:
                    if attempt == attempts - 1:
                        raise
                    report.retries += 1

    def _give_up(self, operation, payload, error, report):
        attempts = self.max_retries + 1
        message = (
            f"{type(self).__name__}.{operation} failed {attempts} time(s) on input "
            f"{_describe_payload(payload)}: {type(error).__name__}: {error}"
        )
        if self.on_error == "raise":
            raise LLMCallError(
                message + ". Set on_error='skip' to record such inputs as missing (None) "
                "and go on, or raise max_retries."
            ) from error
        report.failures += 1
        report.errors.append(message)
        return None

    def _compute_each(self, operation, payloads, report):
        values = []
        for payload in payloads:
            try:
                values.extend(self._attempts(operation, [payload], report, self.max_retries + 1))
            except NOT_RETRIED:
                raise
            except Exception as error:
                values.append(self._give_up(operation, payload, error, report))
        return values


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def operation_params(by_operation, operation):
    """The output parameters of ``operation``; all of them merged when it is None."""
    if operation is None:
        merged = {}
        for params in by_operation.values():
            merged.update(params)
        return merged
    return by_operation[operation]


def _checked_values(operation, values):
    """``values``, or a ``ValueError`` for a result that must never be cached.

    A vector with NaN or infinite entries is a failed call, not an answer: cached, it
    would look like a skipped input forever.
    """
    if operation == "embed":
        for value in values:
            if value is not None and not np.isfinite(np.asarray(value, dtype=np.float64)).all():
                raise ValueError("the encoder returned a vector with NaN or infinite entries")
    return values


def _warn_once(message):
    """Warn with PromptTruncatedWarning, pointing at the first frame outside this package."""
    frame, stacklevel = sys._getframe(0), 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == (
        _PACKAGE_DIR
    ):
        frame, stacklevel = frame.f_back, stacklevel + 1
    warnings.warn(message, PromptTruncatedWarning, stacklevel=stacklevel)


def _null():
    import contextlib

    return contextlib.nullcontext()


def _compute_chunk(backend, operation, payloads):
    """Compute one chunk with retries; isolate failing inputs of a failed chunk."""
    report = ChunkReport()
    loads_before = backend._runtime().loads
    try:
        if len(payloads) == 1:
            report.values = backend._compute_each(operation, payloads, report)
        else:
            report.values = _compute_whole_chunk(backend, operation, payloads, report)
    finally:
        report.models_loaded = backend._runtime().loads - loads_before
    return report


def _compute_whole_chunk(backend, operation, payloads, report):
    try:
        return backend._attempts(operation, payloads, report, attempts=1)
    except NOT_RETRIED:
        raise
    except Exception:
        return backend._compute_each(operation, payloads, report)


def _compute_chunk_in_worker(backend, operation, dispatch, payloads):
    """Entry point of joblib/dask workers: a model-less copy loads its own model.

    The worker also stores its results in the cache, so a caller killed while
    they are on their way back loses none of them.
    """
    thread_hint, dispatcher_pid = dispatch
    worker = backend._worker_copy(thread_hint, dispatcher_pid)
    report = _compute_chunk(worker, operation, payloads)
    _store_in_worker(worker, operation, payloads, report.values)
    return report


def _store_in_worker(worker, operation, payloads, values):
    """Best effort: the caller stores the same rows again and reports its own errors
    (a remote worker may not reach the caller's cache folder)."""
    try:
        cache = worker._cache()
        if cache is None:
            return
        identity = worker.identity(operation)
        cache.set_many({make_key(identity, operation, payload): value
                        for payload, value in zip(payloads, values, strict=True)
                        if value is not None})
        if cache is not worker.cache or worker._in_worker_process():
            cache.close()  # this chunk's own handle, not the caller's shared one
    except Exception:  # best effort, see the docstring
        pass


class TextGenerationMixin:
    """``generate``, ``choose``/``choose_many`` and ``score_options``/``score_options_many``."""

    def generate(self, prompts):
        """Complete each prompt.

        Parameters
        ----------
        prompts : list of str
            The prompts (an empty string is allowed).

        Returns
        -------
        texts : list of str
            One completion per prompt; ``None`` for a prompt whose call failed
            when ``on_error="skip"``.

        Examples
        --------
        >>> from skllmers.llm.testing import ScriptedLLM
        >>> ScriptedLLM(lambda prompt: prompt[::-1]).generate(["abc", ""])
        ['cba', '']
        """
        prompts = check_texts(prompts, "prompts")
        return self._run("generate", [{"prompt": prompt} for prompt in prompts])

    def choose(self, prompt, options):
        """Answer ``prompt`` with exactly one of ``options``.

        Parameters
        ----------
        prompt : str
        options : list of str
            Distinct, non-empty candidate answers.

        Returns
        -------
        answer : str or None
            One of ``options`` (never anything else); ``None`` if the call
            failed with ``on_error="skip"``.

        Examples
        --------
        >>> from skllmers.llm.testing import ScriptedLLM
        >>> ScriptedLLM().choose("A user who loves heist films", ["Heat", "a heist film"])
        'a heist film'
        """
        check_text(prompt, "prompt")
        return self.choose_many([prompt], [check_options(options)])[0]

    def choose_many(self, prompts, options_list):
        """Batched :meth:`choose`.

        Parameters
        ----------
        prompts : list of str
        options_list : list of str, or list of list of str
            One list of options shared by every prompt, or one list per prompt.

        Returns
        -------
        answers : list of str or None

        Examples
        --------
        >>> from skllmers.llm.testing import ScriptedLLM
        >>> ScriptedLLM().choose_many(["red apple", "green pear"], ["pear", "apple"])
        ['apple', 'pear']
        """
        prompts = check_texts(prompts, "prompts")
        options_list = check_options_list(prompts, options_list)
        payloads = [{"prompt": p, "options": o} for p, o in zip(prompts, options_list, strict=True)]
        return self._run("choose", payloads)

    def score_options(self, prompt, options):
        """Log-probability of each option as the continuation of ``prompt``.

        Parameters
        ----------
        prompt : str
        options : list of str

        Returns
        -------
        logprobs : ndarray of shape (n_options,), dtype float64
            Sum of the token log-probabilities of each option (all ``NaN`` if
            the call failed with ``on_error="skip"``).

        Examples
        --------
        >>> import numpy as np
        >>> from skllmers.llm.testing import ScriptedLLM
        >>> scores = ScriptedLLM().score_options("likes space", ["space", "cooking"])
        >>> int(np.argmax(scores)), bool(np.all(scores <= 0))
        (0, True)
        """
        check_text(prompt, "prompt")
        return self.score_options_many([prompt], [check_options(options)])[0]

    def score_options_many(self, prompts, options_list):
        """Batched :meth:`score_options`.

        Returns
        -------
        logprobs : list of ndarray
            One float64 array per prompt.

        Examples
        --------
        >>> from skllmers.llm.testing import ScriptedLLM
        >>> scores = ScriptedLLM().score_options_many(["a", "b"], [["x", "y"], ["z"]])
        >>> [s.shape for s in scores]
        [(2,), (1,)]
        """
        prompts = check_texts(prompts, "prompts")
        options_list = check_options_list(prompts, options_list)
        payloads = [{"prompt": p, "options": o} for p, o in zip(prompts, options_list, strict=True)]
        scores = self._run("score_options", payloads)
        return [
            np.full(len(options), np.nan) if score is None else np.asarray(score, dtype=np.float64)
            for score, options in zip(scores, options_list, strict=True)
        ]


class EmbeddingMixin:
    """``embed``: one vector per text."""

    def embed(self, texts):
        """Embed each text.

        Parameters
        ----------
        texts : list of str
            Texts to embed (an empty string is allowed).

        Returns
        -------
        embeddings : ndarray of shape (n_texts, dim), dtype float32
            L2-normalised rows when ``normalize=True``. A text whose call
            failed with ``on_error="skip"`` gets a row of ``NaN``.

        Examples
        --------
        >>> from skllmers.llm.testing import HashingEncoder
        >>> HashingEncoder(embed_dim=8).embed(["space opera", ""]).shape
        (2, 8)
        """
        texts = check_texts(texts, "texts")
        vectors = self._run("embed", [{"text": text} for text in texts])
        known = [vector for vector in vectors if vector is not None]
        dim = len(known[0]) if known else self._embedding_dimension()
        rows = [np.full(dim, np.nan, dtype=np.float32) if v is None else v for v in vectors]
        if not rows:
            return np.empty((0, dim), dtype=np.float32)
        return np.vstack(rows).astype(np.float32, copy=False)

    def _embedding_dimension(self):
        raise NotImplementedError


def l2_normalize(matrix):
    """Rows scaled to unit length (zero rows stay zero)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def callable_name(function):
    """Stable text naming a callable (for identities), or the value itself."""
    if function is None or isinstance(function, str):
        return function
    module = getattr(function, "__module__", "")
    name = getattr(function, "__qualname__", type(function).__qualname__)
    return f"{module}.{name}"
