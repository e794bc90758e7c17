"""llama.cpp backend (through llama-cpp-python) over a local or downloaded GGUF file."""

import hashlib
import numbers
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ._base import (
    BaseBackend,
    EmbeddingMixin,
    TextGenerationMixin,
    callable_name,
    l2_normalize,
    operation_params,
)
from ._batched import BatchedDecoder, DecodeRequest
from ._errors import ModelLoadError
from ._grammar import choice_grammar
from ._model_files import file_fingerprint, gguf_metadata
from ._truncation import fit_prompt_tokens
from ._validation import check_texts

DEFAULT_MAX_CONTEXT = 4096
_POOLING_NAMES = ("mean", "cls", "last", "model")
_ROLES = ("generate", "score", "embed", "batch", "vocab")
_BATCHED_OPERATIONS = ("generate", "choose")
_MAX_PARALLEL = 256


def _pooling_constant(pooling):
    import llama_cpp

    constants = {
        "mean": llama_cpp.LLAMA_POOLING_TYPE_MEAN,
        "cls": llama_cpp.LLAMA_POOLING_TYPE_CLS,
        "last": llama_cpp.LLAMA_POOLING_TYPE_LAST,
        "model": llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED,
    }
    return constants[pooling]


@lru_cache(maxsize=64)
def _grammar_for(options):
    import llama_cpp

    return llama_cpp.LlamaGrammar.from_string(choice_grammar(list(options)), verbose=False)


@lru_cache(maxsize=64)
def _grammar_text_for(options):
    return choice_grammar(list(options))


def _choice_budget(options):
    """Tokens kept for a constrained answer: under a grammar a token may carry one byte."""
    return max(len(option.encode("utf-8")) for option in options) + 1


def _log_softmax(logits):
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _common_prefix_length(first, second):
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


