"""Chunked execution of backend calls, in this process or through joblib.

With one job, chunks run in the calling process and the backend keeps its
model on itself. With more jobs, or any joblib backend (``"loky"``,
``"threading"``, ``"multiprocessing"``, ``"dask"``...), chunks travel to
workers as copies of the backend *without* the model (models never pickle);
each worker thread loads its own copy once and keeps it in
:data:`_WORKER_MODELS` for the next chunks. A model therefore costs its memory
once per worker (llama.cpp maps GGUF files, so CPU workers on one machine
share the weight pages; GPU workers each hold their own copy).
"""

import contextlib
import threading

import joblib

_WORKER_MODELS = threading.local()


def worker_models():
    """This thread's models, keyed by what loaded them (kept for the thread's life)."""
    if not hasattr(_WORKER_MODELS, "models"):
        _WORKER_MODELS.models = {}
    return _WORKER_MODELS.models


def clear_worker_models():
    """Forget the models loaded by worker copies in this thread."""
    worker_models().clear()


def runs_in_process(n_jobs, backend):
    """Whether work with these settings stays in the calling process.

    It does when the effective number of jobs is one under the active joblib
    configuration (``joblib.parallel_config``) and no backend is forced.
    """
    if backend is not None:
        return False
    return joblib.effective_n_jobs(n_jobs) == 1


def _backend_context(backend):
    if backend is None:
        return contextlib.nullcontext()
    return joblib.parallel_config(backend=backend)


def _indexed_call(function, index, chunk):
    return index, function(chunk)


def run_chunks(function, chunks, *, n_jobs, backend, in_process_function, on_done):
    """Apply a function to every chunk and report each result as it finishes.

    Parameters
    ----------
    function : callable
        Picklable ``chunk -> result`` run by joblib workers.
    chunks : list
        The work, split in pieces.
    n_jobs : int or None
        joblib's ``n_jobs``.
    backend : str or None
        joblib backend name; ``None`` keeps the active one.
    in_process_function : callable
        ``chunk -> result`` used when the work stays in this process.
    on_done : callable
        Called as ``on_done(index, result)`` as soon as each chunk finishes
        (in completion order).
    """
    if runs_in_process(n_jobs, backend):
        for index, chunk in enumerate(chunks):
            on_done(index, in_process_function(chunk))
        return
    with _backend_context(backend):
        # batch_size=1: joblib would group quick tasks, and a batch reports (and is
        # cached) only once all of it has finished.
        parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered", batch_size=1)
        tasks = (
            joblib.delayed(_indexed_call)(function, i, chunk) for i, chunk in enumerate(chunks)
        )
        for index, result in parallel(tasks):
            on_done(index, result)


def split_in_chunks(items, chunk_size):
    """Consecutive pieces of at most ``chunk_size`` items."""
    chunk_size = max(1, int(chunk_size))
    return [items[start : start + chunk_size] for start in range(0, len(items), chunk_size)]