class LlamaCppLLM(TextGenerationMixin, EmbeddingMixin, BaseBackend):
    """A local LLM run by llama.cpp (llama-cpp-python) from a GGUF file.

    The model is loaded lazily on first use and is never pickled: a pickled
    or cloned backend (and a fitted pipeline holding one) carries only its
    parameters. Every call goes through the persistent :class:`LLMCache`, so a
    repeated run makes no model call at all (and loads no model).

    Up to three llama.cpp contexts are created on demand over the same
    memory-mapped weights: one for generation and grammar-constrained choice,
    one with ``logits_all=True`` for :meth:`score_options`, one in embedding
    mode for :meth:`embed`.

    Parameters
    ----------
    model_path : str or path-like, default=None
        Local GGUF file.
    repo_id : str, default=None
        Hugging Face Hub repository to download the GGUF file from (with
        ``filename``), through ``llama_cpp.Llama.from_pretrained``; used when
        ``model_path`` is None. Needs a connection unless already downloaded.
    filename : str, default=None
        File name (or glob pattern) of the GGUF file in ``repo_id``.
    n_ctx : int, default=None
        Context window in tokens; ``None`` uses the model's training context
        capped at 4096. Longer prompts are shortened (see ``truncation``).
    n_threads : int, default=None
        CPU threads; ``None`` lets llama.cpp decide (divided among workers
        when ``n_jobs > 1``).
    n_gpu_layers : int, default=-1
        Layers offloaded to the GPU; -1 offloads all of them. Ignored by a
        CPU-only build of llama-cpp-python.
    n_batch : int, default=512
        Tokens evaluated per llama.cpp batch.
    n_parallel : int, default=1
        Prompts of :meth:`generate` and :meth:`choose_many` decoded together:
        one llama.cpp batch carries the next token of up to ``n_parallel``
        sequences (each in its own stream of one KV cache, with its own
        sampler and grammar), and a finished sequence's slot takes the next
        prompt. The prompts' shared beginning (chat template, system prompt,
        instruction) is read once and copied to each sequence. It pays where
        the hardware has spare compute per weight read, as on a GPU; on CPU
        cores a token decoded alone is already compute-bound, and a batch
        gains only what llama.cpp's batched matrix kernels gain (measured on
        2 busy cores, ``benchmarks/bench_llm.py --batched``, Qwen2.5-1.5B
        Q4_K_M: 1.4x raw llama-cpp-python at 8 sequences, 1.7x at 16; at most
        2-3x even in theory, see ``benchmarks/results/llm_batched_*.md``).
        Greedy answers are those of ``n_parallel=1`` except at floating-point
        near-ties, where batched matrix kernels may round differently and the
        answer continues with another token; the cache does not tell them
        apart. Memory: one KV stream per sequence and one for the shared
        prefix, sized to the longest prompt of a call plus ``max_tokens``.
    temperature : float, default=0.0
        Sampling temperature; 0 is greedy (deterministic).
    max_tokens : int, default=128
        Most tokens generated per prompt by :meth:`generate`.
    seed : int, default=0
        Sampling seed.
    chat_format : "auto", None or str, default="auto"
        How a prompt reaches the model. ``"auto"`` wraps each prompt as a
        user message in the model's own chat template (the GGUF file's
        ``tokenizer.chat_template``, which every instruct model carries); a
        GGUF file without one (a base model, the tiny test model) gets raw
        completions under ``"auto"``, and ``identity()`` then records no
        template. ``None`` always sends raw completions, template or not.
        Any other string is used as a Jinja chat template (``messages``,
        ``bos_token``, ``eos_token``, ``add_generation_prompt`` are
        available to it).
    system_prompt : str, default=None
        System message placed before each prompt: as a system message in
        chat mode, followed by a blank line in raw completion.
    truncation : "middle" or callable, default="middle"
        What happens to a prompt longer than the room left in the context:
        ``"middle"`` keeps its first quarter (the instruction) and its most
        recent part (a history listed oldest first keeps its newest items)
        and warns with :class:`PromptTruncatedWarning` (once per call, with the
        number of prompts shortened). A callable gets
        ``(prompt, max_tokens, count_tokens)`` and returns a shorter prompt.
        Texts to embed keep their beginning.
    pooling : {"mean", "cls", "last", "model"}, default="mean"
        How :meth:`embed` pools token vectors; ``"model"`` uses the GGUF
        file's own pooling.
    normalize : bool, default=True
        L2-normalise embeddings.
    cache : bool, str, path-like or LLMCache, default=True
        ``True`` uses the shared cache in :func:`default_cache_dir`, a path a
        cache in that folder, ``None``/``False`` no cache.
    n_jobs : int, default=None
        Parallel workers (joblib semantics). Each worker loads its own copy of
        the model: budget its memory once per worker (CPU workers of one
        machine share the memory-mapped weights, GPU workers do not).
    backend : str, default=None
        joblib backend (``"loky"``, ``"threading"``, ``"dask"``...); ``None``
        uses the active ``joblib.parallel_config``.
    on_error : {"raise", "skip"}, default="raise"
        After ``max_retries`` retries, raise :class:`LLMCallError` or record
        the input as missing (``None``) and count it in :meth:`stats`.
    max_retries : int, default=2
        Retries of a failed call.
    verbose : int, default=1
        0: silent; 1: progress bars; 2: also llama.cpp's own log.

    See Also
    --------
    SentenceEncoder : sentence-transformers embeddings.
    make_tiny_llama_gguf : a tiny random model for tests.

    Examples
    --------
    >>> import tempfile
    >>> from skllmers.llm import LlamaCppLLM, make_tiny_llama_gguf
    >>> path = make_tiny_llama_gguf(tempfile.mkdtemp() + "/tiny.gguf")
    >>> llm = LlamaCppLLM(path, max_tokens=8, cache=None, verbose=0)
    >>> len(llm.generate(["Recommend a movie:"]))
    1
    >>> llm.choose("Pick one:", ["Alien", "Heat", "Up"]) in {"Alien", "Heat", "Up"}
    True
    >>> llm.score_options("Pick one:", ["Alien", "Heat"]).shape
    (2,)
    >>> llm.embed(["a user who likes sci-fi"]).shape
    (1, 64)
    """

    def __init__(
        self,
        model_path=None,
        *,
        repo_id=None,
        filename=None,
        n_ctx=None,
        n_threads=None,
        n_gpu_layers=-1,
        n_batch=512,
        n_parallel=1,
        temperature=0.0,
        max_tokens=128,
        seed=0,
        chat_format="auto",
        system_prompt=None,
        truncation="middle",
        pooling="mean",
        normalize=True,
        cache=True,
        n_jobs=None,
        backend=None,
        on_error="raise",
        max_retries=2,
        verbose=1,
    ):
        self.model_path = model_path
        self.repo_id = repo_id
        self.filename = filename
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_gpu_layers = n_gpu_layers
        self.n_batch = n_batch
        self.n_parallel = n_parallel
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.chat_format = chat_format
        self.system_prompt = system_prompt
        self.truncation = truncation
        self.pooling = pooling
        self.normalize = normalize
        self.cache = cache
        self.n_jobs = n_jobs
        self.backend = backend
        self.on_error = on_error
        self.max_retries = max_retries
        self.verbose = verbose

    # ------------------------------------------------------------ model file
    def _model_file(self):
        """Local path of the GGUF file (downloading it from the Hub if needed)."""
        if self.model_path is not None:
            path = Path(self.model_path).expanduser()
            if not path.is_file():
                raise FileNotFoundError(
                    f"GGUF model file not found: {str(path)!r}. Download a GGUF model "
                    "(e.g. `huggingface-cli download <repo_id> <file>.gguf`) and pass its "
                    "path, pass repo_id= and filename= to download it from the Hugging Face "
                    "Hub, or build a tiny test model with skllmers.llm.make_tiny_llama_gguf(path)."
                )
            return path
        if self.repo_id is None or self.filename is None:
            raise ValueError(
                "LlamaCppLLM needs a model: pass model_path='model.gguf', or both repo_id= "
                "and filename= to download one from the Hugging Face Hub."
            )
        return self._hub_file()

    def _hub_file(self):
        runtime = self._runtime()
        wanted = (self.repo_id, self.filename)
        known = getattr(runtime, "hub_file", None)
        if known is not None and known[0] == wanted:
            return known[1]
        path = _cached_hub_file(self.repo_id, self.filename) or _download_from_hub(*wanted)
        runtime.hub_file = (wanted, path)
        return path

    def _metadata(self):
        path = self._model_file()
        try:
            return gguf_metadata(path)
        except Exception as error:
            raise ModelLoadError(
                f"Cannot read {str(path)!r} as a GGUF model file ({type(error).__name__}: "
                f"{error}). Check that the file is complete and is a GGUF model "
                "(llama.cpp's format), not a safetensors/PyTorch checkpoint."
            ) from error

    def _context_size(self):
        if self.n_ctx is not None:
            return int(self.n_ctx)
        trained = self._metadata()["context_length"] or DEFAULT_MAX_CONTEXT
        return int(min(trained, DEFAULT_MAX_CONTEXT))

    def _embedding_context_size(self):
        trained = self._metadata()["context_length"] or DEFAULT_MAX_CONTEXT
        return int(min(self._context_size(), trained))

    def _embedding_dimension(self):
        return int(self._metadata()["embedding_length"])

    def _chat_template(self):
        """The Jinja chat template prompts are wrapped in, or None for raw completion."""
        if self.chat_format is None:
            return None
        if self.chat_format == "auto":
            return self._metadata()["chat_template"]  # None: a model without template
        if isinstance(self.chat_format, str):
            return self.chat_format
        raise TypeError(
            f"chat_format must be 'auto', None or a Jinja template string; got "
            f"{type(self.chat_format).__name__}."
        )

    def _check_run_params(self):
        super()._check_run_params()
        if self.truncation != "middle" and not callable(self.truncation):
            raise ValueError(f"truncation must be 'middle' or a callable; got {self.truncation!r}.")
        if self.pooling not in _POOLING_NAMES:
            raise ValueError(f"pooling must be one of {_POOLING_NAMES}; got {self.pooling!r}.")
        if self.max_tokens is None or int(self.max_tokens) < 1:
            raise ValueError(f"max_tokens must be a positive integer; got {self.max_tokens!r}.")
        if not (isinstance(self.temperature, numbers.Real) and self.temperature >= 0):
            # llama.cpp reads a negative temperature as "sample the raw distribution"
            raise ValueError(f"temperature must be a number >= 0 (0 is greedy); got "
                             f"{self.temperature!r}.")
        if isinstance(self.n_parallel, bool) or not isinstance(self.n_parallel, numbers.Integral):
            raise TypeError(f"n_parallel must be an int >= 1; got {self.n_parallel!r}.")
        if not 1 <= self.n_parallel <= _MAX_PARALLEL:
            raise ValueError(
                f"n_parallel must be between 1 and {_MAX_PARALLEL} (llama.cpp's most "
                f"sequences); got {self.n_parallel!r}."
            )

    # -------------------------------------------------------------- identity
    def _model_identity(self):
        return file_fingerprint(self._model_file())

    def _output_params(self, operation):
        template = self._chat_template()
        prompt_params = {
            "n_ctx": self._context_size(),
            "chat_template_sha256": None
            if template is None
            else hashlib.sha256(template.encode("utf-8")).hexdigest(),
            "system_prompt": self.system_prompt,
            "truncation": callable_name(self.truncation),
        }
        by_operation = {
            "generate": {
                **prompt_params,
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "seed": self.seed,
            },
            "choose": {**prompt_params, "temperature": self.temperature, "seed": self.seed},
            "score_options": prompt_params,
            "embed": {
                "n_ctx": self._embedding_context_size(),
                "pooling": self.pooling,
                "normalize": bool(self.normalize),
            },
        }
        return operation_params(by_operation, operation)

    # --------------------------------------------------------------- loading
    def _load_signature(self, role):
        path = self._model_file()
        signature = {
            "file": (str(path), file_fingerprint(path)["mtime_ns"]),  # a replaced file reloads
            "n_ctx": self.n_ctx,
            "n_threads": self._threads(),
            "n_gpu_layers": self.n_gpu_layers,
            "n_batch": self.n_batch,
            "seed": self.seed,
            "verbose": self.verbose,
        }
        if role == "embed":
            signature["pooling"] = self.pooling
        if role == "batch":
            signature["n_parallel"] = self.n_parallel
        return tuple(sorted((key, repr(value)) for key, value in signature.items()))

    def _threads(self):
        if self.n_threads is not None:
            return self.n_threads
        return self._runtime().thread_hint

    def _load_model(self, role):
        import llama_cpp

        if role not in _ROLES:
            raise ValueError(f"Unknown model role {role!r}.")
        if role == "batch":
            return BatchedDecoder(self._model("generate"), self.n_parallel, self.n_batch)
        if role == "vocab":
            return self._load_vocabulary()
        threads = self._threads()
        options = {
            "n_gpu_layers": self.n_gpu_layers,
            "n_threads": threads,
            "n_threads_batch": threads,
            "seed": self.seed,
            "verbose": self.verbose >= 2,
        }
        if role == "embed":
            n_ctx = self._embedding_context_size()
            options.update(
                n_ctx=n_ctx,
                n_batch=n_ctx,
                n_ubatch=n_ctx,
                embedding=True,
                pooling_type=_pooling_constant(self.pooling),
            )
        else:
            options.update(
                n_ctx=self._context_size(), n_batch=self.n_batch, logits_all=role == "score"
            )
        path = self._model_file()
        try:
            return llama_cpp.Llama(model_path=str(path), **options)
        except Exception as error:
            raise ModelLoadError(
                f"llama.cpp could not load {str(path)!r} ({type(error).__name__}: {error}). "
                "Check that it is a complete GGUF file of an architecture this "
                "llama-cpp-python version supports; on a GPU, try a smaller n_gpu_layers "
                "or n_ctx."
            ) from error

    def _load_vocabulary(self):
        import llama_cpp

        path = self._model_file()
        try:
            return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=self.verbose >= 2)
        except Exception as error:
            raise ModelLoadError(
                f"llama.cpp could not read the vocabulary of {str(path)!r} "
                f"({type(error).__name__}: {error})."
            ) from error

    def count_tokens(self, texts, *, as_prompt=True):
        """Number of tokens of each text, without running the model.

        Only the vocabulary is read (or the generation model's, if already
        loaded). Used by :class:`DryRunLLM` to count what a fit would send.

        Parameters
        ----------
        texts : list of str
        as_prompt : bool, default=True
            Count each text as a prompt reaches the model: wrapped in the
            chat template (see ``chat_format``), with the system prompt and
            the BOS token, before any truncation. ``False`` counts the bare
            text (e.g. an option's continuation tokens).

        Returns
        -------
        counts : list of int

        Examples
        --------
        >>> import tempfile
        >>> from skllmers.llm import LlamaCppLLM, make_tiny_llama_gguf
        >>> path = make_tiny_llama_gguf(tempfile.mkdtemp() + "/tiny.gguf")
        >>> llm = LlamaCppLLM(path, cache=None, verbose=0)
        >>> llm.count_tokens(["ab", ""], as_prompt=False)
        [2, 0]
        >>> llm.stats()["calls"]
        0
        """
        texts = check_texts(texts, "texts")
        loaded = self._runtime().models.get("generate")
        vocabulary = loaded[1] if loaded is not None else self._model("vocab")
        if not as_prompt:
            return [len(vocabulary.tokenize(t.encode("utf-8"), add_bos=False)) for t in texts]
        counts = []
        for text in texts:
            wrapped, tokenize = self._tokenize_prompt(vocabulary, text)
            counts.append(len(tokenize(wrapped)))
        return counts

    # ------------------------------------------------------------- computing
    def _compute(self, operation, payloads, report):
        compute_one = {
            "generate": self._generate_one,
            "choose": self._choose_one,
            "score_options": self._score_one,
        }
        if operation == "embed":
            return self._embed_batch([payload["text"] for payload in payloads], report)
        if self.n_parallel > 1 and operation in _BATCHED_OPERATIONS:
            return self._decode_together(operation, payloads, report)
        return [compute_one[operation](payload, report) for payload in payloads]

    def _prompt_text(self, llm, prompt):
        """The prompt as the model sees it, and whether special tokens are parsed."""
        template = self._chat_template()
        if template is None:
            if self.system_prompt is not None:
                prompt = f"{self.system_prompt}\n\n{prompt}"
            return prompt, False
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        messages = [{"role": "user", "content": prompt}]
        if self.system_prompt is not None:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=_token_text(llm, llm.token_eos()),
            bos_token=_token_text(llm, llm.token_bos()),
        )
        return formatter(messages=messages).prompt, True

    def _tokenize_prompt(self, llm, prompt):
        text, special = self._prompt_text(llm, prompt)
        bos_text = _token_text(llm, llm.token_bos())
        add_bos = not (special and bos_text and text.startswith(bos_text))

        def tokenize(value):
            return llm.tokenize(value.encode("utf-8"), add_bos=add_bos, special=special)

        return text, tokenize

    def _fit(self, llm, prompt, reserved, report, remedy="lower max_tokens"):
        """Prompt tokens that leave ``reserved`` tokens free in the context."""
        text, tokenize = self._tokenize_prompt(llm, prompt)
        room = _context_limit(llm) - reserved
        if room < 1:
            raise ValueError(
                f"n_ctx={_context_limit(llm)} leaves no room for the prompt once {reserved} "
                f"tokens are kept for the answer; raise n_ctx or {remedy}."
            )
        tokens, truncated = fit_prompt_tokens(text, tokenize(text), room, self.truncation, tokenize)
        _count_truncated(report, truncated, _context_limit(llm))
        return tokens

    def _generate_one(self, payload, report):
        llm = self._model("generate")
        tokens = self._fit(llm, payload["prompt"], self.max_tokens + 1, report)
        # Not llm.create_completion: its max_tokens is no hard limit. While the
        # text generated so far ends in an incomplete UTF-8 character it skips
        # the length check, so a model emitting byte tokens runs past
        # max_tokens, out of the room _fit kept, until llama_decode fails
        # ("failed to find a memory slot") once the context is full.
        answer = _sample_tokens(llm, tokens, self.max_tokens, self.temperature, self.seed)
        return llm.detokenize(answer, prev_tokens=tokens).decode("utf-8", errors="ignore")

    def _choose_one(self, payload, report):
        llm = self._model("generate")
        options = payload["options"]
        answer_budget = _choice_budget(options)
        tokens = self._fit(
            llm, payload["prompt"], answer_budget + 1, report, "shorten the longest option"
        )
        answer_tokens = _sample_tokens(
            llm, tokens, answer_budget, self.temperature, self.seed, _grammar_for(tuple(options))
        )
        answer = _grammar_text(llm.detokenize(answer_tokens, prev_tokens=tokens))
        return _as_option(answer, options)

    def _decode_together(self, operation, payloads, report):
        """Answers of ``generate`` or ``choose`` payloads, decoded ``n_parallel`` at a time."""
        llm = self._model("generate")
        prompts, requests = [], []
        for payload in payloads:
            if operation == "generate":
                budget, grammar = self.max_tokens, None
                tokens = self._fit(llm, payload["prompt"], budget + 1, report)
            else:
                budget = _choice_budget(payload["options"])
                grammar = _grammar_text_for(tuple(payload["options"]))
                tokens = self._fit(
                    llm, payload["prompt"], budget + 1, report, "shorten the longest option"
                )
            if not tokens:
                raise ValueError("The prompt has no tokens (a model without a BOS token).")
            prompts.append(tokens)
            requests.append(DecodeRequest(tokens, budget, grammar))
        answers = self._model("batch").generate(requests, self.temperature, self.seed)
        if operation == "generate":
            return [
                llm.detokenize(answer, prev_tokens=tokens).decode("utf-8", errors="ignore")
                for answer, tokens in zip(answers, prompts, strict=True)
            ]
        return [
            _as_option(_grammar_text(llm.detokenize(answer, prev_tokens=tokens)), p["options"])
            for answer, tokens, p in zip(answers, prompts, payloads, strict=True)
        ]

    def _score_one(self, payload, report):
        llm = self._model("score")
        text, tokenize = self._tokenize_prompt(llm, payload["prompt"])
        context = tokenize(text)
        continuations = [
            _continuation(tokenize(text + option), context, llm, option)
            for option in payload["options"]
        ]
        longest = max(len(tokens) for tokens in continuations)
        room = _context_limit(llm) - longest
        if room < 1:
            raise ValueError(
                f"n_ctx={_context_limit(llm)} leaves no room for the prompt once the longest "
                f"option's {longest} tokens are scored; raise n_ctx or shorten the options."
            )
        context, truncated = fit_prompt_tokens(text, context, room, self.truncation, tokenize)
        _count_truncated(report, truncated, _context_limit(llm))
        if not context:
            context = [llm.token_bos()]
        return np.array([_continuation_logprob(llm, context, tokens) for tokens in continuations])

    def _truncation_message(self, operation, n_truncated, limit):
        if operation == "embed":
            where = "" if limit is None else f" ({limit} tokens)"
            return (
                f"{n_truncated} text(s) exceed the embedding context{where}; only their "
                "beginning is embedded. Raise n_ctx (up to the model's training context) "
                "to embed more of them."
            )
        policy = (
            f"your truncation callable {callable_name(self.truncation)}"
            if callable(self.truncation)
            else "truncation='middle', keeping their first and most recent tokens"
        )
        window = "the context window" if limit is None else f"the {limit}-token context window"
        remedy = {
            "choose": "shorten the prompt or the longest option",
            "score_options": "shorten the prompt or the options",
        }.get(operation, "lower max_tokens, or shorten the prompt (e.g. fewer history items)")
        return (
            f"{type(self).__name__}.{operation}: {n_truncated} prompt(s) did not fit {window} "
            f"and were shortened by the truncation policy ({policy}). Raise n_ctx, or {remedy}."
        )

    def _chunk_size(self, operation, n_items, in_process):
        if operation == "embed" and in_process:
            return 16  # embeddings are cheap: save them to the cache 16 at a time
        size = super()._chunk_size(operation, n_items, in_process)
        if self.n_parallel > 1 and operation in _BATCHED_OPERATIONS:
            # Whole batches; in process a few of them, so that the slots of
            # finished sequences are refilled before the cache is written.
            return 4 * self.n_parallel if in_process else max(size, self.n_parallel)
        return size

    def _embedding_group_tokens(self, llm):
        """Most tokens embedded per llama.cpp decode.

        llama.cpp attends over every token of a decode, so on a CPU one text
        per decode is fastest (measured 2.4x faster than 512-token batches for
        all-MiniLM-L6-v2); a GPU gains from filling the batch.
        """
        import llama_cpp

        if self.n_gpu_layers != 0 and llama_cpp.llama_supports_gpu_offload():
            return llm.n_batch
        return 1

    def _embed_batch(self, texts, report):
        llm = self._model("embed")
        limit = llm.n_batch
        token_counts = [len(llm.tokenize(text.encode("utf-8"))) for text in texts]
        _count_truncated(report, sum(count > limit for count in token_counts), limit)
        vectors = np.zeros((len(texts), llm.n_embd()), dtype=np.float32)
        nonempty = [index for index, count in enumerate(token_counts) if count > 0]
        budget = self._embedding_group_tokens(llm)
        for group in _group_by_tokens(nonempty, token_counts, budget):
            embedded = llm.embed([texts[index] for index in group], normalize=False, truncate=True)
            vectors[group] = np.asarray(embedded, dtype=np.float32)
        if self.normalize:
            vectors = l2_normalize(vectors)
        return list(vectors)


def _count_truncated(report, n_truncated, limit):
    """Count shortened inputs; the call warns once with the total (BaseBackend._run)."""
    if n_truncated:
        report.truncated += int(n_truncated)
        report.truncation_limit = int(limit)


def _context_limit(llm):
    """Usable context: llama.cpp may round n_ctx up, llama-cpp-python's buffers do not."""
    return min(llm.n_ctx(), len(llm.input_ids))


def _group_by_tokens(indices, token_counts, budget):
    """Consecutive groups of texts holding at most ``budget`` tokens (at least one text)."""
    groups, current, total = [], [], 0
    for index in indices:
        if current and total + token_counts[index] > budget:
            groups.append(current)
            current, total = [], 0
        current.append(index)
        total += token_counts[index]
    if current:
        groups.append(current)
    return groups


def _token_text(llm, token_id):
    if token_id is None or token_id < 0:
        return ""
    return llm.detokenize([token_id], special=True).decode("utf-8", errors="ignore")


def _continuation(whole, context, llm, option):
    """Tokens of ``option`` after ``context`` (split as in lm-evaluation-harness)."""
    if whole[: len(context)] == context:
        return whole[len(context) :]
    return llm.tokenize(option.encode("utf-8"), add_bos=False)


def _continuation_logprob(llm, context, continuation):
    """Sum of log P(token | previous tokens) over ``continuation``.

    Reuses the evaluated prefix shared with the previous call (the options of
    one prompt share the prompt), then reads the logits kept by
    ``logits_all=True``.
    """
    if not continuation:
        return 0.0
    sequence = list(context) + list(continuation)
    keep = _common_prefix_length(llm.input_ids[: llm.n_tokens].tolist(), sequence)
    llm.n_tokens = keep
    if keep < len(sequence):
        llm.eval(sequence[keep:])
    start = len(context) - 1
    logprobs = _log_softmax(llm.scores[start : start + len(continuation)])
    return float(logprobs[np.arange(len(continuation)), continuation].sum())


def _sample_tokens(llm, prompt_tokens, max_tokens, temperature, seed, grammar=None):
    """At most ``max_tokens`` tokens sampled after the prompt, up to an end-of-generation token.

    Uses the sampler settings of ``Llama.create_completion``. The last token
    is never evaluated, so the context holds at most
    ``len(prompt_tokens) + max_tokens - 1`` tokens afterwards.
    """
    import llama_cpp

    vocab = getattr(getattr(llm, "_model", None), "vocab", None)

    def is_end(token):
        if vocab is not None:
            return bool(llama_cpp.llama_vocab_is_eog(vocab, token))
        return token == llm.token_eos()

    llm.set_seed(seed)
    answer = []
    for token in llm.generate(prompt_tokens, temp=temperature, grammar=grammar):
        if is_end(token):
            break
        answer.append(token)
        if len(answer) >= max_tokens:
            break
    return answer


def _grammar_text(data):
    """Decode bytes as llama.cpp's grammar reads them.

    The grammar decodes UTF-8 by the length of each lead byte without
    rejecting overlong forms, so a byte-level model can spell a character
    with more bytes than needed; Python's strict decoder would drop it.
    """
    characters, index = [], 0
    while index < len(data):
        lead = data[index]
        length = (1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4)[lead >> 4] or 1
        value = lead & (0x7F, 0x1F, 0x0F, 0x07)[length - 1]
        for continuation in data[index + 1 : index + length]:
            value = (value << 6) | (continuation & 0x3F)
        index += length
        if value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF:
            characters.append(chr(value))
    return "".join(characters)


def _as_option(answer, options):
    """The option the grammar-constrained answer spelled out.

    The grammar only admits the options, so a complete answer is one of
    them; an answer cut short (context exhausted) is a prefix of at least
    one, and the first such option is returned.
    """
    if answer in options:
        return answer
    if not answer:
        raise RuntimeError("The constrained answer is empty.")
    for option in options:
        if option.startswith(answer):
            return option
    raise RuntimeError(f"The constrained answer {answer!r} matches no option.")


def _cached_hub_file(repo_id, filename):
    """Path of an already downloaded Hub file, or None (never touches the network)."""
    if repo_id is None or filename is None or any(char in filename for char in "*?["):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(repo_id, filename)
    return Path(found) if isinstance(found, (str, os.PathLike)) else None


def _download_from_hub(repo_id, filename):
    """Download a GGUF file with ``llama_cpp.Llama.from_pretrained`` and return its path.

    Only the vocabulary is loaded here; the contexts are created later from
    the local file.
    """
    import llama_cpp

    try:
        probe = llama_cpp.Llama.from_pretrained(
            repo_id=repo_id, filename=filename, vocab_only=True, verbose=False
        )
    except Exception as error:
        raise ModelLoadError(
            f"Could not download {filename!r} from the Hugging Face Hub repository "
            f"{repo_id!r} ({type(error).__name__}: {error}). Check the connection and the "
            "names, or download the file yourself and pass model_path=."
        ) from error
    path = Path(probe.model_path)
    probe.close()
    return path
